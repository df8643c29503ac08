// Building the training step's per-segment forward, loss and backward pipelines.
#include "compiler/autodiff/train_kernels.h"

#include "compiler/autodiff/train_step.h"
#include "compiler/lower/inference.h"
#include "compiler/lower/lower.h"

namespace cnnc::autodiff {

using namespace Halide;

namespace {

// `f` as an output of a kernel, with the value's extents fixed and the batch free. A copy:
// Halide 14 emits vector-aligned stores when a generated derivative Func is itself an output,
// and the caller's buffers are only float-aligned.
Func output_of(const Func& f, const std::vector<int64_t>& extents) {
    std::vector<Var> at = lower::dims_of(f.dimensions());
    Func out(f.name() + "_output");
    out(at) = f(at);
    for (size_t d = 0; d < extents.size(); ++d)
        out.output_buffer().dim(int(d)).set_bounds(0, int(extents[d]));
    return out;
}

// A segment lowered in training mode from buffer arguments. Buffers are wrapped in Funcs named
// as the whole-graph step names them (the producer's Func name, "<param>_f"), which the training
// schedule keys its choices on.
struct LoweredSegment {
    std::vector<ImageParam> inputs, params;
    Param<int> seed{"seed"};
    std::vector<Func> input_funcs, param_funcs;  // wrappers, per input / per segment parameter
    std::vector<Func> values;                    // per graph node
    lower::Mode mode;
    std::vector<Argument> arguments;
    std::vector<Internal::Parameter> parameters;

