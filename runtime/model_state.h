// ModelState: a model's parameters, optimizer state and preprocessing, as the runtime holds them.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "compiler/ir/graph.h"
#include "runtime/param_file.h"
#include "runtime/tensor.h"

namespace cnnc::runtime {

// Images are standardised as (pixel / 255 - mean) / std; the statistics come from the training
// set and travel with the weights.
struct Preprocessing {
    float mean = 0.0f;
    float std = 1.0f;
};

struct ModelState {
    const ir::Graph* graph = nullptr;
    std::vector<Tensor> params;  // one per ir::Param (learnable and state), storage order
    Preprocessing preprocessing;

    // PyTorch's default initialisation: uniform in +-1/sqrt(fan_in) for convolution and dense
    // weights and biases, ones and zeros for batch normalisation.
    static ModelState initialised(const ir::Graph& graph, uint64_t seed);

    ParamFile to_file(const std::string& meta_json) const;
    // Checks the file belongs to this graph (model name, tensor names and extents).
    static ModelState from_file(const ir::Graph& graph, const ParamFile& file,
                                const std::string& path);
};

std::vector<int64_t> storage_extents(const ir::Param& p);

}  // namespace cnnc::runtime
