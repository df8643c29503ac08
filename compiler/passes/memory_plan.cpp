// First-fit placement of the inference values in one arena, from their live ranges.
#include "compiler/passes/memory_plan.h"

#include <algorithm>
#include <vector>

namespace cnnc::passes {

std::vector<int64_t> place_first_fit(const std::vector<LiveRange>& ranges, int64_t& arena_floats) {
    struct Placed {
        int64_t begin, end;
        const LiveRange* range;
    };
    std::vector<Placed> placed;
    std::vector<int64_t> offsets;
    arena_floats = 0;
    for (const LiveRange& r : ranges) {
        // Every offset a multiple of 16 floats per image, so that with any batch every buffer
        // starts 64-byte aligned: Halide 14 emits aligned AVX-512 stores (vmovaps) into an
        // output whose extents are all constant (a fixed-batch library) and whose index it
        // proves a multiple of the vector width, as if the host pointer were aligned too.
        const int64_t size = (r.size + 15) / 16 * 16;
        std::vector<Placed> overlapping;
        for (const Placed& q : placed)
            if (q.range->from <= r.to && r.from <= q.range->to) overlapping.push_back(q);
        std::sort(overlapping.begin(), overlapping.end(),
                  [](const Placed& a, const Placed& b) { return a.begin < b.begin; });
        int64_t offset = 0;
        for (const Placed& q : overlapping) {
            if (offset + size <= q.begin) break;
            offset = std::max(offset, q.end);
        }
        placed.push_back({offset, offset + size, &r});
        offsets.push_back(offset);
        arena_floats = std::max(arena_floats, offset + size);
    }
    return offsets;
}

MemoryPlan plan_memory(const ir::Graph& g, const Partition& p) {
    const int final_output = p.segments.back().output;
    std::map<int, size_t> written, last_read;
    for (size_t t = 0; t < p.segments.size(); ++t) {
        written[p.segments[t].output] = t;
        last_read[p.segments[t].output] = t;
        for (int i : p.segments[t].inputs) last_read[i] = t;
    }
    std::vector<LiveRange> ranges;
    std::vector<int> values;
    for (const Segment& s : p.segments) {
        if (s.output == final_output) continue;
        ranges.push_back({g.node(s.output).shape.elements(), written[s.output], last_read[s.output]});
        values.push_back(s.output);
    }
    MemoryPlan plan;
    const std::vector<int64_t> offsets = place_first_fit(ranges, plan.arena_floats);
    for (size_t k = 0; k < values.size(); ++k) plan.offset[values[k]] = offsets[k];
    return plan;
}

}  // namespace cnnc::passes
