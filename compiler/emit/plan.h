// Emission of the inference plan: the C source that calls a model's kernels in order.
#pragma once

#include <string>
#include <vector>

#include "compiler/ir/graph.h"
#include "compiler/passes/partition.h"

namespace cnnc::emit {

// <model>_plan.c: the plan's tables (runtime/plan.h) with the arena offsets of
// passes::plan_memory, and <model>_infer(images, parameters..., output) with its _argv and
// _metadata companions, the entry points Halide would have generated for a single pipeline.
std::string plan_source(const ir::Graph& graph, const passes::Partition& partition,
                        const std::string& target);

// <model>_plan<suffix>.c of an exported library's variant: the same tables as the exported
// `const cnnc_plan <model>_plan<suffix>`, calling kernels named lower::kernel_name + suffix.
std::string variant_plan_source(const ir::Graph& graph, const passes::Partition& partition,
                                const std::string& suffix);

// One row of a cnnc_plan_value table: per-image storage extents and the arena offset in floats
// per image (-1: a buffer the caller gives).
std::string plan_value_row(const Shape& shape, int64_t offset);

// One argument of a generated entry point as its halide_filter_metadata_t lists it.
struct MetadataArgument {
    std::string name;
    int kind = 1;  // halide_argument_kind_t: 0 scalar, 1 input buffer, 2 output buffer
    int dimensions = 0;
    std::string type = "halide_type_float";  // 32-bit lanes of this type code
};

// The static metadata table of `function` and its "<function>_metadata" accessor, as C.
std::string metadata_source(const std::string& function, const std::string& target,
                            const std::vector<MetadataArgument>& args);

// <model>_infer.h: declarations of those entry points.
std::string plan_header(const ir::Graph& graph);

}  // namespace cnnc::emit
