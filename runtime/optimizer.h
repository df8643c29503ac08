// The optimizer around the generated training step: calls the generated update of each parameter.
#pragma once

#include <map>
#include <set>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "compiler/ir/graph.h"
#include "runtime/tensor.h"

namespace cnnc::runtime {

// Hyper-parameters as torch.optim names them; unused ones are ignored by the chosen optimizer.
struct OptimizerConfig {
    std::string kind = "momentum";  // sgd momentum nesterov adagrad adadelta rmsprop adam
    float lr = 0.02f;
    float momentum = 0.9f;
    float dampening = 0.0f;
    float beta1 = 0.9f, beta2 = 0.999f;
    float eps = 1e-8f;
    float rho = 0.9f;
    float alpha = 0.99f;
    float lr_decay = 0.0f;  // adagrad's own per-step decay
    float l1 = 0.0f, l2 = 0.0f;
    bool decay_biases = true;  // weight decay on biases too (torch's default), or weights only
    std::map<std::string, std::pair<float, float>> layer_decay;  // layer -> (l1, l2) override
    std::set<std::string> frozen;                                // layers left untouched

    // Checks the kind and the ranges of the values; throws std::invalid_argument naming them.
    void validate() const;
    nlohmann::json to_json() const;
};

// Per learnable parameter: its optimizer state tensors and the step count.
class OptimizerState {
public:
    OptimizerState(const ir::Graph& graph, OptimizerConfig config);

    // One update of every learnable, unfrozen parameter from its gradient.
    void apply(std::vector<Tensor>& params, std::vector<Tensor>& grads, float lr);

    const OptimizerConfig& config() const { return config_; }
    int64_t step() const { return step_; }
    // For checkpoints: state tensors named "<param>.state0" / ".state1", plus the step count.
    std::vector<std::pair<std::string, Tensor*>> tensors();
    void set_step(int64_t s) { step_ = s; }

private:
    const ir::Graph* graph_;
    OptimizerConfig config_;
    int kind_index_ = 0;
    int64_t step_ = 0;
    std::vector<int> learnable_;  // ir::Param indices, in gradient order
    std::vector<Tensor> state0_, state1_, next_weight_, next_state0_, next_state1_;
};

}  // namespace cnnc::runtime
