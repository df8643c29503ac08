// Lowering: one function per op turns a graph node into a Halide Func (algorithm only, no schedule).
#pragma once

#include <Halide.h>

#include <optional>
#include <vector>

#include "compiler/ir/graph.h"

namespace cnnc::lower {

// Activations are Funcs of (c, x, y, n), channels innermost; flat activations are Funcs of (c, n).
// Conv weights are (co, kx, ky, ci), dense weights (o, i), biases (c): see ir::Param.

Halide::Func conv2d(const ir::Node& node, const Shape& in_shape, const Halide::Func& in,
                    const Halide::Func& weight, const std::optional<Halide::Func>& bias);
Halide::Func relu(const ir::Node& node, const Halide::Func& in);
Halide::Func max_pool(const ir::Node& node, const Shape& in_shape, const Halide::Func& in);
Halide::Func flatten(const ir::Node& node, const Shape& in_shape, const Halide::Func& in);
Halide::Func dense(const ir::Node& node, const Shape& in_shape, const Halide::Func& in,
                   const Halide::Func& weight, const std::optional<Halide::Func>& bias);

// Class probabilities (k, n) from class scores.
Halide::Func softmax(const Halide::Func& logits, int64_t classes);

// Mean softmax cross-entropy over `batch` samples: a zero-dimensional Func.
Halide::Func softmax_cross_entropy(const Halide::Func& logits, int64_t classes,
                                   const Halide::Func& labels, const Halide::Expr& batch);

// The Func of every node of the graph (the loss node, needing labels, is left undefined).
// `params` holds one Func per ir::Param, in graph order.
std::vector<Halide::Func> lower_graph(const ir::Graph& graph, const Halide::Func& input,
                                      const std::vector<Halide::Func>& params);

// Pure variables d0, d1, ... for a Func of `rank` dimensions.
std::vector<Halide::Var> dims_of(int rank);

// A Func wrapping a buffer parameter, so that autodiff can name its gradient.
Halide::Func wrap(const Halide::ImageParam& p, const std::string& name);

}  // namespace cnnc::lower
