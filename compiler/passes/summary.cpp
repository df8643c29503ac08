// Computing and printing per-layer figures of a graph.
#include "compiler/passes/summary.h"

#include <algorithm>
#include <cstdio>
#include <map>

#include "compiler/passes/partition.h"

namespace cnnc::passes {
namespace {

int64_t macs_of(const ir::Graph& g, const ir::Node& n) {
    if (n.op == Op::conv2d) {
        const auto& a = std::get<Conv2dAttrs>(n.attrs);
        int64_t per_output = g.input_shape(n).channels() / a.groups * a.window.kernel_h *
                             a.window.kernel_w;
        return n.shape.elements() * per_output;
    }
    if (n.op == Op::transposed_conv2d) {
        // Every input pixel scatters a kernel-sized patch into each group's output channels.
        const auto& a = std::get<Conv2dAttrs>(n.attrs);
        return g.input_shape(n).elements() * (a.filters / a.groups) * a.window.kernel_h *
               a.window.kernel_w;
    }
    if (n.op == Op::dense) return n.shape.elements() * g.input_shape(n).elements();
    return 0;
}

std::string grouped(int64_t v) {
    std::string digits = std::to_string(v), out;
    for (size_t i = 0; i < digits.size(); ++i) {
        if (i && (digits.size() - i) % 3 == 0) out += ',';
        out += digits[i];
    }
    return out;
}

// Values are live from the kernel that writes them (the input: from the start) to the last kernel
// that reads them; the peak is the largest total over the kernel calls.
int64_t peak_activation_bytes(const ir::Graph& g) {
    const Partition p = partition_inference(g);
    std::map<int, size_t> last_read{{g.input, 0}};
    for (size_t t = 0; t < p.segments.size(); ++t) {
        last_read[p.segments[t].output] = t;
        for (int i : p.segments[t].inputs) last_read[i] = t;
    }
    std::map<int, size_t> first_live{{g.input, 0}};
    for (size_t t = 0; t < p.segments.size(); ++t) first_live[p.segments[t].output] = t;
    int64_t peak = 0;
    for (size_t t = 0; t < p.segments.size(); ++t) {
        int64_t live = 0;
        for (const auto& [node, first] : first_live)
            if (first <= t && t <= last_read[node]) live += g.node(node).shape.elements() * 4;
        peak = std::max(peak, live);
    }
    return peak;
}

}  // namespace

Summary summarize(const ir::Graph& g) {
    Summary s;
    for (const ir::Node& n : g.nodes) {
        LayerFigures f{n.name, std::string(op_name(n.op)), n.shape, 0, 0, macs_of(g, n)};
        for (int p : n.params) f.parameters += g.params[size_t(p)].extents.elements();
        if (!is_loss(n.op)) f.activation_bytes = n.shape.elements() * 4;
        s.parameters += f.parameters;
        s.macs += f.macs;
        s.activation_bytes += f.activation_bytes;
        s.layers.push_back(f);
    }
    s.peak_activation_bytes = peak_activation_bytes(g);
    return s;
}

std::string summary_table(const Summary& s) {
    std::string out;
    char line[200];
    std::snprintf(line, sizeof line, "%-16s %-22s %-14s %12s %12s %14s\n", "layer", "op",
                  "output", "parameters", "activations", "MACs");
    out += line;
    out += std::string(95, '-') + "\n";
    for (const LayerFigures& f : s.layers) {
        std::snprintf(line, sizeof line, "%-16s %-22s %-14s %12s %12s %14s\n", f.name.c_str(),
                      f.op.c_str(), to_string(f.shape).c_str(), grouped(f.parameters).c_str(),
                      grouped(f.activation_bytes).c_str(), grouped(f.macs).c_str());
        out += line;
    }
    out += std::string(95, '-') + "\n";
    std::snprintf(line, sizeof line, "%-16s %-22s %-14s %12s %12s %14s\n", "total", "", "",
                  grouped(s.parameters).c_str(), grouped(s.activation_bytes).c_str(),
                  grouped(s.macs).c_str());
    out += line;
    out += "(activations in bytes per image, float32; MACs per image)\n";
    out += "peak activation memory of inference: " + grouped(s.peak_activation_bytes) +
           " bytes per image (values live at once between kernels)\n";
    return out;
}

}  // namespace cnnc::passes
