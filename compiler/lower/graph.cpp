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

using Lowering = Func (*)(const OpInputs&);

Lowering lowering_of(Op op) {
    switch (op) {
        case Op::conv2d: return conv2d;
        case Op::transposed_conv2d: return transposed_conv2d;
        case Op::max_pool: return max_pool;
        case Op::avg_pool: return avg_pool;
        case Op::l2_pool: return l2_pool;
        case Op::global_avg_pool: return global_avg_pool;
        case Op::global_max_pool: return global_max_pool;
        case Op::relu:
        case Op::relu6:
        case Op::leaky_relu:
        case Op::elu:
        case Op::sigmoid:
        case Op::tanh: return activation;
        case Op::softmax:
        case Op::log_softmax: return softmax;
        case Op::dense: return dense;
        case Op::flatten: return flatten;
        case Op::reshape: return reshape;
        case Op::add: return add;
        case Op::concat: return concat;
        case Op::zero_pad: return zero_pad;
        case Op::batch_norm: return batch_norm;
        case Op::dropout: return dropout;
        case Op::input:
        case Op::softmax_cross_entropy:
        case Op::mse: break;
    }
    return nullptr;
}

}  // namespace

void lower_node(const ir::Graph& g, int i, std::vector<Func>& values,
                const std::vector<Func>& params, Mode& mode) {
    const ir::Node& n = g.node(i);
    Lowering lower = lowering_of(n.op);
    if (!lower) return;  // the input is given; losses are lowered by the training step
    OpInputs op{g, n, {}, {}, {}, mode};
    for (int k : n.inputs) {
        int p = ir::value_source(g, n, k);
        op.inputs.push_back(values.at(size_t(p)));
        op.shapes.push_back(g.node(p).shape);
    }
    for (int p : n.params) op.params.push_back(params.at(size_t(p)));
    if (auto fold = mode.folded_batch_norms.find(i); fold != mode.folded_batch_norms.end()) {
        const ir::Node& bn = g.node(fold->second);
        std::vector<Func> bn_params;
        for (int p : bn.params) bn_params.push_back(params.at(size_t(p)));
        const FoldedBatchNorm folded = fold_batch_norm(n, bn, op.params, bn_params);
        op.params = {op.params.at(0), folded.bias};
        op.output_scale = folded.scale;
        mode.precomputed.insert(mode.precomputed.end(), {folded.scale, folded.bias});
    }
    bool folded_away = false;
    for (const auto& [conv, bn] : mode.folded_batch_norms) folded_away |= bn == i;
    // A folded batch norm passes its (already normalised) input through.
    values[size_t(i)] = folded_away ? op.in() : lower(op);
}

std::vector<Func> lower_graph(const ir::Graph& g, const Func& input,
                              const std::vector<Func>& params, Mode& mode) {
    std::vector<Func> values(g.nodes.size());
    values.at(size_t(g.input)) = input;
    for (int i = 0; i < int(g.nodes.size()); ++i) lower_node(g, i, values, params, mode);
    return values;
}

}  // namespace cnnc::lower
