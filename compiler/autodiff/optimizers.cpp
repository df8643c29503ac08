// The optimizer update pipelines.
#include "compiler/autodiff/optimizers.h"

namespace cnnc::autodiff {

using namespace Halide;

std::string optimizer_name(Optimizer o) {
    switch (o) {
        case Optimizer::sgd: return "sgd";
        case Optimizer::momentum: return "momentum";
        case Optimizer::nesterov: return "nesterov";
        case Optimizer::adagrad: return "adagrad";
        case Optimizer::adadelta: return "adadelta";
        case Optimizer::rmsprop: return "rmsprop";
        case Optimizer::adam: return "adam";
    }
    return "?";
}

int state_count(Optimizer o) {
    switch (o) {
        case Optimizer::sgd: return 0;
        case Optimizer::adadelta:
        case Optimizer::adam: return 2;
        default: return 1;
    }
}

namespace {

struct Scalars {
    Param<float> lr{"lr"}, momentum{"momentum"}, dampening{"dampening"}, beta1{"beta1"},
        beta2{"beta2"}, eps{"eps"}, rho{"rho"}, alpha{"alpha"}, lr_decay{"lr_decay"}, l1{"l1"},
        l2{"l2"}, step{"step"};
    std::vector<Argument> list() const {
        return {lr, momentum, dampening, beta1, beta2, eps, rho, alpha, lr_decay, l1, l2, step};
    }
};

// new weight, new state0, new state1 for one element.
Tuple update(Optimizer o, Expr w, Expr g, Expr s0, Expr s1, const Scalars& k) {
    g = g + k.l2 * w + k.l1 * select(w > 0, 1.0f, select(w < 0, -1.0f, 0.0f));
    switch (o) {
        case Optimizer::sgd: return {w - k.lr * g, s0, s1};
        case Optimizer::momentum:
        case Optimizer::nesterov: {
            // torch starts the buffer at the first gradient, undamped.
            Expr buf = select(k.step <= 1.0f, g, k.momentum * s0 + (1.0f - k.dampening) * g);
            Expr direction = o == Optimizer::nesterov ? g + k.momentum * buf : buf;
            return {w - k.lr * direction, buf, s1};
        }
        case Optimizer::adagrad: {
            Expr rate = k.lr / (1.0f + (k.step - 1.0f) * k.lr_decay);
            Expr total = s0 + g * g;
            return {w - rate * g / (sqrt(total) + k.eps), total, s1};
        }
        case Optimizer::adadelta: {
            Expr square_avg = k.rho * s0 + (1.0f - k.rho) * g * g;
            Expr delta = sqrt(s1 + k.eps) / sqrt(square_avg + k.eps) * g;
            Expr acc_delta = k.rho * s1 + (1.0f - k.rho) * delta * delta;
            return {w - k.lr * delta, square_avg, acc_delta};
        }
        case Optimizer::rmsprop: {
            Expr square_avg = k.alpha * s0 + (1.0f - k.alpha) * g * g;
            return {w - k.lr * g / (sqrt(square_avg) + k.eps), square_avg, s1};
        }
        case Optimizer::adam: {
            Expr m = k.beta1 * s0 + (1.0f - k.beta1) * g;
            Expr v = k.beta2 * s1 + (1.0f - k.beta2) * g * g;
            Expr correction1 = 1.0f - pow(k.beta1, k.step);
            Expr correction2 = 1.0f - pow(k.beta2, k.step);
            Expr denominator = sqrt(v) / sqrt(correction2) + k.eps;
            return {w - (k.lr / correction1) * m / denominator, m, v};
        }
    }
    throw std::logic_error("unknown optimizer");
}

}  // namespace

UpdatePipeline build_update(Optimizer o) {
    ImageParam w(Float(32), 1, "weight"), g(Float(32), 1, "grad"), s0(Float(32), 1, "state0"),
        s1(Float(32), 1, "state1");
    Scalars k;
    Var i("i");
    Func f("update_" + optimizer_name(o));
    f(i) = update(o, w(i), g(i), s0(i), s1(i), k);
    // Element-wise and memory-bound: vectorize, and split the tensor into parallel chunks.
    Var io("io"), ii("ii");
    f.split(i, io, ii, 4096, TailStrategy::GuardWithIf).parallel(io).vectorize(ii, 16,
                                                                            TailStrategy::GuardWithIf);
    std::vector<Argument> args{w, g, s0, s1};
    for (const Argument& a : k.list()) args.push_back(a);
    return {Pipeline(f), args};
}

}  // namespace cnnc::autodiff
