// Naive double-precision optimizers following torch.optim (PyTorch 1.13, single-tensor path).
#include "tests/reference/naive_optim.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <stdexcept>

namespace cnnc::reference {

namespace {

[[noreturn]] void fail(const std::string& what) { throw std::invalid_argument(what); }

bool is_sgd_family(std::string_view name) {
    return name == "sgd" || name == "momentum" || name == "nesterov";
}

bool is_adam_family(std::string_view name) { return name == "adam" || name == "adamw"; }

bool known(std::string_view name) {
    return is_sgd_family(name) || is_adam_family(name) || name == "adagrad" ||
           name == "adadelta" || name == "rmsprop";
}

std::string number(double v) {
    char buf[64];
    std::snprintf(buf, sizeof buf, "%.17g", v);
    return buf;
}

}  // namespace

OptimizerSpec OptimizerSpec::defaults(std::string_view name) {
    if (!known(name)) fail("optimizer: unknown name '" + std::string(name) + "'");
    OptimizerSpec s;
    s.name = std::string(name);
    if (is_sgd_family(name)) {
        s.lr = 0.01;
        s.momentum = name == "sgd" ? 0.0 : 0.9;
    } else if (name == "adagrad") {
        s.lr = 0.01;
        s.eps = 1e-10;
    } else if (name == "adadelta") {
        s.lr = 1.0;
        s.rho = 0.9;
        s.eps = 1e-6;
    } else if (name == "rmsprop") {
        s.lr = 0.01;
        s.alpha = 0.99;
        s.eps = 1e-8;
    } else {  // adam, adamw
        s.lr = 0.001;
        s.eps = 1e-8;
        s.weight_decay = name == "adamw" ? 0.01 : 0.0;
    }
    return s;
}

std::string OptimizerSpec::to_json() const {
    if (!known(name)) fail("optimizer: unknown name '" + name + "'");
    std::string j = "{\"name\": \"" + name + "\", \"lr\": " + number(lr) +
                    ", \"weight_decay\": " + number(weight_decay) + ", \"l1\": " + number(l1);
    auto field = [&](const char* key, double v) { j += std::string(", \"") + key + "\": " + number(v); };
    auto flag = [&](const char* key, bool v) {
        j += std::string(", \"") + key + "\": " + (v ? "true" : "false");
    };
    if (!lr_per_step.empty()) {
        j += ", \"lr_per_step\": [";
        for (size_t k = 0; k < lr_per_step.size(); ++k) j += (k ? ", " : "") + number(lr_per_step[k]);
        j += "]";
    }
    if (is_sgd_family(name)) {
        field("momentum", momentum);
        field("dampening", dampening);
    } else if (name == "adagrad") {
        field("eps", eps);
        field("initial_accumulator_value", initial_accumulator_value);
        field("lr_decay", lr_decay);
    } else if (name == "adadelta") {
        field("rho", rho);
        field("eps", eps);
    } else if (name == "rmsprop") {
        field("alpha", alpha);
        field("eps", eps);
        field("momentum", momentum);
        flag("centered", centered);
    } else {
        j += ", \"betas\": [" + number(beta1) + ", " + number(beta2) + "]";
        field("eps", eps);
        flag("amsgrad", amsgrad);
    }
    return j + "}";
}

NaiveOptimizer::NaiveOptimizer(OptimizerSpec spec, std::vector<size_t> param_sizes)
    : spec_(std::move(spec)), sizes_(std::move(param_sizes)), states_(sizes_.size()) {
    const std::string& name = spec_.name;
    if (!known(name)) fail("optimizer: unknown name '" + name + "'");
    if ((name == "momentum" || name == "nesterov") && !(spec_.momentum > 0))
        fail("optimizer " + name + ": momentum must be positive");
    if (name == "nesterov" && spec_.dampening != 0)
        fail("optimizer nesterov: dampening must be zero (as torch requires)");
    // State that torch creates before the first step; the SGD family's buffer appears on it.
    for (size_t i = 0; i < sizes_.size(); ++i) {
        OptimizerState& s = states_[i];
        size_t n = sizes_[i];
        if (is_sgd_family(name)) continue;
        s["step"] = {0.0};
        if (name == "adagrad") {
            s["sum"].assign(n, spec_.initial_accumulator_value);
        } else if (name == "adadelta") {
            s["square_avg"].assign(n, 0.0);
            s["acc_delta"].assign(n, 0.0);
        } else if (name == "rmsprop") {
            s["square_avg"].assign(n, 0.0);
            if (spec_.momentum > 0) s["momentum_buffer"].assign(n, 0.0);
            if (spec_.centered) s["grad_avg"].assign(n, 0.0);
        } else {
            s["exp_avg"].assign(n, 0.0);
            s["exp_avg_sq"].assign(n, 0.0);
            if (spec_.amsgrad) s["max_exp_avg_sq"].assign(n, 0.0);
        }
    }
}

void NaiveOptimizer::step(std::vector<std::vector<double>>& params,
                          const std::vector<std::vector<double>>& grads) {
    if (params.size() != sizes_.size() || grads.size() != sizes_.size())
        fail("optimizer step: expected " + std::to_string(sizes_.size()) + " parameters and " +
             "gradients, got " + std::to_string(params.size()) + " and " +
             std::to_string(grads.size()));
    if (!spec_.lr_per_step.empty() && steps_ >= spec_.lr_per_step.size())
        fail("optimizer step " + std::to_string(steps_) + ": lr_per_step has only " +
             std::to_string(spec_.lr_per_step.size()) + " values");
    double lr = spec_.lr_per_step.empty() ? spec_.lr : spec_.lr_per_step[steps_];
    for (size_t i = 0; i < sizes_.size(); ++i) {
        if (params[i].size() != sizes_[i] || grads[i].size() != sizes_[i])
            fail("optimizer step: parameter " + std::to_string(i) + " or its gradient does not " +
                 "have " + std::to_string(sizes_[i]) + " values");
        std::vector<double> g = grads[i];
        if (spec_.l1 != 0)
            for (size_t k = 0; k < g.size(); ++k) {
                double w = params[i][k];
                g[k] += spec_.l1 * double((w > 0) - (w < 0));
            }
        step_one(params[i], std::move(g), states_[i], lr);
    }
    ++steps_;
}

void NaiveOptimizer::step_one(std::vector<double>& p, std::vector<double> g, OptimizerState& s,
                              double lr) {
    const OptimizerSpec& o = spec_;
    const std::string& name = o.name;
    size_t n = p.size();
    // Decoupled (AdamW) decay scales the weights; every other optimizer adds wd * p to the gradient.
    if (name == "adamw") {
        for (double& w : p) w *= 1 - lr * o.weight_decay;
    } else if (o.weight_decay != 0) {
        for (size_t k = 0; k < n; ++k) g[k] = g[k] + o.weight_decay * p[k];
    }

    if (is_sgd_family(name)) {
        if (o.momentum != 0) {
            auto found = s.find("momentum_buffer");
            if (found == s.end()) {
                s["momentum_buffer"] = g;  // the first step copies the gradient, undamped
            } else {
                std::vector<double>& buf = found->second;
                for (size_t k = 0; k < n; ++k)
                    buf[k] = buf[k] * o.momentum + (1 - o.dampening) * g[k];
            }
            const std::vector<double>& buf = s["momentum_buffer"];
            for (size_t k = 0; k < n; ++k)
                g[k] = name == "nesterov" ? g[k] + o.momentum * buf[k] : buf[k];
        }
        for (size_t k = 0; k < n; ++k) p[k] += -lr * g[k];
        return;
    }

    double step = s["step"][0] += 1;
    if (name == "adagrad") {
        double clr = lr / (1 + (step - 1) * o.lr_decay);
        std::vector<double>& sum = s["sum"];
        for (size_t k = 0; k < n; ++k) {
            sum[k] += g[k] * g[k];
            double std_dev = std::sqrt(sum[k]) + o.eps;
            p[k] += -clr * (g[k] / std_dev);
        }
    } else if (name == "adadelta") {
        std::vector<double>& square_avg = s["square_avg"];
        std::vector<double>& acc_delta = s["acc_delta"];
        for (size_t k = 0; k < n; ++k) {
            square_avg[k] = square_avg[k] * o.rho + (1 - o.rho) * g[k] * g[k];
            double std_dev = std::sqrt(square_avg[k] + o.eps);
            double delta = std::sqrt(acc_delta[k] + o.eps) / std_dev * g[k];
            acc_delta[k] = acc_delta[k] * o.rho + (1 - o.rho) * delta * delta;
            p[k] += -lr * delta;
        }
    } else if (name == "rmsprop") {
        std::vector<double>& square_avg = s["square_avg"];
        for (size_t k = 0; k < n; ++k) {
            square_avg[k] = square_avg[k] * o.alpha + (1 - o.alpha) * g[k] * g[k];
            double avg;
            if (o.centered) {
                double& grad_avg = s["grad_avg"][k];
                grad_avg = grad_avg * o.alpha + (1 - o.alpha) * g[k];
                avg = std::sqrt(square_avg[k] - grad_avg * grad_avg);
            } else {
                avg = std::sqrt(square_avg[k]);
            }
            avg += o.eps;
            if (o.momentum > 0) {
                double& buf = s["momentum_buffer"][k];
                buf = buf * o.momentum + g[k] / avg;
                p[k] += -lr * buf;
            } else {
                p[k] += -lr * (g[k] / avg);
            }
        }
    } else {  // adam, adamw
        std::vector<double>& exp_avg = s["exp_avg"];
        std::vector<double>& exp_avg_sq = s["exp_avg_sq"];
        double bias_correction1 = 1 - std::pow(o.beta1, step);
        double bias_correction2 = 1 - std::pow(o.beta2, step);
        double step_size = lr / bias_correction1;
        double bias_correction2_sqrt = std::sqrt(bias_correction2);
        for (size_t k = 0; k < n; ++k) {
            exp_avg[k] = exp_avg[k] * o.beta1 + (1 - o.beta1) * g[k];
            exp_avg_sq[k] = exp_avg_sq[k] * o.beta2 + (1 - o.beta2) * g[k] * g[k];
            double second = exp_avg_sq[k];
            if (o.amsgrad) {
                double& max_sq = s["max_exp_avg_sq"][k];
                max_sq = std::max(max_sq, exp_avg_sq[k]);
                second = max_sq;
            }
            double denom = std::sqrt(second) / bias_correction2_sqrt + o.eps;
            p[k] += -step_size * (exp_avg[k] / denom);
        }
    }
}

}  // namespace cnnc::reference
