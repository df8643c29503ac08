// The generated optimizer updates, driven by the runtime's OptimizerState, against torch.optim:
// ten steps of every optimizer with weight decay, on two parameters with given gradients.
#include <doctest/doctest.h>

#include <cmath>
#include <random>

#include "compiler/passes/shape_inference.h"
#include "dsl/dsl.h"
#include "runtime/optimizer.h"
#include "tests/reference/torch_bridge.h"

using namespace cnnc;
namespace ref = cnnc::reference;

namespace {

constexpr int steps = 10;

// A model with one dense layer: a weight (3x5) and a bias (3) to optimise.
Model two_params() {
    Model m("opt");
    softmax_cross_entropy(dense(m.input({5}), {.units = 3, .name = "fc"}));
    return m;
}

struct OptimCase {
    runtime::OptimizerConfig config;
    std::string spec;
};

std::vector<OptimCase> cases() {
    auto make = [](std::string kind, float lr) {
        runtime::OptimizerConfig c;
        c.kind = std::move(kind);
        c.lr = lr;
        c.l2 = 0.01f;
        return c;
    };
    std::vector<OptimCase> out;
    out.push_back({make("sgd", 0.1f), R"({"name":"sgd","lr":0.1,"weight_decay":0.01})"});
    auto m = make("momentum", 0.05f);
    m.momentum = 0.8f;
    m.dampening = 0.1f;
    out.push_back({m, R"({"name":"momentum","lr":0.05,"momentum":0.8,"dampening":0.1,"weight_decay":0.01})"});
    auto n = make("nesterov", 0.05f);
    out.push_back({n, R"({"name":"nesterov","lr":0.05,"momentum":0.9,"weight_decay":0.01})"});
    auto ag = make("adagrad", 0.1f);
    ag.eps = 1e-10f;
    ag.lr_decay = 0.01f;
    out.push_back({ag, R"({"name":"adagrad","lr":0.1,"eps":1e-10,"lr_decay":0.01,"weight_decay":0.01})"});
    auto ad = make("adadelta", 1.0f);
    ad.rho = 0.9f;
    ad.eps = 1e-6f;
    out.push_back({ad, R"({"name":"adadelta","lr":1.0,"rho":0.9,"eps":1e-6,"weight_decay":0.01})"});
    auto rp = make("rmsprop", 0.01f);
    rp.alpha = 0.99f;
    out.push_back({rp, R"({"name":"rmsprop","lr":0.01,"alpha":0.99,"eps":1e-8,"weight_decay":0.01})"});
    auto adam = make("adam", 0.01f);
    adam.l1 = 0.001f;
    out.push_back({adam, R"({"name":"adam","lr":0.01,"betas":[0.9,0.999],"eps":1e-8,"weight_decay":0.01,"l1":0.001})"});
    return out;
}

}  // namespace

TEST_CASE("every generated optimizer matches torch.optim over 10 steps") {
    std::string why = ref::torch_unavailable_reason();
    REQUIRE_MESSAGE(why.empty(), why);
    ir::Graph g = passes::build_graph(two_params());
    std::mt19937_64 rng(3);
    std::uniform_real_distribution<float> d(-1, 1);
    std::vector<std::vector<double>> initial;
    for (const ir::Param& p : g.params) {
        std::vector<double> v(size_t(p.extents.elements()));
        for (double& x : v) x = d(rng);
        initial.push_back(v);
    }
    std::vector<std::vector<std::vector<double>>> grads(steps);
    for (auto& step : grads)
        for (const auto& p : initial) {
            std::vector<double> gv(p.size());
            for (double& x : gv) x = float(d(rng));
            step.push_back(gv);
        }

    std::vector<OptimCase> all = cases();
    std::vector<ref::ReferenceCase> refs;
    for (const OptimCase& c : all)
        refs.push_back({c.config.kind, c.spec, ref::optimizer_reference_inputs(initial, grads)});
    auto torch = ref::run_optimizer_references(refs);

    for (size_t k = 0; k < all.size(); ++k) {
        const OptimCase& c = all[k];
        INFO("optimizer " << c.config.kind);
        std::vector<runtime::Tensor> params, gradients;
        for (size_t i = 0; i < g.params.size(); ++i) {
            const Shape& e = g.params[i].extents;
            params.emplace_back(std::vector<int64_t>(e.dims.begin(), e.dims.begin() + e.rank));
            std::copy(initial[i].begin(), initial[i].end(), params.back().values().begin());
            gradients.emplace_back(params.back().extents());
        }
        runtime::OptimizerState optimizer(g, c.config);
        for (int s = 0; s < steps; ++s) {
            for (size_t i = 0; i < g.params.size(); ++i)
                std::copy(grads[size_t(s)][i].begin(), grads[size_t(s)][i].end(),
                          gradients[i].values().begin());
            optimizer.apply(params, gradients, c.config.lr);
            for (size_t i = 0; i < g.params.size(); ++i) {
                auto want = ref::to_doubles(ref::find_tensor(
                    torch[k], "param." + std::to_string(i) + ".step" + std::to_string(s + 1)));
                double worst = 0;
                for (size_t e = 0; e < want.size(); ++e)
                    worst = std::max(worst, std::abs(double(params[i].data()[e]) - want[e]));
                INFO("step " << s + 1 << ", parameter " << g.params[i].name);
                CHECK(worst < 2e-5);
            }
        }
    }
}

TEST_CASE("frozen layers and bias decay options are honoured") {
    ir::Graph g = passes::build_graph(two_params());
    runtime::OptimizerConfig c;
    c.kind = "sgd";
    c.lr = 1.0f;
    c.l2 = 0.5f;
    c.decay_biases = false;
    std::vector<runtime::Tensor> params, grads;
    for (const ir::Param& p : g.params) {
        params.emplace_back(std::vector<int64_t>(p.extents.dims.begin(), p.extents.dims.begin() + p.extents.rank));
        for (float& v : params.back().values()) v = 1.0f;
        grads.emplace_back(params.back().extents());
    }
    runtime::OptimizerState decay_weights_only(g, c);
    decay_weights_only.apply(params, grads, 1.0f);
    CHECK(params[0].data()[0] == doctest::Approx(0.5));  // weight: 1 - 1 * (0 + 0.5 * 1)
    CHECK(params[1].data()[0] == doctest::Approx(1.0));  // bias: no decay, zero gradient
    c.frozen = {"fc"};
    runtime::OptimizerState frozen(g, c);
    frozen.apply(params, grads, 1.0f);
    CHECK(params[0].data()[0] == doctest::Approx(0.5));
}

TEST_CASE("invalid optimizer settings are refused with the option named") {
    ir::Graph g = passes::build_graph(two_params());
    runtime::OptimizerConfig c;
    c.kind = "adamax";
    CHECK_THROWS_WITH_AS(runtime::OptimizerState(g, c),
                         "unknown optimizer 'adamax' (known: sgd, momentum, nesterov, adagrad, "
                         "adadelta, rmsprop, adam)",
                         std::invalid_argument);
    c.kind = "nesterov";
    c.momentum = 0;
    CHECK_THROWS_AS(runtime::OptimizerState(g, c), std::invalid_argument);
    c.kind = "adam";
    c.beta1 = 1.5f;
    CHECK_THROWS_WITH_AS(runtime::OptimizerState(g, c), "optimizer: betas must be in [0, 1)",
                         std::invalid_argument);
    c.beta1 = 0.9f;
    c.lr = -1;
    CHECK_THROWS_AS(runtime::OptimizerState(g, c), std::invalid_argument);
}
