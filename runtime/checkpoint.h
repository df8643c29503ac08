// Checkpoint: everything a training run needs to continue exactly where it stopped.
#pragma once

#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>
#include <utility>
#include <vector>

#include "compiler/ir/graph.h"
#include "runtime/curves.h"
#include "runtime/preprocess.h"
#include "runtime/tensor.h"

namespace cnnc::runtime {

// A checkpoint is a parameter file (.cnnp layout, runtime/param_file.h: checksummed, written
// through a temporary file and renamed) whose meta JSON holds {"checkpoint_version": 1, ...} and
// whose tensors are
//   param/<name>              every ir::Param (learnable and state), as ModelState::params
//   optimizer/<name>.state0   the optimizer's state of every learnable parameter
//   optimizer/<name>.state1   (OptimizerState::tensors())
//   best/<name>               with early stopping: every ir::Param at the best epoch so far
// Nothing random is left to save: the shuffle of epoch e is a function of (seed, e), dropout's
// seed of (seed, epoch, step) and augmentation's of (seed, epoch, sample), so a resumed run takes
// exactly the steps the uninterrupted run would have taken.
struct Checkpoint {
    int epochs_done = 0;         // completed epochs; the next epoch is this 0-based index
    nlohmann::json options;      // the run's options (train_options_json), checked on resume
    std::vector<Tensor> params;  // graph order
    InputNormalisation normalisation;
    int64_t optimizer_step = 0;
    std::vector<std::pair<std::string, Tensor>> optimizer_tensors;  // OptimizerState::tensors()
    nlohmann::json schedule;                                        // LrSchedule::state()
    nlohmann::json early_stopping;    // EarlyStopping::state(), null without early stopping
    std::vector<Tensor> best_params;  // with early stopping (graph order); empty otherwise
    std::vector<EpochRecord> history;
    int64_t images_seen = 0;
    double train_seconds = 0;  // summed over every run that contributed
};

// Writes atomically (a failed or interrupted save leaves the previous checkpoint as it was).
// Throws DataError naming the path.
void save_checkpoint(const std::string& path, const ir::Graph& graph, const Checkpoint& c);

// Reads a checkpoint of `graph`'s model. Throws DataError naming the path for everything
// load_params refuses, for a parameter file that is not a checkpoint, for another model's
// checkpoint, for missing or mis-shaped tensors (each one listed) and malformed metadata.
Checkpoint load_checkpoint(const std::string& path, const ir::Graph& graph);

}  // namespace cnnc::runtime
