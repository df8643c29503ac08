// Emission of a model's standalone C API: a plain C header and the wrapper that binds the weights.
#pragma once

#include <string>

#include "compiler/ir/graph.h"

namespace cnnc::emit {

// Writes <out_dir>/<model>.h (the public header, no Halide types) and <out_dir>/<model>_standalone.c
// (the wrapper around <model>_infer that reads the weights linked in as cnnc_<model>_weights).
void emit_c_api(const ir::Graph& graph, const std::string& out_dir);

// The symbol `export` defines over the weight blob: two preprocessing floats (mean, std), then every
// parameter in graph order.
std::string weights_symbol(const ir::Graph& graph);

}  // namespace cnnc::emit
