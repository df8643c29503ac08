// Transfer learning: initialising a model from another model's parameter file, by name and shape.
#pragma once

#include <string>
#include <vector>

#include "runtime/model_state.h"
#include "runtime/param_file.h"

namespace cnnc::runtime {

struct TransferReport {
    std::vector<std::string> loaded;  // parameter names copied from the file
    std::vector<std::string> fresh;   // "<name>: <why>" for each parameter left as initialised
    std::vector<std::string> unused;  // tensors of the file that this model has no use for
};

// Copies into `state` every parameter (learnable or state, e.g. batch-norm running statistics)
// for which `source` (read from `path`, made for any model) holds a tensor of the same name
// (layer.role) and the same extents; every other parameter keeps the value `state` already has
// (normally a fresh initialisation), and is listed with the reason: absent from the file, or its
// extents there. This is how a model with a replaced classifier head starts from a trained body.
// A training checkpoint serves as well: its parameters are used. Throws DataError naming the
// file when no parameter at all matches (surely the wrong file).
TransferReport init_from(ModelState& state, const ParamFile& source, const std::string& path);

}  // namespace cnnc::runtime
