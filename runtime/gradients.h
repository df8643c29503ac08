// One training step's gradients on a given batch: the `gradients` subcommand, which lets another
// framework check the generated backward pass of a whole model.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "runtime/inference.h"
#include "runtime/param_file.h"

namespace cnnc::runtime {

// Reads raw little-endian int32 class labels for `images` samples of `per_image` labels each
// (1, or height x width for per-pixel classes, row-major). Throws DataError naming the file when
// its size differs (both sizes given) or a label is outside [0, classes) (its index given).
std::vector<int32_t> read_labels_file(const std::string& path, int64_t images, int64_t per_image,
                                      int64_t classes);

// Runs the generated training step once on `images` (as given: no input normalisation) with
// `labels`, updating nothing. Returns a parameter file with the model's tensor names: the
// gradient of the mean loss for each learnable tensor, and for each state tensor (batch norm's
// running statistics) the value the step would store; metadata holds "contents": "gradients",
// "loss", "batch" and "seed". Only for models trained with softmax cross-entropy.
ParamFile step_gradients(const ModelState& state, const PipelineEntry& train_step,
                         const NchwBatch& images, const std::vector<int32_t>& labels, int32_t seed);

}  // namespace cnnc::runtime
