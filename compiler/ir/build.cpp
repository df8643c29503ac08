// Building the graph IR from a DSL model.
#include "compiler/ir/graph.h"

namespace cnnc::ir {

int64_t Graph::parameter_count() const {
    int64_t total = 0;
    for (const Param& p : params) total += p.extents.elements();
    return total;
}

int value_source(const Graph& g, const Node& n, int k) {
    const Node& p = g.node(k);
    if (n.op == Op::dense && p.op == Op::flatten) return p.inputs.at(0);
    return k;
}

Graph from_model(const Model& model) {
    Graph g;
    g.name = std::string(model.name());
    for (const cnnc::Node& dn : model.nodes()) {
        Node n{dn.op, dn.name.str(), dn.inputs, dn.attrs, Shape{}, {}};
        if (n.op == Op::input) g.input = int(g.nodes.size());
        if (is_loss(n.op)) g.loss = int(g.nodes.size());
        if (!n.inputs.empty()) {
            // Parameter shapes depend on the input shape, which the DSL already checked.
            for (const ParamShape& ps : param_shapes(n.op, n.attrs, model.node(n.inputs[0]).shape)) {
                n.params.push_back(int(g.params.size()));
                g.params.push_back(Param{n.name + "." + std::string(ps.role), n.name,
                                         std::string(ps.role), ps.extents, ps.fan_in,
                                         int(g.nodes.size()), ps.init, ps.learnable});
            }
        }
        g.nodes.push_back(std::move(n));
    }
    if (!g.nodes.empty()) g.logits = g.loss >= 0 ? g.nodes[size_t(g.loss)].inputs.at(0)
                                                 : int(g.nodes.size()) - 1;
    return g;
}

}  // namespace cnnc::ir