    void take(const ImageParam& p) {
        arguments.push_back(p);
        parameters.push_back(p.parameter());
    }
};

void lower_segment(const ir::Graph& g, const passes::Segment& s, LoweredSegment& l) {
    l.values.resize(g.nodes.size());
    for (size_t k = 0; k < s.inputs.size(); ++k) {
        const ir::Node& n = g.node(s.inputs[k]);
        l.inputs.push_back(lower::value_input(n.shape, "in" + std::to_string(k)));
        l.input_funcs.push_back(lower::wrap(l.inputs.back(), lower::value_func_name(n)));
        l.values[size_t(s.inputs[k])] = l.input_funcs.back();
        l.take(l.inputs.back());
    }
    std::vector<Func> by_index(g.params.size());
    for (int p : s.params) {
        const ir::Param& param = g.params[size_t(p)];
        ImageParam ip = lower::parameter_input(param, lower::argument_name(param.name));
        l.params.push_back(ip);
        l.param_funcs.push_back(lower::wrap(ip, ip.name() + "_f"));
        by_index[size_t(p)] = l.param_funcs.back();
        l.take(ip);
    }
    if (uses_seed(g, s)) {
        l.arguments.push_back(l.seed);
        l.parameters.push_back(l.seed.parameter());
    }
    l.mode.training = true;
    l.mode.seed = l.seed;
    l.mode.batch = l.inputs.at(0).dim(l.inputs[0].dimensions() - 1).extent();
    for (int i : s.nodes) lower::lower_node(g, i, l.values, by_index, l.mode);
}

// The bounds of a value for a batch, as propagate_adjoints takes them: each Range holds the
// first and the last index (not an extent).
Region value_bounds(const Shape& s, const Expr& batch) {
    Region r;
    for (int64_t e : lower::storage_extents(s)) r.push_back(Range(0, int(e) - 1));
    r.push_back(Range(0, batch - 1));
    return r;
}

}  // namespace

bool uses_seed(const ir::Graph& g, const passes::Segment& s) {
    for (int i : s.nodes) {
        const ir::Node& n = g.node(i);
        if (n.op == Op::dropout && std::get<DropoutAttrs>(n.attrs).rate > 0.0f) return true;
    }
    return false;
}

TrainKernel forward_kernel(const ir::Graph& g, const passes::Segment& s) {
    LoweredSegment l;
    lower_segment(g, s, l);
    const Shape& shape = g.node(s.output).shape;
    TrainKernel k{l.arguments,
                  {output_of(l.values[size_t(s.output)], lower::storage_extents(shape))},
                  l.parameters};
    for (int p : s.params) {
        const ir::Param& param = g.params[size_t(p)];
        if (param.learnable) continue;
        k.outputs.push_back(output_of(l.mode.updated_state.at(p), param.storage_extents()));
    }
    return k;
}

TrainKernel loss_kernel(const ir::Graph& g) {
    const ir::Node& logits = g.node(g.logits);
    ImageParam scores = lower::value_input(logits.shape, "scores");
    ImageParam labels = label_input(g);
    Func scores_f = lower::wrap(scores, lower::func_name(logits));
    Expr batch = scores.dim(scores.dimensions() - 1).extent();
    Func loss = lower::loss(g.node(g.loss), scores_f, logits.shape,
                            lower::wrap(labels, "labels_f"), batch);
    Func correct = correct_count(g, scores_f, labels, batch);
    Derivative d = propagate_adjoints(loss);
    return {{scores, labels},
            {loss, correct, output_of(d(scores_f), lower::storage_extents(logits.shape))},
            {scores.parameter(), labels.parameter()}};
}

TrainKernel backward_kernel(const ir::Graph& g, const passes::Segment& s,
                            const passes::BackwardKernel& b) {
    LoweredSegment l;
    lower_segment(g, s, l);
    const Shape& shape = g.node(s.output).shape;
    const Func& value = l.values[size_t(s.output)];
    std::vector<Var> at = lower::dims_of(value.dimensions());
    Func adjoint(lower::func_name(g.node(s.output)) + "_adjoint");
    Expr total = 0.0f;
    // The derivatives of windowed ops read the adjoint past the value's edges, where the value
    // does not exist and its adjoint is zero. One select over clamped loads (rather than
    // BoundaryConditions, whose helper Funcs the training schedule would each copy whole).
    const std::vector<int64_t> extents = lower::storage_extents(shape);
    Expr inside = Internal::const_true();
    std::vector<Expr> clamped(at.begin(), at.end());
    for (size_t d = 0; d < extents.size(); ++d) {
        inside = inside && at[d] >= 0 && at[d] < int(extents[d]);
        clamped[d] = clamp(at[d], 0, int(extents[d]) - 1);
    }
    for (int k = 0; k < b.adjoints; ++k) {
        ImageParam a = lower::value_input(shape, "adjoint" + std::to_string(k));
        total = k == 0 ? Expr(a(clamped)) : total + a(clamped);
        l.take(a);
    }
    total = select(inside, total, 0.0f);
    adjoint(at) = total;
    Derivative d = propagate_adjoints(value, adjoint, value_bounds(shape, l.mode.batch));
    TrainKernel k{l.arguments, {}, l.parameters};
    for (size_t i = 0; i < s.inputs.size(); ++i) {
        if (!b.input_adjoint[i]) continue;
        Func di = d(l.input_funcs[i]);
        if (!di.defined())
            throw std::logic_error("no gradient reaches input " + std::to_string(i) +
                                   " of segment '" + g.node(s.output).name + "'");
        k.outputs.push_back(output_of(di, lower::storage_extents(g.node(s.inputs[i]).shape)));
    }
    for (size_t i = 0; i < s.params.size(); ++i) {
        const ir::Param& param = g.params[size_t(s.params[i])];
        if (!param.learnable) continue;
        Func dp = d(l.param_funcs[i]);
        if (!dp.defined())
            throw std::logic_error("no gradient reaches parameter '" + param.name + "'");
        k.outputs.push_back(output_of(dp, param.storage_extents()));
    }
    return k;
}

std::string forward_kernel_name(const ir::Graph& g, size_t k) {
    return g.name + "_tf" + std::to_string(k);
}

std::string backward_kernel_name(const ir::Graph& g, size_t k) {
    return g.name + "_tb" + std::to_string(k);
}

std::string loss_kernel_name(const ir::Graph& g) { return g.name + "_tloss"; }

}  // namespace cnnc::autodiff
