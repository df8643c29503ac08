// Naive double-precision optimizers in torch.optim's semantics, state named as torch names it.
//
// The reference that cnnc's optimizer updates are checked against, and that is itself checked
// against torch.optim (tests/torch/optim_reference.py). Each optimizer follows the single-tensor
// code path of PyTorch 1.13 statement by statement, so the two agree to rounding.
//
// cnnc's L1 decay is not part of torch.optim: l1 * sign(w) (sign(0) = 0) is added to the gradient
// before the optimizer sees it, exactly as optim_reference.py does.
#pragma once

#include <cstddef>
#include <map>
#include <string>
#include <string_view>
#include <vector>

namespace cnnc::reference {

struct OptimizerSpec {
    // sgd | momentum | nesterov | adagrad | adadelta | rmsprop | adam | adamw
    std::string name = "sgd";
    double lr = 0.01;
    double momentum = 0;   // sgd, momentum, nesterov, rmsprop
    double dampening = 0;  // sgd, momentum, nesterov
    double weight_decay = 0;
    double beta1 = 0.9, beta2 = 0.999;  // adam, adamw
    double eps = 1e-8;                  // adam, adamw, adagrad, adadelta, rmsprop
    double rho = 0.9;                   // adadelta
    double alpha = 0.99;                // rmsprop
    double initial_accumulator_value = 0;  // adagrad
    double lr_decay = 0;                   // adagrad
    bool centered = false;                 // rmsprop
    bool amsgrad = false;                  // adam, adamw
    double l1 = 0;                         // cnnc's L1 decay, every optimizer
    // When not empty, the learning rate of step k is lr_per_step[k] instead of lr (learning-rate
    // decay between steps); a step past its end is an error.
    std::vector<double> lr_per_step{};

    // torch.optim's defaults for `name` (lr 0.01 for the SGD family, which torch requires,
    // momentum 0.9 for momentum and nesterov); throws for an unknown name.
    static OptimizerSpec defaults(std::string_view name);

    // The JSON that optim_reference.py takes: name, lr, weight_decay, l1, lr_per_step (when set)
    // and exactly the other fields `name` reads (one that does not apply would be an error
    // there), at full double precision.
    std::string to_json() const;
};

// Every optimizer here updates each element from its own history only, so parameters with
// different hyper-parameters (cnnc's decay_biases, per-layer decay) take separate optimizers.
//
// State of one parameter, by torch's names: "momentum_buffer" (SGD family with momentum, and
// rmsprop with momentum), "sum" (adagrad), "square_avg" (adadelta, rmsprop), "acc_delta"
// (adadelta), "grad_avg" (centered rmsprop), "exp_avg", "exp_avg_sq", "max_exp_avg_sq" (amsgrad)
// (adam, adamw), and "step" (one value: steps taken) for all but the SGD family.
using OptimizerState = std::map<std::string, std::vector<double>>;

class NaiveOptimizer {
public:
    // Throws std::invalid_argument for an unknown optimizer or a momentum/nesterov spec without
    // positive momentum.
    NaiveOptimizer(OptimizerSpec spec, std::vector<size_t> param_sizes);

    // One step over every parameter; grads[i] must have params[i]'s size.
    void step(std::vector<std::vector<double>>& params,
              const std::vector<std::vector<double>>& grads);

    const OptimizerState& state(size_t param) const { return states_.at(param); }
    const OptimizerSpec& spec() const { return spec_; }
    size_t steps_taken() const { return steps_; }

private:
    void step_one(std::vector<double>& p, std::vector<double> g, OptimizerState& s, double lr);

    OptimizerSpec spec_;
    std::vector<size_t> sizes_;
    std::vector<OptimizerState> states_;
    size_t steps_ = 0;
};

}  // namespace cnnc::reference
