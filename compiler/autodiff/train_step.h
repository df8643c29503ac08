// The training step: forward, loss, gradients from Halide's propagate_adjoints, and the SGD update.
#pragma once

#include <Halide.h>

#include <vector>

#include "compiler/ir/graph.h"

namespace cnnc::autodiff {

struct TrainStep {
    Halide::ImageParam images;  // (c, x, y, n)
    Halide::ImageParam labels;  // (n), int32
    Halide::Param<float> learning_rate{"learning_rate"};
    Halide::Param<float> momentum{"momentum"};
    Halide::Param<float> weight_decay{"weight_decay"};
    std::vector<Halide::ImageParam> params;
    std::vector<Halide::ImageParam> velocities;
    std::vector<Halide::Func> values;     // forward Funcs of every node
    Halide::Func loss;                    // zero-dimensional mean loss
    std::vector<Halide::Func> gradients;  // d loss / d param, generated
    std::vector<Halide::Func> new_params;
    std::vector<Halide::Func> new_velocities;

    // Inputs in calling order: images, labels, hyper-parameters, parameters, velocities.
    std::vector<Halide::Argument> arguments() const;
    // Outputs in calling order: loss, new parameters, new velocities.
    std::vector<Halide::Func> outputs() const;
};

// Requires a graph with a loss. The update is SGD with momentum, as torch.optim.SGD defines it:
// g += weight_decay * w; v = momentum * v + g; w -= learning_rate * v.
TrainStep build_train_step(const ir::Graph& graph);

}  // namespace cnnc::autodiff
