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

Func lower_node(const ir::Graph& g, const ir::Node& n, const std::vector<Func>& values,
                const std::vector<Func>& params) {
    const Func& in = values.at(size_t(n.inputs.at(0)));
    const Shape& in_shape = g.input_shape(n);
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
