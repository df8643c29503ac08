// Memory plan pass (inference): where each value between kernels lives in one shared arena.
#pragma once

#include <cstdint>
#include <map>
#include <vector>

#include "compiler/passes/partition.h"

namespace cnnc::passes {

// Offsets and sizes count floats per image: with a batch of n, a value occupies
// [offset * n, (offset + size) * n) of an arena of arena_floats * n floats, so one plan serves
// every batch size. The model input and output live in the caller's buffers, not in the arena.
struct MemoryPlan {
    std::map<int, int64_t> offset;  // segment output node -> offset
    int64_t arena_floats = 0;
};

// A buffer of `size` floats per image, live from call `from` to call `to` (both included).
struct LiveRange {
    int64_t size = 0;
    size_t from = 0, to = 0;
};

// First-fit offsets (floats per image), in the order given: each range at the lowest offset that
// overlaps no range placed before it and live at the same time. `arena_floats` gets the size.
std::vector<int64_t> place_first_fit(const std::vector<LiveRange>& ranges, int64_t& arena_floats);

// Values are live from the kernel that writes them to the last kernel that reads them; each is
// placed at the lowest offset that overlaps no value live at the same time (first fit, in
// execution order).
MemoryPlan plan_memory(const ir::Graph& graph, const Partition& partition);

}  // namespace cnnc::passes
