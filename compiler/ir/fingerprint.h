// The fingerprint of a model's weight layout, which exported weights files carry.
#pragma once

#include <cstdint>

#include "compiler/ir/graph.h"

namespace cnnc::ir {

// A hash of the model's name, input and output shapes and every parameter's name and storage
// extents: weights written for one layout are refused by a library built for another.
uint64_t weights_fingerprint(const Graph& graph);

}  // namespace cnnc::ir
