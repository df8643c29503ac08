// Shape inference pass over the graph IR.
#include "compiler/passes/shape_inference.h"

namespace cnnc::passes {

void infer_shapes(ir::Graph& graph) {
    for (ir::Node& n : graph.nodes) {
        if (n.op == Op::input) continue;  // the input's shape is given, not inferred
        std::vector<Shape> in;
        for (int i : n.inputs) in.push_back(graph.node(i).shape);
        n.shape = infer_shape(n.op, n.attrs, in, n.name);
    }
}

ir::Graph build_graph(const Model& model) {
    ir::Graph g = ir::from_model(model);
    g.nodes.at(size_t(g.input)).shape = model.node(0).shape;
    infer_shapes(g);
    ir::verify(g);
    return g;
}

}  // namespace cnnc::passes
