// Choosing and applying the schedules of whole pipelines (inference and training step).
#pragma once

#include <Halide.h>

#include <string>

#include "compiler/autodiff/train_step.h"
#include "compiler/ir/graph.h"
#include "compiler/lower/inference.h"

namespace cnnc::schedules {

// The op family's template for one node's Func (element-wise ops are inlined into consumers).
void schedule_node(Halide::Func f, const ir::Node& node, const Halide::Target& target);

// Every stage of the inference pipeline gets its op family's template for the target.
void schedule_inference(lower::InferencePipeline& p, const ir::Graph& graph,
                        const Halide::Target& target);

// The training step (forward + generated backward + update) is scheduled by Halide's Li2018
// gradient autoscheduler; returns the schedule it chose, as source text, for --emit=schedule.
std::string schedule_train_step(autodiff::TrainStep& t, const ir::Graph& graph,
                                const Halide::Target& target);

}  // namespace cnnc::schedules
