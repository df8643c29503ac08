// A training step's batch split into micro-batches that run side by side on the pipeline threads.
#pragma once

#include <cstdint>
#include <vector>

#include "runtime/trainer.h"

namespace cnnc::runtime {

// The fewest images an automatic micro-batch gets: the training kernels vectorize over images,
// 16 float lanes with AVX-512, and a smaller part would leave lanes empty.
inline constexpr int64_t min_auto_micro_batch = 16;

// How many micro-batches a step of `batch` images is split into, for `requested` (0: choose).
// Chosen: one per pipeline thread, each of at least min_auto_micro_batch images, where every
// sample's gradient is independent of the others' (no batch norm, whose statistics span the
// batch) and the step runs on the CPU; else 1. Throws std::invalid_argument, naming
// --micro-batches and the value, for a request below 1 or above the batch, and for a split of a
// model with batch norm (naming the layer).
int micro_batches_for(const ir::Graph& g, const PipelineEntry& step, int requested, int batch);

// The generated training step over images [0, count) as `parts` micro-batches, each a call of the
// step on its own thread with the pipelines' own loops serial. The results are the whole batch's:
// loss and gradients are the micro-batches' weighted by their share of the images, and the
// correct counts add up. Micro-batch p > 0 draws its dropout masks from its own seed. One part
// is exactly call_train_step.
class MicroBatchStep {
public:
    MicroBatchStep(const ir::Graph& g, int parts);

    // `images` and `labels` hold the batch (their outermost extent), split into min(parts,
    // images) nearly equal micro-batches. Throws on a pipeline error, naming the micro-batch.
    void run(const PipelineEntry& step, const ModelState& state, halide_buffer_t* images,
             halide_buffer_t* labels, int32_t seed, StepOutputs& out);

private:
    int parts_;
    std::vector<StepOutputs> more_;  // the results of parts 1, 2, ...; part 0 writes `out`
};

}  // namespace cnnc::runtime
