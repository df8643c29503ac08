// Ordering the training step's kernel calls and the buffers between them.
#include "compiler/passes/train_plan.h"

#include <map>
#include <set>
#include <sstream>

#include "compiler/passes/memory_plan.h"

namespace cnnc::passes {
namespace {

int add_buffer(TrainPlan& p, const ir::Graph& g, int node, bool adjoint) {
    p.buffers.push_back({node, adjoint, g.node(node).shape});
    return int(p.buffers.size()) - 1;
}

// The backward kernel for a segment, shared with an earlier segment of the same shape.
int backward_kernel(TrainPlan& p, std::map<std::string, int>& known, int segment, int adjoints,
                    const std::vector<bool>& input_adjoint) {
    std::ostringstream key;
    key << p.partition.segments[size_t(segment)].signature << "|adjoints=" << adjoints << "|";
    for (bool b : input_adjoint) key << b;
    auto [it, fresh] = known.emplace(key.str(), int(p.backward_kernels.size()));
    if (fresh) p.backward_kernels.push_back({segment, adjoints, input_adjoint});
    return it->second;
}

// Offsets in one arena for every buffer but the model input, from the calls that name them.
void place_buffers(TrainPlan& p) {
    std::vector<LiveRange> ranges(p.buffers.size());
    std::vector<bool> named(p.buffers.size(), false);
    for (size_t t = 0; t < p.calls.size(); ++t) {
        const TrainCall& c = p.calls[t];
        for (const std::vector<int>* list : {&c.inputs, &c.adjoints, &c.outputs})
            for (int b : *list) {
                LiveRange& r = ranges[size_t(b)];
                if (!named[size_t(b)]) r.from = t;
                named[size_t(b)] = true;
                r.to = t;
            }
    }
    for (size_t b = 0; b < p.buffers.size(); ++b) ranges[b].size = p.buffers[b].shape.elements();
    std::vector<LiveRange> placed(ranges.begin() + 1, ranges.end());  // buffer 0: the images
    const std::vector<int64_t> offsets = place_first_fit(placed, p.arena_floats);
    for (size_t b = 1; b < p.buffers.size(); ++b) p.buffers[b].offset = offsets[b - 1];
}

// Values whose adjoint some gradient needs: the outputs of segments with learnable parameters,
// and of segments that read such a value. Others (e.g. a pool of the model input) get no
// backward call, and their readers do not write their adjoints.
std::set<int> values_needing_adjoints(const ir::Graph& g, const std::vector<Segment>& segs) {
    std::set<int> needed;
    for (const Segment& s : segs) {  // in execution order: inputs are decided first
        bool need = false;
        for (int p : s.params) need |= g.params[size_t(p)].learnable;
        for (int i : s.inputs) need |= needed.count(i) > 0;
        if (need) needed.insert(s.output);
    }
    return needed;
}

}  // namespace

TrainPlan plan_training(const ir::Graph& g) {
    if (g.loss < 0) throw std::invalid_argument("model '" + g.name + "' has no loss to train");
    TrainPlan p;
    p.partition = partition_training(g);
    const std::vector<Segment>& segs = p.partition.segments;
    std::map<int, int> value_of{{g.input, add_buffer(p, g, g.input, false)}};
    for (size_t s = 0; s < segs.size(); ++s) {
        value_of[segs[s].output] = add_buffer(p, g, segs[s].output, false);
        TrainCall call{TrainCall::Kind::forward, int(s), segs[s].kernel, {}, {}, {}};
        for (int i : segs[s].inputs) call.inputs.push_back(value_of.at(i));
        call.outputs.push_back(value_of[segs[s].output]);
        p.calls.push_back(call);
    }
    // Adjoint contributions per value node, filled by the calls that read it.
    std::map<int, std::vector<int>> contributions;
    const int scores = add_buffer(p, g, g.logits, true);
    contributions[g.logits].push_back(scores);
    p.calls.push_back({TrainCall::Kind::loss, -1, -1, {value_of.at(g.logits)}, {}, {scores}});
    std::map<std::string, int> known;
    const std::set<int> needed = values_needing_adjoints(g, segs);
    for (int s = int(segs.size()) - 1; s >= 0; --s) {
        const Segment& seg = segs[size_t(s)];
        if (!needed.count(seg.output)) continue;
        TrainCall call{TrainCall::Kind::backward, s, -1, {}, contributions.at(seg.output), {}};
        std::vector<bool> input_adjoint;
        for (int i : seg.inputs) {
            call.inputs.push_back(value_of.at(i));
            input_adjoint.push_back(needed.count(i) > 0);
            if (!needed.count(i)) continue;
            int b = add_buffer(p, g, i, true);
            contributions[i].push_back(b);
            call.outputs.push_back(b);
        }
        call.kernel = backward_kernel(p, known, s, int(call.adjoints.size()), input_adjoint);
        p.calls.push_back(call);
    }
    place_buffers(p);
    return p;
}

std::string print(const ir::Graph& g, const TrainPlan& p) {
    auto list = [&](const std::vector<int>& buffers) {
        std::ostringstream s;
        for (size_t k = 0; k < buffers.size(); ++k) {
            const TrainBuffer& b = p.buffers[size_t(buffers[k])];
            s << (k ? ", " : "") << "#" << buffers[k] << (b.adjoint ? " d " : " ")
              << g.node(b.node).name;
        }
        return s.str();
    };
    std::ostringstream out;
    for (const TrainCall& c : p.calls) {
        switch (c.kind) {
            case TrainCall::Kind::forward:
                out << "forward  f" << c.kernel << " "
                    << g.node(p.partition.segments[size_t(c.segment)].output).name;
                break;
            case TrainCall::Kind::loss: out << "loss     " << g.node(g.loss).name; break;
            case TrainCall::Kind::backward:
                out << "backward b" << c.kernel << " "
                    << g.node(p.partition.segments[size_t(c.segment)].output).name << " sums ("
                    << list(c.adjoints) << ")";
                break;
        }
        out << " reads (" << list(c.inputs) << ") writes (" << list(c.outputs) << ")\n";
    }
    return out.str();
}

}  // namespace cnnc::passes
