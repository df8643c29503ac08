// Graph IR: the model as typed nodes over shaped values, with its learnable parameters listed.
#pragma once

#include <stdexcept>
#include <string>
#include <vector>

#include "dsl/model.h"

namespace cnnc::ir {

// A learnable tensor, e.g. "conv2d.weight". Extents are in storage order, innermost first.
struct Param {
    std::string name;
    std::string layer;
    std::string role;  // "weight" or "bias"
    Shape extents;
    int64_t fan_in = 1;
    int node = -1;
    Init init = Init::fan_in_uniform;
    bool learnable = true;  // false: state such as batch norm's running statistics

    std::vector<int64_t> storage_extents() const {
        return {extents.dims.begin(), extents.dims.begin() + extents.rank};
    }
};

struct Node {
    Op op = Op::input;
    std::string name;
    std::vector<int> inputs;  // producer node indices, always smaller than this node's
    Attrs attrs{};
    Shape shape{};             // per-sample output shape, set by shape inference
    std::vector<int> params;  // indices into Graph::params
};

struct Graph {
    std::string name;
    std::vector<Node> nodes;
    std::vector<Param> params;
    int input = -1;
    int logits = -1;  // class scores: the inference output (after softmax)
    int loss = -1;    // the training objective, -1 if the model has none

    const Node& node(int i) const { return nodes.at(size_t(i)); }
    const Shape& input_shape(const Node& n, int k = 0) const { return node(n.inputs.at(k)).shape; }
    int64_t parameter_count() const;
};

// A graph that breaks the IR's invariants; the message names the node.
class VerifyError : public std::runtime_error {
public:
    using std::runtime_error::runtime_error;
};

// Copies the DSL model into the IR and lists its parameters; shapes are left to infer_shapes().
Graph from_model(const Model& model);

// Checks structure and shapes; throws VerifyError naming the first offending node.
void verify(const Graph& graph);

// A readable listing, one node per line: "%3 = conv2d(%2) {...} : [6x28x28]".
std::string print(const Graph& graph);

// A node's attributes as print() shows them: "filters=6, kernel=5x5, ...".
std::string attrs_text(const Node& node);

// The node whose value input `k` of `n` reads when lowered. It is the input itself, except that a
// dense layer fed by a flatten reads the flatten's input (the image-shaped tensor) with an affine
// index: Halide 14's autodiff mishandles the div/mod indexing of a flatten.
int value_source(const Graph& graph, const Node& n, int k);

}  // namespace cnnc::ir
