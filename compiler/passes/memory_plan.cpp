// First-fit placement of the inference values in one arena, from their live ranges.
#include "compiler/passes/memory_plan.h"

#include <algorithm>
#include <vector>

namespace cnnc::passes {

MemoryPlan plan_memory(const ir::Graph& g, const Partition& p) {
    const int final_output = p.segments.back().output;
    std::map<int, size_t> written, last_read;
    for (size_t t = 0; t < p.segments.size(); ++t) {
        written[p.segments[t].output] = t;
        last_read[p.segments[t].output] = t;
        for (int i : p.segments[t].inputs) last_read[i] = t;
    }
    struct Placed {
        int64_t begin, end;
        size_t from, to;
    };
    std::vector<Placed> placed;
    MemoryPlan plan;
    for (const Segment& s : p.segments) {
        if (s.output == final_output) continue;
        const int64_t size = g.node(s.output).shape.elements();
        const size_t from = written[s.output], to = last_read[s.output];
        std::vector<Placed> overlapping;
        for (const Placed& q : placed)
            if (q.from <= to && from <= q.to) overlapping.push_back(q);
        std::sort(overlapping.begin(), overlapping.end(),
                  [](const Placed& a, const Placed& b) { return a.begin < b.begin; });
        int64_t offset = 0;
        for (const Placed& q : overlapping) {
            if (offset + size <= q.begin) break;
            offset = std::max(offset, q.end);
        }
        placed.push_back({offset, offset + size, from, to});
        plan.offset[s.output] = offset;
        plan.arena_floats = std::max(plan.arena_floats, offset + size);
    }
    return plan;
}

}  // namespace cnnc::passes
