// Memory plan pass (inference): where each value between kernels lives in one shared arena.
#pragma once

#include <cstdint>
#include <map>

#include "compiler/passes/partition.h"

namespace cnnc::passes {

// Offsets and sizes count floats per image: with a batch of n, a value occupies
// [offset * n, (offset + size) * n) of an arena of arena_floats * n floats, so one plan serves
// every batch size. The model input and output live in the caller's buffers, not in the arena.
struct MemoryPlan {
    std::map<int, int64_t> offset;  // segment output node -> offset
    int64_t arena_floats = 0;
};

// Values are live from the kernel that writes them to the last kernel that reads them; each is
// placed at the lowest offset that overlaps no value live at the same time (first fit, in
// execution order).
MemoryPlan plan_memory(const ir::Graph& graph, const Partition& partition);

}  // namespace cnnc::passes
