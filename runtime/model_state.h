// ModelState: a model's parameters and input normalisation, as the runtime holds them.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "compiler/ir/graph.h"
#include "runtime/param_file.h"
#include "runtime/preprocess.h"
#include "runtime/tensor.h"

namespace cnnc::runtime {

struct ModelState {
    const ir::Graph* graph = nullptr;
    std::vector<Tensor> params;  // one per ir::Param (learnable and state), storage order
    // How pixels become the model's inputs; the statistics come from the training set and travel
    // with the weights (meta JSON key "input_normalisation"). Until training sets it: scale.
    InputNormalisation normalisation{Normalisation::scale, {}};

    // PyTorch's default initialisation: uniform in +-1/sqrt(fan_in) for convolution and dense
    // weights and biases, ones and zeros for batch normalisation.
    static ModelState initialised(const ir::Graph& graph, uint64_t seed);

    // `meta_json` (an object, or empty) gets "input_normalisation" added.
    ParamFile to_file(const std::string& meta_json) const;
    // Checks the file belongs to this graph (model name, tensor names and extents) and reads its
    // input normalisation. Files written before "input_normalisation" existed hold
    // "preprocessing": {"mean", "std"} (one channel, standardised), which is read as such. A
    // training checkpoint given here is refused with a message that says so.
    static ModelState from_file(const ir::Graph& graph, const ParamFile& file,
                                const std::string& path);

    // The parameters' buffers, as the pipelines take them.
    std::vector<halide_buffer_t*> raw_params() const;
};

std::vector<int64_t> storage_extents(const ir::Param& p);

// The number of channels of the model's input (what the normalisation must cover).
int input_channels(const ir::Graph& graph);

}  // namespace cnnc::runtime
