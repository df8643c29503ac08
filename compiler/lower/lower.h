// Lowering: one function per op turns a graph node into a Halide Func (algorithm only, no schedule).
#pragma once

#include <Halide.h>

#include <map>
#include <optional>
#include <vector>

#include "compiler/ir/graph.h"

namespace cnnc::lower {

// Activations are Funcs of (c, x, y, n), channels innermost; flat activations are Funcs of (c, n).
// Parameter layouts: see ir::Param / cnnc::ParamShape.

// What differs between the training step and inference.
struct Mode {
    bool training = false;
    Halide::Expr seed = 0;   // dropout's random stream, one value per training step
    Halide::Expr batch = 1;  // samples in the batch: batch norm's statistics count them
    // Batch norm in training: updated running statistics, keyed by parameter index.
    std::map<int, Halide::Func> updated_state;
    // Inference: convolution node -> batch norm node folded into it (passes::foldable_batch_norms).
    std::map<int, int> folded_batch_norms;
    // Per-call precomputations (a folded batch norm's scale and bias): computed once, up front.
    std::vector<Halide::Func> precomputed;
};

// Everything one op's lowering reads.
struct OpInputs {
    const ir::Graph& graph;
    const ir::Node& node;
    std::vector<Halide::Func> inputs;  // producer Funcs, in the node's input order
    std::vector<Shape> shapes;         // their per-sample shapes
    std::vector<Halide::Func> params;  // this node's parameters, in ParamShape order
    Mode& mode;
    // A convolution with an inference batch norm folded in: its sums times this, per output
    // channel, plus the folded bias (params[1]).
    std::optional<Halide::Func> output_scale = std::nullopt;

    const Halide::Func& in(size_t i = 0) const { return inputs.at(i); }
    const Shape& shape(size_t i = 0) const { return shapes.at(i); }
    const Halide::Func* bias() const { return params.size() > 1 ? &params[1] : nullptr; }
};

Halide::Func conv2d(const OpInputs& op);
Halide::Func transposed_conv2d(const OpInputs& op);
Halide::Func max_pool(const OpInputs& op);
Halide::Func avg_pool(const OpInputs& op);
Halide::Func l2_pool(const OpInputs& op);
Halide::Func global_avg_pool(const OpInputs& op);
Halide::Func global_max_pool(const OpInputs& op);
Halide::Func activation(const OpInputs& op);  // relu, leaky_relu, elu, sigmoid, tanh
Halide::Func softmax(const OpInputs& op);     // softmax and log_softmax, over channels
Halide::Func dense(const OpInputs& op);
Halide::Func flatten(const OpInputs& op);
Halide::Func reshape(const OpInputs& op);
Halide::Func add(const OpInputs& op);
Halide::Func concat(const OpInputs& op);
Halide::Func zero_pad(const OpInputs& op);
Halide::Func batch_norm(const OpInputs& op);
Halide::Func dropout(const OpInputs& op);

// An inference batch norm folded into the convolution before it: the convolution's sums times
// s = gamma / sqrt(var + eps), plus (b - m) s + beta, per output channel. Scaling the sums rather
// than the weights leaves the weights as they are: folding them cost a pass over every weight at
// every call (ResNet-50 batch 1, about 100 MB read and written: 47-49 ms with it, 34-36 without).
// `bn_params` are gamma, beta, mean, var.
struct FoldedBatchNorm {
    Halide::Func scale, bias;
};
FoldedBatchNorm fold_batch_norm(const ir::Node& conv, const ir::Node& bn,
                                const std::vector<Halide::Func>& conv_params,
                                const std::vector<Halide::Func>& bn_params);

// Class probabilities over channels, for a flat (k, n) or per-pixel (k, x, y, n) Func.
Halide::Func class_probabilities(const Halide::Func& logits, const Shape& shape);

// Mean softmax cross-entropy (labels: int32 (n), or (x, y, n) for per-pixel scores) or mean squared
// error (targets: float, the output's layout) over `batch` samples: a zero-dimensional Func.
Halide::Func loss(const ir::Node& loss_node, const Halide::Func& output, const Shape& shape,
                  const Halide::Func& labels, const Halide::Expr& batch);

// Lowers node `i` into values[i], reading its inputs' Funcs from `values` (already lowered, or
// given: a segment's inputs) and its parameters from `params` (indexed like Graph::params).
void lower_node(const ir::Graph& graph, int i, std::vector<Halide::Func>& values,
                const std::vector<Halide::Func>& params, Mode& mode);

// The Func of every node of the graph (the loss node is left undefined).
// `params` holds one Func per ir::Param, in graph order.
std::vector<Halide::Func> lower_graph(const ir::Graph& graph, const Halide::Func& input,
                                      const std::vector<Halide::Func>& params, Mode& mode);

// The name of a node's Func: the layer name with a suffix, so that no layer called e.g. "tanh"
// can collide with a math library symbol in the generated code.
inline std::string func_name(const ir::Node& node) { return node.name + "_out"; }

// The name of the Func a training kernel reads a node's value through: the images' is "input".
inline std::string value_func_name(const ir::Node& node) {
    return node.op == Op::input ? "input" : func_name(node);
}

// Pure variables d0, d1, ... for a Func of `rank` dimensions.
std::vector<Halide::Var> dims_of(int rank);

// A Func wrapping a buffer parameter, so that autodiff can name its gradient.
Halide::Func wrap(const Halide::ImageParam& p, const std::string& name);

// The args a Func of this per-sample shape takes: (c, x, y, n) or (c, n).
std::vector<Halide::Var> activation_vars(const Shape& shape);

// max() over a list, as a balanced tree: pure, so autodiff can differentiate it.
Halide::Expr max_of(std::vector<Halide::Expr> values);

}  // namespace cnnc::lower
