// Model: the DSL's graph of layers, built by calling op functions on Tensor handles.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "dsl/name.h"
#include "dsl/ops.h"
#include "dsl/shape.h"
#include "dsl/shape_rules.h"

namespace cnnc {

// One layer. Shapes are inferred when the node is added, so errors surface at the call site.
struct Node {
    Op op = Op::input;
    Name name;
    std::vector<int> inputs;  // indices of producer nodes
    Attrs attrs{};
    Shape shape{};
};

class Model;

// A handle to a node's output; cheap to copy, valid while its Model lives.
struct Tensor {
    Model* model = nullptr;
    int node = -1;
    constexpr Shape shape() const;
};

class Model {
public:
    constexpr explicit Model(std::string_view name) : name_(name) {}
    Model(const Model&) = delete;  // Tensors point at their model
    Model& operator=(const Model&) = delete;
    constexpr Model(Model&&) = default;

    constexpr Tensor input(Shape shape, std::string_view name = "input") {
        if (!nodes_.empty()) detail::shape_fail(name, Op::input, "a model has one input");
        for (int i = 0; i < shape.rank; ++i)
            if (shape[i] <= 0)
                detail::shape_fail(name, Op::input, "extents must be positive, got " +
                                                        to_string(shape));
        nodes_.push_back(Node{Op::input, Name(name), {}, {}, shape});
        return Tensor{this, 0};
    }

    // Appends a node; infers (and checks) its shape from its inputs.
    constexpr Tensor add(Op op, std::vector<Tensor> inputs, Attrs attrs, std::string_view name) {
        Node n{op, unique_name(op, name), {}, attrs, {}};
        std::vector<Shape> in_shapes;
        for (const Tensor& t : inputs) {
            if (t.model != this)
                detail::shape_fail(n.name.view(), op, "input belongs to another model");
            n.inputs.push_back(t.node);
            in_shapes.push_back(nodes_[t.node].shape);
        }
        n.shape = infer_shape(op, n.attrs, in_shapes, n.name.view());
        nodes_.push_back(std::move(n));
        return Tensor{this, int(nodes_.size()) - 1};
    }

    constexpr std::string_view name() const { return name_.view(); }
    constexpr const std::vector<Node>& nodes() const { return nodes_; }
    constexpr const Node& node(int i) const { return nodes_.at(i); }
    constexpr const Node& last() const { return nodes_.back(); }

    // The class scores: the input of the loss (or the last node if no loss was added).
    constexpr const Node& logits() const {
        const Node& l = last();
        return is_loss(l.op) ? node(l.inputs[0]) : l;
    }
    constexpr Shape output_shape() const { return logits().shape; }

    constexpr int64_t parameter_count() const {
        int64_t total = 0;
        for (const Node& n : nodes_)
            if (!n.inputs.empty())
                for (const ParamShape& p : param_shapes(n.op, n.attrs, node(n.inputs[0]).shape))
                    total += p.extents.elements();
        return total;
    }

private:
    constexpr Name unique_name(Op op, std::string_view requested) const {
        Name base(requested.empty() ? op_name(op) : requested);
        if (!has_name(base.view())) return base;
        for (int i = 1;; ++i) {
            Name candidate = base;
            candidate.append("_").append(i);
            if (!has_name(candidate.view())) return candidate;
        }
    }
    constexpr bool has_name(std::string_view n) const {
        for (const Node& node : nodes_)
            if (node.name.view() == n) return true;
        return false;
    }

    Name name_;
    std::vector<Node> nodes_;
};

constexpr Shape Tensor::shape() const { return model->node(node).shape; }

}  // namespace cnnc
