// Choosing and applying the schedules of whole pipelines (inference and training step).
#pragma once

#include <Halide.h>

#include <string>

#include "compiler/ir/graph.h"
#include "compiler/lower/inference.h"

namespace cnnc::schedules {

// The op family's template for one node's Func (element-wise ops are inlined into consumers).
void schedule_node(Halide::Func f, const ir::Node& node, const Halide::Target& target);

// Every stage of one inference kernel gets its op family's template for the target.
void schedule_kernel(lower::KernelPipeline& kernel, const ir::Graph& graph,
                     const passes::Segment& segment, const Halide::Target& target);

// Every kernel of the inference pipeline gets scheduled; the calls between them run in order.
void schedule_inference(lower::InferencePipeline& p, const ir::Graph& graph,
                        const Halide::Target& target);

// Schedules every stage reachable from `outputs` (a training kernel, or the whole-graph step)
// with the default training template (schedules/cpu/training.cpp); returns a description of the
// choices, for --emit=schedule.
// With the graph, convolution weights are also given a transposed copy for backward-data.
std::string schedule_training_stages(const std::vector<Halide::Func>& outputs,
                                     const Halide::Target& target,
                                     const ir::Graph* graph = nullptr);

}  // namespace cnnc::schedules
