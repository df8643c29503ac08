// Lowering of element-wise activations and of the ops that combine tensors element by element.
#include "compiler/lower/lower.h"

namespace cnnc::lower {

using namespace Halide;

std::vector<Var> activation_vars(const Shape& s) {
    if (s.rank == 3) return {Var("c"), Var("x"), Var("y"), Var("n")};
    return {Var("c"), Var("n")};
}

Func activation(const OpInputs& op) {
    std::vector<Var> at = activation_vars(op.shape());
    Expr v = op.in()(at);
    Expr out;
    switch (op.node.op) {
        case Op::relu: out = max(v, 0.0f); break;
        case Op::relu6: out = clamp(v, 0.0f, 6.0f); break;
        case Op::leaky_relu:
            out = select(v > 0, v, std::get<ActivationAttrs>(op.node.attrs).alpha * v);
            break;
        case Op::elu:
            out = select(v > 0, v, std::get<ActivationAttrs>(op.node.attrs).alpha * (exp(v) - 1));
            break;
        case Op::sigmoid: out = 1.0f / (1.0f + exp(-v)); break;
        case Op::tanh: out = Halide::tanh(v); break;
        default: throw std::logic_error("activation: not an activation: " + op.node.name);
    }
    Func f(func_name(op.node));
    f(at) = out;
    return f;
}

Func add(const OpInputs& op) {
    std::vector<Var> at = activation_vars(op.shape());
    Expr total = op.in(0)(at);
    for (size_t i = 1; i < op.inputs.size(); ++i) total += op.in(i)(at);
    Func f(func_name(op.node));
    f(at) = total;
    return f;
}

// Each input owns a range of output channels; the offsets keep every read affine.
Func concat(const OpInputs& op) {
    std::vector<Var> at = activation_vars(op.shape());
    std::vector<Expr> args(at.begin(), at.end());
    Expr value;
    int64_t end = 0;
    std::vector<std::pair<int64_t, int64_t>> ranges;
    for (const Shape& s : op.shapes) {
        const int64_t begin = end;  // two statements: argument evaluation order is unspecified
        end += s[0];
        ranges.emplace_back(begin, end);
    }
    for (size_t i = op.inputs.size(); i-- > 0;) {
        std::vector<Expr> shifted = args;
        shifted[0] = clamp(at[0] - int(ranges[i].first), 0, int(op.shapes[i][0]) - 1);
        Expr v = op.in(i)(shifted);
        value = value.defined() ? select(at[0] < int(ranges[i].second), v, value) : v;
    }
    Func f(func_name(op.node));
    f(at) = value;
    return f;
}

Func zero_pad(const OpInputs& op) {
    const Pads& p = std::get<PadAttrs>(op.node.attrs).pads;
    const Shape& s = op.shape();
    Var c("c"), x("x"), y("y"), n("n");
    Expr ix = x - p.left, iy = y - p.top;
    Expr inside = ix >= 0 && ix < int(s.width()) && iy >= 0 && iy < int(s.height());
    Func f(func_name(op.node));
    f(c, x, y, n) = select(inside,
                           op.in()(c, clamp(ix, 0, int(s.width()) - 1),
                                   clamp(iy, 0, int(s.height()) - 1), n),
                           0.0f);
    return f;
}

namespace {

// A counter-based hash of (seed, coordinates): the same mask for the same step, whatever the
// schedule or thread count.
Expr hash_uniform(const std::vector<Var>& at, Expr seed) {
    Expr h = cast<uint32_t>(seed) * Internal::make_const(UInt(32), uint64_t(0x9E3779B9));
    for (const Var& v : at) {
        h = (h ^ cast<uint32_t>(v)) * Internal::make_const(UInt(32), uint64_t(0x85EBCA6B));
        h = h ^ (h >> 13);
    }
    h = h * Internal::make_const(UInt(32), uint64_t(0xC2B2AE35));
    h = h ^ (h >> 16);
    return cast<float>(h >> 8) * (1.0f / 16777216.0f);  // 24 bits: exact in float
}

}  // namespace

Func dropout(const OpInputs& op) {
    std::vector<Var> at = activation_vars(op.shape());
    float rate = std::get<DropoutAttrs>(op.node.attrs).rate;
    Func f(func_name(op.node));
    if (!op.mode.training || rate == 0.0f) {
        f(at) = op.in()(at);
        return f;
    }
    // The node index salts the stream so that two dropout layers draw different masks.
    Expr keep = hash_uniform(at, op.mode.seed * 7919 + int(&op.node - op.graph.nodes.data())) >= rate;
    f(at) = select(keep, op.in()(at) * (1.0f / (1.0f - rate)), 0.0f);
    return f;
}

}  // namespace cnnc::lower
