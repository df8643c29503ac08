// Choosing and applying the schedules of whole pipelines (inference and training step).
#pragma once

#include <Halide.h>

#include <functional>
#include <string>

#include "compiler/ir/graph.h"
#include "compiler/lower/inference.h"
#include "schedules/records.h"

namespace cnnc::schedules {

// The template parameters of a node: tuned records, or a tuner's candidate; empty parameters
// (or no function at all) mean the templates' defaults.
using ParamsFor = std::function<ScheduleParams(const ir::Node&)>;

// The parameters the records hold for each node's layer (layer_key), defaults for the others.
ParamsFor params_from(const RecordSet& records, const ir::Graph& graph);

// The op family's template for one node's Func (element-wise ops are inlined into consumers).
void schedule_node(Halide::Func f, const ir::Node& node, const Halide::Target& target,
                   const ScheduleParams& params = {});

// Every stage of one inference kernel gets its op family's template for the target.
void schedule_kernel(lower::KernelPipeline& kernel, const ir::Graph& graph,
                     const passes::Segment& segment, const Halide::Target& target,
                     const ParamsFor& params = {});

// Every kernel of the inference pipeline gets scheduled; the calls between them run in order.
void schedule_inference(lower::InferencePipeline& p, const ir::Graph& graph,
                        const Halide::Target& target, const ParamsFor& params = {});

// Schedules every stage reachable from `outputs` (a training kernel, or the whole-graph step)
// with the training template (schedules/cpu/training.cpp; schedules/gpu/training.cpp for GPU
// targets) and, on the CPU, a training kernel's tuned parameters (records.h, training_key);
// returns a description of the choices, for --emit=schedule.
// With the graph, convolution weights are also given a transposed copy for backward-data.
std::string schedule_training_stages(const std::vector<Halide::Func>& outputs,
                                     const Halide::Target& target,
                                     const ir::Graph* graph = nullptr,
                                     const ScheduleParams& params = {});

// The parameter sets the tuner tries for a training kernel (schedules/cpu/training.cpp).
std::vector<ScheduleParams> training_candidates();

}  // namespace cnnc::schedules
