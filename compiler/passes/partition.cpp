// Splitting the inference graph into kernels and finding the kernels that repeat.
#include "compiler/passes/partition.h"

#include <algorithm>
#include <map>
#include <set>
#include <sstream>

#include "compiler/passes/fold_batch_norm.h"

namespace cnnc::passes {
namespace {

struct Boundaries {
    const ir::Graph& g;
    bool training = false;
    std::set<int> folded_convs, folded_bns;
    std::set<int> fused_producers;  // convolutions computed inside their consumer's kernel
    std::map<int, int> epilogues;   // a convolution's value -> the activation written instead
    std::set<int> epilogue_ends;    // those activations
    std::vector<int> readers;       // per node: how many node inputs read its value

    // A value some kernel writes to memory (or the model input, which the caller gives). A
    // point-wise value read twice is written too: recomputing it in each reader would, along a
    // ResNet's identity shortcuts, recompute every earlier block's sum in every later block.
    bool materialised(int i) const {
        const ir::Node& n = g.node(i);
        if (fused_producers.count(i) || epilogues.count(i)) return false;
        if (n.op == Op::input || i == g.logits || folded_bns.count(i) || epilogue_ends.count(i))
            return true;
        if (folded_convs.count(i)) return false;
        // A training batch norm reduces over its whole input: inlined, it would recompute that
        // input once for its statistics and again for its output.
        if (training && n.op == Op::batch_norm) return true;
        return !is_pointwise(n.op) || readers[size_t(i)] > 1;
    }
};

// The nodes a segment computes: `output` and, through point-wise producers, back to the
// materialised values it reads.
void collect(const Boundaries& b, int i, bool is_output, Segment& s, std::set<int>& seen) {
    if (!seen.insert(i).second) return;
    if (!is_output && b.materialised(i)) {
        s.inputs.push_back(i);
        return;
    }
    s.nodes.push_back(i);
    const ir::Node& n = b.g.node(i);
    for (int k : n.inputs) collect(b, ir::value_source(b.g, n, k), false, s, seen);
}

// What the kernel computes, with the graph's node numbers and names left out.
std::string signature_of(const ir::Graph& g, const Segment& s) {
    std::map<int, std::string> local;
    for (size_t k = 0; k < s.inputs.size(); ++k)
        local[s.inputs[k]] = "in" + std::to_string(k) + to_string(g.node(s.inputs[k]).shape);
    std::ostringstream out;
    for (size_t j = 0; j < s.nodes.size(); ++j) {
        const ir::Node& n = g.node(s.nodes[j]);
        local[s.nodes[j]] = "v" + std::to_string(j);
        out << "v" << j << "=" << op_name(n.op) << "(";
        for (int k : n.inputs) out << local.at(ir::value_source(g, n, k)) << ",";
        out << ")" << ir::attrs_text(n) << to_string(n.shape);
        // Dropout salts its random stream with its node: two layers must not share a kernel.
        if (n.op == Op::dropout) out << "#" << s.nodes[j];
        out << ";";
    }
    out << "out=" << local.at(s.output) << (s.probabilities ? ",probabilities" : "");
    return out.str();
}

bool is_depthwise(const ir::Graph& g, int i) {
    const ir::Node& n = g.node(i);
    if (n.op != Op::conv2d) return false;
    const int groups = std::get<Conv2dAttrs>(n.attrs).groups;
    return groups > 1 && groups == n.shape.channels();
}

bool is_pointwise_conv(const ir::Node& n) {
    if (n.op != Op::conv2d) return false;
    const auto& a = std::get<Conv2dAttrs>(n.attrs);
    const Window& w = a.window;
    return a.groups == 1 && w.kernel_h == 1 && w.kernel_w == 1 && w.stride_h == 1 &&
           w.stride_w == 1 && !w.pads.any();
}

// The convolution whose value `consumer` reads through single-reader, single-input point-wise
// nodes (its batch norm, its activation) when the convolution has no other reader: the producer
// that can be computed inside the consumer's kernel. -1 if there is none.
int sole_conv_producer(const Boundaries& b, int consumer) {
    const ir::Graph& g = b.g;
    const ir::Node& c = g.node(consumer);
    if (c.inputs.size() != 1) return -1;
    int v = ir::value_source(g, c, c.inputs[0]);
    while (b.readers[size_t(v)] == 1 && v != g.logits) {
        const ir::Node& n = g.node(v);
        if (b.folded_bns.count(v)) return v;  // its convolution comes with it
        if (n.op == Op::conv2d) return b.folded_convs.count(v) ? -1 : v;
        if (!is_pointwise(n.op) || n.inputs.size() != 1) return -1;
        v = ir::value_source(g, n, n.inputs[0]);
    }
    return -1;
}

// The convolution a node's value `v` stands for: itself, or the convolution of a folded batch
// norm.
int conv_of(const Boundaries& b, int v) {
    return b.folded_bns.count(v) ? ir::value_source(b.g, b.g.node(v), b.g.node(v).inputs[0]) : v;
}

// Inference fuses a convolution into the kernel of its only consumer where that consumer is a
// pool (the convolution's rows are computed per block of the pool's rows, while in cache), or a
// pointwise convolution reading a depthwise one (MobileNet's blocks: each depthwise row is
// computed for the pointwise row that reads it). Whether the fused convolution is computed at
// the consumer's loops or once up front is the schedule's choice (schedules/).
std::set<int> fused_producers(const Boundaries& b) {
    std::set<int> out;
    for (int i = 0; i < int(b.g.nodes.size()); ++i) {
        const ir::Node& n = b.g.node(i);
        const bool pool = n.op == Op::max_pool || n.op == Op::avg_pool || n.op == Op::l2_pool;
        if (!pool && !is_pointwise_conv(n)) continue;
        const int producer = sole_conv_producer(b, i);
        if (producer < 0) continue;
        if (pool || is_depthwise(b.g, conv_of(b, producer))) out.insert(producer);
    }
    return out;
}

// Inference writes a convolution's activation instead of the convolution where the convolution's
// only reader is a chain of point-wise nodes of its shape (ReLU, a clamp, a residual sum), each
// read once: the activation then runs once per value, in the convolution's tile, where left to
// the readers a 1x1 convolution applied it in its inner loop to every input value it broadcast,
// once per block of output channels, and a sum was a kernel and a pass over memory of its own.
// A sum joins the chain of one of its inputs only (the first convolution to reach it); the
// other input is read as it is. Keys are the convolution's value (the convolution, or its
// folded batch norm), values the last node of the chain.
std::map<int, int> epilogues(const Boundaries& b) {
    const ir::Graph& g = b.g;
    std::vector<int> reader(g.nodes.size(), -1);
    for (int i = 0; i < int(g.nodes.size()); ++i)
        for (int k : g.node(i).inputs) reader[size_t(ir::value_source(g, g.node(i), k))] = i;
    std::map<int, int> out;
    std::set<int> sums;  // sums already in a convolution's chain
    for (int v = 0; v < int(g.nodes.size()); ++v) {
        const bool conv_value =
            g.node(v).op == Op::conv2d ? !b.folded_convs.count(v) : b.folded_bns.count(v) > 0;
        if (!conv_value || b.fused_producers.count(v)) continue;
        int end = v;
        while (end != g.logits && b.readers[size_t(end)] == 1) {
            const int next = reader[size_t(end)];
            const ir::Node& r = g.node(next);
            const bool unary = is_pointwise(r.op) && r.inputs.size() == 1;
            const bool sum = r.op == Op::add && r.inputs.size() == 2 && !sums.count(next);
            if (!(unary || sum) || r.shape != g.node(v).shape) break;
            if (sum) sums.insert(next);
            end = next;
        }
        if (end != v) out[v] = end;
    }
    return out;
}

Segment segment_for(const Boundaries& b, int output) {
    Segment s;
    s.output = output;
    s.probabilities = !b.training && output == b.g.logits && b.g.loss >= 0 &&
                      b.g.node(b.g.loss).op == Op::softmax_cross_entropy;
    std::set<int> seen;
    collect(b, output, true, s, seen);
    std::sort(s.nodes.begin(), s.nodes.end());
    for (int i : s.nodes) {
        if (i != output && b.fused_producers.count(i)) s.fused_producer = conv_of(b, i);
        auto e = b.epilogues.find(i);
        // With class probabilities the output is a softmax of the activation: no tile of its own.
        if (e != b.epilogues.end() && e->second == output && !s.probabilities)
            s.epilogue_of = conv_of(b, i);
    }
    for (int i : s.nodes)
        for (int p : b.g.node(i).params) s.params.push_back(p);
    s.signature = signature_of(b.g, s);
    return s;
}

Partition partition(const ir::Graph& g, bool training) {
    Boundaries b{g, training, {}, {}, {}, {}, {}, std::vector<int>(g.nodes.size(), 0)};
    std::vector<int> non_dense_readers(g.nodes.size(), 0);
    for (const ir::Node& n : g.nodes)
        for (int k : n.inputs) non_dense_readers[size_t(k)] += n.op != Op::dense;
    for (int i = 0; i < int(g.nodes.size()); ++i) {
        const ir::Node& n = g.node(i);
        // A flatten read only by dense layers is never computed (see ir::value_source).
        if (n.op == Op::flatten && non_dense_readers[size_t(i)] == 0) continue;
        for (int k : n.inputs) ++b.readers[size_t(ir::value_source(g, n, k))];
    }
    for (auto [conv, bn] : training ? std::map<int, int>{} : foldable_batch_norms(g)) {
        b.folded_convs.insert(conv);
        b.folded_bns.insert(bn);
    }
    if (!training) {
        b.fused_producers = fused_producers(b);
        b.epilogues = epilogues(b);
        for (auto [value, end] : b.epilogues) b.epilogue_ends.insert(end);
    }
    // From the output back to the model input: only values something reads get a kernel.
    std::map<int, Segment> by_output;
    std::vector<int> pending{g.logits};
    while (!pending.empty()) {
        int i = pending.back();
        pending.pop_back();
        if (by_output.count(i) || i == g.input) continue;
        Segment s = segment_for(b, i);
        pending.insert(pending.end(), s.inputs.begin(), s.inputs.end());
        by_output.emplace(i, std::move(s));
    }
    Partition p;
    std::map<std::string, int> kernel_of;
    for (auto& [output, s] : by_output) {  // node order is an execution order
        auto [it, fresh] = kernel_of.emplace(s.signature, int(p.kernels.size()));
        if (fresh) p.kernels.push_back(int(p.segments.size()));
        s.kernel = it->second;
        p.segments.push_back(std::move(s));
    }
    return p;
}

}  // namespace

Partition partition_inference(const ir::Graph& g) { return partition(g, false); }

Partition partition_training(const ir::Graph& g) { return partition(g, true); }

}  // namespace cnnc::passes
