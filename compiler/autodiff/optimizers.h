// Optimizers as generated pipelines: one element-wise update per optimizer, over one parameter.
#pragma once

#include <Halide.h>

#include <string>
#include <vector>

namespace cnnc::autodiff {

// As torch.optim defines them. Weight decay is coupled (added to the gradient, like torch's
// weight_decay): g' = g + l2 * w + l1 * sign(w).
enum class Optimizer { sgd, momentum, nesterov, adagrad, adadelta, rmsprop, adam };

inline const std::vector<Optimizer>& all_optimizers() {
    static const std::vector<Optimizer> all{Optimizer::sgd,      Optimizer::momentum,
                                            Optimizer::nesterov, Optimizer::adagrad,
                                            Optimizer::adadelta, Optimizer::rmsprop,
                                            Optimizer::adam};
    return all;
}

std::string optimizer_name(Optimizer o);

// Every update pipeline has the same arguments, so the runtime calls them alike:
//   inputs  weight, grad, state0, state1 (1-D float, same extent), then the scalars
//           lr, momentum, dampening, beta1, beta2, eps, rho, alpha, lr_decay, l1, l2, step;
//   outputs new weight, new state0, new state1 (computed in one loop).
// States: momentum/nesterov: momentum_buffer; adagrad: sum; adadelta: square_avg, acc_delta;
// rmsprop: square_avg; adam: exp_avg, exp_avg_sq. `step` counts from 1.
struct UpdatePipeline {
    Halide::Pipeline pipeline;
    std::vector<Halide::Argument> arguments;
};

UpdatePipeline build_update(Optimizer o);

// How many state tensors an optimizer keeps per parameter (0, 1 or 2).
int state_count(Optimizer o);

}  // namespace cnnc::autodiff
