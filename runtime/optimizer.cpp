// Applying the generated optimizer updates parameter by parameter.
#include "runtime/optimizer.h"

#include <stdexcept>

#include "cnnc_update_adadelta.h"
#include "cnnc_update_adagrad.h"
#include "cnnc_update_adam.h"
#include "cnnc_update_momentum.h"
#include "cnnc_update_nesterov.h"
#include "cnnc_update_rmsprop.h"
#include "cnnc_update_sgd.h"
#include "runtime/pipeline.h"

namespace cnnc::runtime {
namespace {

struct Kind {
    const char* name;
    PipelineEntry update;
};

const Kind kinds[] = {
    {"sgd", {cnnc_update_sgd_argv, cnnc_update_sgd_metadata}},
    {"momentum", {cnnc_update_momentum_argv, cnnc_update_momentum_metadata}},
    {"nesterov", {cnnc_update_nesterov_argv, cnnc_update_nesterov_metadata}},
    {"adagrad", {cnnc_update_adagrad_argv, cnnc_update_adagrad_metadata}},
    {"adadelta", {cnnc_update_adadelta_argv, cnnc_update_adadelta_metadata}},
    {"rmsprop", {cnnc_update_rmsprop_argv, cnnc_update_rmsprop_metadata}},
    {"adam", {cnnc_update_adam_argv, cnnc_update_adam_metadata}},
};

int kind_index(const std::string& name) {
    for (size_t i = 0; i < std::size(kinds); ++i)
        if (name == kinds[i].name) return int(i);
    std::string known;
    for (const Kind& k : kinds) known += std::string(known.empty() ? "" : ", ") + k.name;
    throw std::invalid_argument("unknown optimizer '" + name + "' (known: " + known + ")");
}

void require(bool ok, const std::string& what) {
    if (!ok) throw std::invalid_argument("optimizer: " + what);
}

// The same tensor seen as one flat dimension: updates are element-wise.
halide_buffer_t flat_view(Tensor& t, halide_dimension_t& dim) {
    halide_buffer_t b = *t.raw();
    dim = halide_dimension_t(0, int32_t(t.size()), 1);
    b.dimensions = 1;
    b.dim = &dim;
    return b;
}

}  // namespace

void OptimizerConfig::validate() const {
    kind_index(kind);
    require(lr >= 0, "--lr must not be negative, got " + std::to_string(lr));
    require(momentum >= 0, "momentum must not be negative");
    require(kind != "nesterov" || (momentum > 0 && dampening == 0),
            "nesterov needs momentum > 0 and dampening 0");
    require(beta1 >= 0 && beta1 < 1 && beta2 >= 0 && beta2 < 1, "betas must be in [0, 1)");
    require(eps > 0, "eps must be positive");
    require(rho >= 0 && rho <= 1 && alpha >= 0 && alpha <= 1, "rho and alpha must be in [0, 1]");
    require(l1 >= 0 && l2 >= 0, "weight decay must not be negative");
}

nlohmann::json OptimizerConfig::to_json() const {
    return {{"kind", kind}, {"lr", lr}, {"momentum", momentum}, {"dampening", dampening},
            {"beta1", beta1}, {"beta2", beta2}, {"eps", eps}, {"rho", rho}, {"alpha", alpha},
            {"l1", l1}, {"l2", l2}, {"decay_biases", decay_biases}};
}

OptimizerState::OptimizerState(const ir::Graph& g, OptimizerConfig config)
    : graph_(&g), config_(std::move(config)) {
    config_.validate();
    kind_index_ = kind_index(config_.kind);
    for (size_t i = 0; i < g.params.size(); ++i) {
        const ir::Param& p = g.params[i];
        if (!p.learnable) continue;
        const std::vector<int64_t> extents = p.storage_extents();
        learnable_.push_back(int(i));
        for (auto* v : {&state0_, &state1_, &next_weight_, &next_state0_, &next_state1_})
            v->emplace_back(extents);
    }
}

void OptimizerState::apply(std::vector<Tensor>& params, std::vector<Tensor>& grads, float lr) {
    ++step_;
    float step = float(step_);
    for (size_t k = 0; k < learnable_.size(); ++k) {
        const ir::Param& p = graph_->params[size_t(learnable_[k])];
        if (config_.frozen.count(p.layer)) continue;
        float l1 = config_.l1, l2 = config_.l2;
        if (auto it = config_.layer_decay.find(p.layer); it != config_.layer_decay.end())
            std::tie(l1, l2) = it->second;
        if (p.role == "bias" && !config_.decay_biases) l1 = l2 = 0;
        Tensor& w = params[size_t(learnable_[k])];
        halide_dimension_t d[8];
        halide_buffer_t bw = flat_view(w, d[0]), bg = flat_view(grads[k], d[1]),
                        b0 = flat_view(state0_[k], d[2]), b1 = flat_view(state1_[k], d[3]),
                        ow = flat_view(next_weight_[k], d[4]), o0 = flat_view(next_state0_[k], d[5]),
                        o1 = flat_view(next_state1_[k], d[6]);
        // The generated update only reads its scalars: point at the configuration itself rather
        // than copying it (with its per-layer maps) for every parameter of every step.
        OptimizerConfig& c = config_;
        invoke(kinds[kind_index_].update,
               {&bw, &bg, &b0, &b1, &lr, &c.momentum, &c.dampening, &c.beta1, &c.beta2, &c.eps,
                &c.rho, &c.alpha, &c.lr_decay, &l1, &l2, &step, &ow, &o0, &o1});
        std::swap(w, next_weight_[k]);
        std::swap(state0_[k], next_state0_[k]);
        std::swap(state1_[k], next_state1_[k]);
    }
}

std::vector<std::pair<std::string, Tensor*>> OptimizerState::tensors() {
    std::vector<std::pair<std::string, Tensor*>> out;
    for (size_t k = 0; k < learnable_.size(); ++k) {
        const std::string& name = graph_->params[size_t(learnable_[k])].name;
        out.emplace_back(name + ".state0", &state0_[k]);
        out.emplace_back(name + ".state1", &state1_[k]);
    }
    return out;
}

}  // namespace cnnc::runtime
