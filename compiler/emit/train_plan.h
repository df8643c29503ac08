// Emission of the training plan: the C source of <model>_train_step, which calls the step's
// kernels in passes::TrainPlan order.
#pragma once

#include <string>

#include "compiler/passes/train_plan.h"

namespace cnnc::emit {

// <model>_train_plan.c: the buffer table and <model>_train_step_argv(images, labels, seed,
// parameters..., loss, correct, gradients..., updated state...) with its _metadata, the entry
// points of the single pipeline the runtime calls (compiler/autodiff/train_step.h's order).
std::string train_plan_source(const ir::Graph& graph, const passes::TrainPlan& plan,
                              const std::string& target);

// <model>_train_step.h: declarations of those entry points.
std::string train_plan_header(const ir::Graph& graph);

}  // namespace cnnc::emit
