// The inference pipeline of a graph: images and parameters in, class probabilities out.
#pragma once

#include <Halide.h>

#include <string>
#include <vector>

#include "compiler/ir/graph.h"

namespace cnnc::lower {

struct InferencePipeline {
    Halide::ImageParam images;               // (c, x, y, n)
    std::vector<Halide::ImageParam> params;  // one per ir::Param, in graph order
    std::vector<Halide::Func> values;        // the Func of every node
    std::vector<Halide::Func> precomputed;   // e.g. weights with batch norm folded in
    Halide::Func output;  // class probabilities (k, n) / (k, x, y, n), or the values for MSE

    // Inputs in calling order: images, then the parameters.
    std::vector<Halide::Argument> arguments() const;
};

// A C identifier for a parameter's buffer argument: "conv2d.weight" -> "conv2d_weight".
std::string argument_name(const std::string& param_name);

// ImageParams for the graph's parameters, with their extents declared and estimated.
std::vector<Halide::ImageParam> parameter_inputs(const ir::Graph& graph, const std::string& suffix);

// The images input, its per-sample extents fixed by the graph, batch free (estimated at 64).
Halide::ImageParam image_input(const ir::Graph& graph);

InferencePipeline build_inference(const ir::Graph& graph);

// Logical C,H,W (or F) as innermost-first storage extents: (c, x, y) or (f).
std::vector<int64_t> storage_extents(const Shape& s);

// Fixes the non-batch extents and dense strides of a buffer argument; the batch (the last
// dimension, if any) stays free, estimated at `batch_estimate`.
void declare_extents(Halide::OutputImageParam p, const std::vector<int64_t>& extents,
                     int64_t batch_estimate);

}  // namespace cnnc::lower
