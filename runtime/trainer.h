// Training, evaluation and benchmarking of a model through its generated pipelines.
#pragma once

#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "runtime/augment.h"
#include "runtime/checkpoint.h"
#include "runtime/curves.h"
#include "runtime/idx.h"
#include "runtime/lr_schedule.h"
#include "runtime/model_state.h"
#include "runtime/optimizer.h"
#include "runtime/pipeline.h"
#include "runtime/preprocess.h"

namespace cnnc::runtime {

struct Pipelines {
    PipelineEntry infer;
    PipelineEntry train_step;
};

// The default schedule: the learning rate multiplied by 0.7 after every epoch.
inline constexpr const char* default_lr_schedule = "exponential:gamma=0.7";

struct TrainOptions {
    int epochs = 5;
    int batch = 64;
    OptimizerConfig optimizer;  // default: SGD with momentum 0.9, lr 0.02
    LrSchedule schedule = LrSchedule::parse(default_lr_schedule);  // rate per epoch from .lr
    int validation = 5000;  // training images held out to measure accuracy per epoch
    int64_t limit = 0;      // use at most this many training images (0: all); for quick runs
    uint64_t seed = 1;      // initialisation, split, shuffles, dropout, augmentation
    Normalisation normalisation = Normalisation::standardise;  // statistics from the training split
    AugmentOptions augment;                                    // applied to training images only
    int early_stopping = 0;  // patience in epochs on validation accuracy; 0: off
    double min_delta = 0;    // early stopping: improvement (accuracy fraction) that counts
    // Micro-batches a step's batch is split into, run side by side (runtime/micro_batches.h);
    // 0 chooses. train() resolves it, and checkpoints keep the number used.
    int micro_batches = 0;
    std::string checkpoint;  // written after every epoch; "" for none
    std::string history;     // after every epoch: <history>.csv and <history>.svg; "" for none
    bool verbose = true;
};

// The outputs of the generated training step, in its calling order.
struct StepOutputs {
    Tensor loss{std::vector<int64_t>{}};     // mean loss over the batch
    Tensor correct{std::vector<int64_t>{}};  // samples classified right
    std::vector<Tensor> grads;  // per learnable parameter, graph order
    std::vector<Tensor> state;  // per state parameter (running statistics), updated by the step
    explicit StepOutputs(const ir::Graph& graph);
};

// One generated training step (forward with batch statistics, loss, gradients) on the batch in
// `images` (c, x, y, n) with `labels`; `seed` draws the dropout masks. Throws on a pipeline error.
void call_train_step(const PipelineEntry& step, const ModelState& state, halide_buffer_t* images,
                     halide_buffer_t* labels, int32_t seed, StepOutputs& out);

struct TrainReport {
    double final_loss = 0;      // last epoch: mean training loss
    double train_accuracy = 0;  // last epoch: fraction of training images classified correctly
    // Of the weights train() leaves in the state (the best epoch's with early stopping, else the
    // last epoch's); NaN without a validation split.
    double validation_accuracy = 0;
    double validation_loss = 0;
    double images_per_second = 0;  // training steps of this call only
    double seconds = 0;            // this call's wall time
    int64_t images_seen = 0;       // this call
    int epochs_done = 0;           // in total, a resumed run's earlier epochs included
    int best_epoch = 0;            // 1-based epoch whose weights the state holds (0: none ran)
    bool stopped_early = false;
    int resumed_at = 0;  // epochs already done in the checkpoint resumed from
    int micro_batches = 1;  // per step, as TrainOptions::micro_batches resolved
    std::vector<EpochRecord> history;
};

// The options that decide a run's trajectory, keyed by their command-line names ("--lr", ...):
// kept in checkpoints (a resumed run must use the same) and in the weights file's metadata.
// Not included: --epochs (a resumed run may be given more) and output paths.
nlohmann::json train_options_json(const TrainOptions& o);
// Sets the fields named in `j` (keys as train_options_json writes them); throws
// std::invalid_argument naming the key for a malformed value.
void apply_train_options_json(TrainOptions& o, const nlohmann::json& j);

// "NAME=L1,L2" for --layer-decay; throws std::invalid_argument naming the option and value.
std::pair<std::string, std::pair<float, float>> parse_layer_decay(const std::string& text);

// Checks what only the model can tell: --freeze and --layer-decay name layers with learnable
// parameters, a validation split exists where early stopping or a plateau schedule needs one.
// Throws std::invalid_argument naming the option and the value.
void check_train_options(const ir::Graph& graph, const TrainOptions& o);

// Throws DataError when the data set's images are not the model's input size (IDX images are
// one-channel).
void check_data_fits(const ir::Graph& graph, const Dataset& data);

// Pixels 0..255 to normalised floats in the (c, x, y, n) layout, images order[first, first +
// count).
void fill_images(const IdxImages& images, const std::vector<int64_t>& order, int64_t first,
                 int64_t count, const Normaliser& normalise, Tensor& out);

// The statistics of the images `indices` of `images` (one channel: IDX images are grey).
ChannelStats measure_images(const IdxImages& images, const std::vector<int64_t>& indices);

// Trains `state` for options.epochs epochs (in total) on `data` less options.validation held-out
// images. Without `resume` the parameters start as they are in `state` (initialised, or loaded
// for transfer learning) and the input normalisation is measured on the training split; with it,
// parameters, normalisation, optimizer, schedule, early stopping and history continue from the
// checkpoint and the run ends with exactly the weights an uninterrupted run would have had.
TrainReport train(ModelState& state, const Pipelines& p, const Dataset& data,
                  const TrainOptions& options, const Checkpoint* resume = nullptr);

struct Evaluation {
    double accuracy = 0;  // fraction classified correctly (argmax of the probabilities)
    // Mean cross-entropy -log p[label] of the inference probabilities (each p clamped below at
    // FLT_MIN, so one confidently wrong image cannot make the mean infinite).
    double loss = 0;
};

// Of the images `indices`; NaN figures for no images.
Evaluation evaluate(const ModelState& state, const Pipelines& p, const Dataset& data,
                    const std::vector<int64_t>& indices, int batch = 256);

std::vector<int64_t> all_indices(int64_t count);

}  // namespace cnnc::runtime
