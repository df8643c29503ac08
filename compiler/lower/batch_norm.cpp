// Lowering of batch normalisation: batch statistics while training, running ones otherwise.
#include "compiler/lower/lower.h"

namespace cnnc::lower {

using namespace Halide;

Func batch_norm(const OpInputs& op) {
    const auto& a = std::get<BatchNormAttrs>(op.node.attrs);
    const Shape& s = op.shape();
    const Func &gamma = op.params.at(0), &beta = op.params.at(1);
    const Func &running_mean = op.params.at(2), &running_var = op.params.at(3);
    std::vector<Var> at = activation_vars(s);
    Var c = at[0];
    Func out(func_name(op.node));
    if (!op.mode.training) {
        out(at) = (op.in()(at) - running_mean(c)) * (gamma(c) / sqrt(running_var(c) + a.epsilon)) +
                  beta(c);
        return out;
    }
    // Statistics over every pixel of every sample, per channel.
    const Expr batch = op.mode.batch;
    Expr count = cast<float>(batch) * float(s.rank == 3 ? s.width() * s.height() : 1);
    auto over_pixels = [&](const Func& f, const std::string& name) {
        Func total(name);
        if (s.rank == 3) {
            RDom r(0, int(s.width()), 0, int(s.height()), 0, batch, name + "_r");
            total(c) = sum(f(c, r.x, r.y, r.z));
        } else {
            RDom r(0, batch, name + "_r");
            total(c) = sum(f(c, r.x));
        }
        return total;
    };
    Func mean(op.node.name + "_mean"), centred(op.node.name + "_centred"),
        variance(op.node.name + "_var");
    mean(c) = over_pixels(op.in(), op.node.name + "_sum")(c) / count;
    centred(at) = op.in()(at) - mean(c);
    Func squared(op.node.name + "_squared");
    squared(at) = centred(at) * centred(at);
    variance(c) = over_pixels(squared, op.node.name + "_sumsq")(c) / count;
    out(at) = centred(at) * (gamma(c) / sqrt(variance(c) + a.epsilon)) + beta(c);

    // Running averages as PyTorch keeps them: the unbiased variance, weighted by momentum.
    const int mean_index = op.node.params.at(2), var_index = op.node.params.at(3);
    Func new_mean(op.node.name + "_running_mean_updated"),
        new_var(op.node.name + "_running_var_updated");
    new_mean(c) = (1.0f - a.momentum) * running_mean(c) + a.momentum * mean(c);
    new_var(c) = (1.0f - a.momentum) * running_var(c) +
                 a.momentum * variance(c) * count / max(count - 1.0f, 1.0f);
    op.mode.updated_state[mean_index] = new_mean;
    op.mode.updated_state[var_index] = new_var;
    return out;
}

FoldedBatchNorm fold_batch_norm(const ir::Node& conv, const ir::Node& bn,
                                const std::vector<Func>& conv_params,
                                const std::vector<Func>& bn_params) {
    const float eps = std::get<BatchNormAttrs>(bn.attrs).epsilon;
    Var co("c");
    Func scale(bn.name + "_fold_scale");
    scale(co) = bn_params.at(0)(co) / sqrt(bn_params.at(3)(co) + eps);
    Func bias(conv.name + "_folded_bias");
    Expr b = conv_params.size() > 1 ? Expr(conv_params[1](co)) : Expr(0.0f);
    bias(co) = (b - bn_params.at(2)(co)) * scale(co) + bn_params.at(1)(co);
    return {scale, bias};
}

}  // namespace cnnc::lower
