// Lowering a whole graph: each node through its op's lowering function, in order.
#include "compiler/lower/lower.h"

namespace cnnc::lower {

using namespace Halide;

std::vector<Var> dims_of(int rank) {
    std::vector<Var> vars;
    for (int d = 0; d < rank; ++d) vars.push_back(Var("d" + std::to_string(d)));
    return vars;
}

Func wrap(const ImageParam& p, const std::string& name) {
    std::vector<Var> at = dims_of(p.dimensions());
    Func f(name);
    f(at) = p(at);
    return f;
}

namespace {

std::optional<Func> bias_of(const ir::Node& n, const std::vector<Func>& params) {
    if (n.params.size() < 2) return std::nullopt;
    return params.at(size_t(n.params[1]));
}

// A flatten that feeds a dense layer is folded into it: the dense layer reads the image-shaped
// tensor before the flatten (see lower::dense).
bool folds_into_dense(const ir::Graph& g, int node) {
    for (const ir::Node& consumer : g.nodes)
        for (int i : consumer.inputs)
            if (i == node && consumer.op != Op::dense) return false;
    return g.node(node).op == Op::flatten;
}

Func lower_node(const ir::Graph& g, const ir::Node& n, const std::vector<Func>& values,
                const std::vector<Func>& params) {
    int producer = n.inputs.at(0);
    if (n.op == Op::dense && folds_into_dense(g, producer)) producer = g.node(producer).inputs.at(0);
    const Func& in = values.at(size_t(producer));
    const Shape& in_shape = g.node(producer).shape;
    switch (n.op) {
        case Op::conv2d:
            return conv2d(n, in_shape, in, params.at(size_t(n.params.at(0))), bias_of(n, params));
        case Op::relu: return relu(n, in);
        case Op::max_pool: return max_pool(n, in_shape, in);
        case Op::flatten: return flatten(n, in_shape, in);
        case Op::dense:
            return dense(n, in_shape, in, params.at(size_t(n.params.at(0))), bias_of(n, params));
        case Op::input:
        case Op::softmax_cross_entropy: break;
    }
    throw std::logic_error("lower_node: op " + std::string(op_name(n.op)) + " has no lowering");
}

}  // namespace

std::vector<Func> lower_graph(const ir::Graph& g, const Func& input,
                              const std::vector<Func>& params) {
    std::vector<Func> values(g.nodes.size());
    for (size_t i = 0; i < g.nodes.size(); ++i) {
        const ir::Node& n = g.nodes[i];
        if (n.op == Op::input)
            values[i] = input;
        else if (n.op != Op::softmax_cross_entropy)
            values[i] = lower_node(g, n, values, params);
    }
    return values;
}

}  // namespace cnnc::lower
