// Printing the graph IR in a form meant for people (`--emit=graph`).
#include <sstream>

#include "compiler/ir/graph.h"

namespace cnnc::ir {
namespace {

std::string window_attrs(const Window& w) {
    std::ostringstream s;
    s << "kernel=" << w.kernel_h << "x" << w.kernel_w << ", stride=" << w.stride_h << "x"
      << w.stride_w;
    if (w.dilation_h != 1 || w.dilation_w != 1)
        s << ", dilation=" << w.dilation_h << "x" << w.dilation_w;
    s << ", padding=" << padding_name(w.padding) << "(" << w.pads.top << "," << w.pads.bottom << ","
      << w.pads.left << "," << w.pads.right << ")";
    return s.str();
}

}  // namespace

std::string attrs_text(const Node& n) {
    std::ostringstream s;
    if (auto* c = std::get_if<Conv2dAttrs>(&n.attrs)) {
        s << "filters=" << c->filters << ", " << window_attrs(c->window);
        if (c->groups != 1) s << ", groups=" << c->groups;
        if (!c->bias) s << ", bias=false";
        if (c->output_padding_h || c->output_padding_w)
            s << ", output_padding=" << c->output_padding_h << "x" << c->output_padding_w;
    } else if (auto* p = std::get_if<PoolAttrs>(&n.attrs)) {
        s << window_attrs(p->window);
        if (n.op == Op::avg_pool && !p->count_include_pad) s << ", count_include_pad=false";
    } else if (auto* a = std::get_if<ActivationAttrs>(&n.attrs)) {
        s << "alpha=" << a->alpha;
    } else if (auto* r = std::get_if<ReshapeAttrs>(&n.attrs)) {
        s << "shape=" << to_string(r->shape);
    } else if (auto* z = std::get_if<PadAttrs>(&n.attrs)) {
        s << "pads=(" << z->pads.top << "," << z->pads.bottom << "," << z->pads.left << ","
          << z->pads.right << ")";
    } else if (auto* b = std::get_if<BatchNormAttrs>(&n.attrs)) {
        s << "epsilon=" << b->epsilon << ", momentum=" << b->momentum;
    } else if (auto* drop = std::get_if<DropoutAttrs>(&n.attrs)) {
        s << "rate=" << drop->rate;
    } else if (auto* l = std::get_if<LossAttrs>(&n.attrs)) {
        if (l->label_smoothing > 0) s << "label_smoothing=" << l->label_smoothing;
    } else if (auto* d = std::get_if<DenseAttrs>(&n.attrs)) {
        s << "units=" << d->units;
        if (!d->bias) s << ", bias=false";
    }
    return s.str();
}

std::string print(const Graph& g) {
    std::ostringstream s;
    s << "graph @" << g.name << " {\n";
    for (size_t i = 0; i < g.nodes.size(); ++i) {
        const Node& n = g.nodes[i];
        s << "  %" << i << " = " << op_name(n.op) << "(";
        for (size_t k = 0; k < n.inputs.size(); ++k) s << (k ? ", %" : "%") << n.inputs[k];
        for (int p : n.params) s << (n.inputs.empty() ? "" : ", ") << "@" << g.params[size_t(p)].name;
        s << ")";
        std::string a = attrs_text(n);
        if (!a.empty()) s << " {" << a << "}";
        s << " : " << to_string(n.shape) << "  // " << n.name << "\n";
    }
    s << "  output %" << g.logits;
    if (g.loss >= 0) s << ", loss %" << g.loss;
    s << "\n}\n";
    return s.str();
}

}  // namespace cnnc::ir
