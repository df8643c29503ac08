// Emission of the inference plan: the C source that calls a model's kernels in order.
#pragma once

#include <string>

#include "compiler/ir/graph.h"
#include "compiler/passes/partition.h"

namespace cnnc::emit {

// <model>_plan.c: the plan's tables (runtime/plan.h) with the arena offsets of
// passes::plan_memory, and <model>_infer(images, parameters..., output) with its _argv and
// _metadata companions, the entry points Halide would have generated for a single pipeline.
std::string plan_source(const ir::Graph& graph, const passes::Partition& partition,
                        const std::string& target);

// <model>_infer.h: declarations of those entry points.
std::string plan_header(const ir::Graph& graph);

}  // namespace cnnc::emit
