// Training, evaluation and benchmarking of a model through its generated pipelines.
#pragma once

#include <cstdint>
#include <string>

#include "runtime/idx.h"
#include "runtime/model_state.h"
#include "runtime/optimizer.h"
#include "runtime/pipeline.h"

namespace cnnc::runtime {

struct Pipelines {
    PipelineEntry infer;
    PipelineEntry train_step;
};

struct TrainOptions {
    int epochs = 5;
    int batch = 64;
    OptimizerConfig optimizer;  // default: SGD with momentum 0.9, lr 0.02
    float lr_decay = 0.7f;      // learning rate multiplied by this after every epoch
    int validation = 5000;   // training images held out to measure accuracy per epoch
    int64_t limit = 0;       // use at most this many training images (0: all); for quick runs
    uint64_t seed = 1;
    bool verbose = true;
};

struct TrainReport {
    double final_loss = 0;
    double train_accuracy = 0;
    double validation_accuracy = 0;
    double images_per_second = 0;
    double seconds = 0;
    int64_t images_seen = 0;
};

// Pixels 0..255 to standardised floats in the (c, x, y, n) layout, images [first, first + count).
void fill_images(const IdxImages& images, const std::vector<int64_t>& order, int64_t first,
                 int64_t count, const Preprocessing& pre, Tensor& out);

Preprocessing measure_preprocessing(const IdxImages& images);

TrainReport train(ModelState& state, const Pipelines& p, const Dataset& data,
                  const TrainOptions& options);

// Fraction of images classified correctly (argmax of the probabilities).
double evaluate(const ModelState& state, const Pipelines& p, const Dataset& data,
                const std::vector<int64_t>& indices, int batch = 256);

std::vector<int64_t> all_indices(int64_t count);

}  // namespace cnnc::runtime
