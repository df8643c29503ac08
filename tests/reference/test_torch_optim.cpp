// The naive optimizers against torch.optim: 10 steps on random gradients, every parameter after
// every step and the final state, to 1e-10.
#include <doctest/doctest.h>

#include <cmath>
#include <set>
#include <stdexcept>
#include <string>
#include <vector>

#include "tests/reference/naive_ops.h"
#include "tests/reference/naive_optim.h"
#include "tests/reference/test_util.h"
#include "tests/reference/torch_bridge.h"

namespace ref = cnnc::reference;
using ref::test::relative_difference;

namespace {

constexpr int steps = 10;
constexpr double tolerance = 1e-10;

struct OptimCase {
    std::string name;
    ref::OptimizerSpec spec;
};

std::vector<OptimCase> optim_cases() {
    std::vector<OptimCase> cases;
    auto add = [&](std::string name, const char* optimizer, auto&& edit) {
        ref::OptimizerSpec spec = ref::OptimizerSpec::defaults(optimizer);
        edit(spec);
        cases.push_back({std::move(name), spec});
    };
    add("sgd", "sgd", [](ref::OptimizerSpec& s) { s.lr = 0.1; });
    add("sgd_decay_l1", "sgd", [](ref::OptimizerSpec& s) {
        s.lr = 0.1;
        s.weight_decay = 0.01;
        s.l1 = 0.003;
    });
    add("momentum", "momentum", [](ref::OptimizerSpec& s) {
        s.lr = 0.05;
        s.momentum = 0.9;
        s.dampening = 0.1;
        s.weight_decay = 1e-3;
    });
    add("nesterov", "nesterov", [](ref::OptimizerSpec& s) {
        s.lr = 0.05;
        s.momentum = 0.8;
        s.weight_decay = 1e-2;
        s.l1 = 1e-3;
    });
    add("adagrad", "adagrad", [](ref::OptimizerSpec& s) {
        s.lr = 0.1;
        s.lr_decay = 0.01;
        s.weight_decay = 1e-3;
        s.initial_accumulator_value = 0.1;
    });
    add("adadelta", "adadelta", [](ref::OptimizerSpec& s) {
        s.lr = 0.9;
        s.rho = 0.8;
        s.weight_decay = 1e-3;
    });
    add("rmsprop", "rmsprop", [](ref::OptimizerSpec& s) { s.lr = 0.01; });
    add("rmsprop_centered_momentum", "rmsprop", [](ref::OptimizerSpec& s) {
        s.lr = 0.01;
        s.alpha = 0.9;
        s.momentum = 0.7;
        s.centered = true;
        s.weight_decay = 1e-3;
        s.l1 = 1e-4;
    });
    add("adam", "adam", [](ref::OptimizerSpec& s) {
        s.lr = 0.01;
        s.beta1 = 0.8;
        s.beta2 = 0.95;
        s.weight_decay = 1e-2;
        s.l1 = 1e-4;
    });
    add("adam_amsgrad", "adam", [](ref::OptimizerSpec& s) {
        s.lr = 0.01;
        s.amsgrad = true;
    });
    add("momentum_lr_decay", "momentum", [](ref::OptimizerSpec& s) {
        for (int k = 0; k < steps; ++k) s.lr_per_step.push_back(0.1 * std::pow(0.7, k));
    });
    add("adam_lr_decay", "adam", [](ref::OptimizerSpec& s) {
        for (int k = 0; k < steps; ++k) s.lr_per_step.push_back(0.02 / (1 + k));
    });
    add("adamw", "adamw", [](ref::OptimizerSpec& s) {
        s.lr = 0.01;
        s.weight_decay = 0.05;
    });
    return cases;
}

}  // namespace

TEST_CASE("naive optimizers agree with torch.optim over 10 steps") {
    REQUIRE_MESSAGE(ref::torch_unavailable_reason().empty(), ref::torch_unavailable_reason());
    std::vector<OptimCase> cases = optim_cases();
    const std::vector<size_t> sizes{7, 13};

    // The same random start and gradients for every optimizer; gradients of mixed scale so that
    // the adaptive optimizers' per-element normalisation matters.
    std::mt19937_64 rng(2024);
    std::vector<std::vector<double>> start;
    for (size_t n : sizes) start.push_back(ref::random_values(n, rng));
    std::vector<std::vector<std::vector<double>>> grads(steps);
    for (auto& step : grads)
        for (size_t n : sizes) {
            std::vector<double> g = ref::random_values(n, rng);
            for (size_t k = 0; k < n; ++k) g[k] *= k % 3 == 0 ? 10.0 : (k % 3 == 1 ? 1.0 : 0.01);
            step.push_back(g);
        }

    std::vector<ref::ReferenceCase> torch_cases;
    for (const OptimCase& c : cases)
        torch_cases.push_back(
            {c.name, c.spec.to_json(), ref::optimizer_reference_inputs(start, grads)});
    std::vector<std::vector<ref::NamedArray>> torch;
    try {
        torch = ref::run_optimizer_references(torch_cases);
    } catch (const std::exception& e) {
        FAIL(e.what());
    }
    REQUIRE(torch.size() == cases.size());

    for (size_t ci = 0; ci < cases.size(); ++ci) {
        const OptimCase& c = cases[ci];
        INFO("optimizer case " << c.name << ": " << c.spec.to_json());
        ref::NaiveOptimizer opt(c.spec, sizes);
        std::vector<std::vector<double>> params = start;
        for (int k = 0; k <= steps; ++k) {  // param.<i>.step<k>: after k steps
            if (k > 0) opt.step(params, grads[size_t(k - 1)]);
            for (size_t i = 0; i < sizes.size(); ++i) {
                std::string name = "param." + std::to_string(i) + ".step" + std::to_string(k);
                INFO(name);
                CHECK(relative_difference(params[i],
                                          ref::to_doubles(ref::find_tensor(torch[ci], name))) <=
                      tolerance);
            }
        }
        // Parameters moved: a no-op on both sides would pass the comparisons above.
        CHECK(relative_difference(params[0], start[0]) > 1e-4);

        for (size_t i = 0; i < sizes.size(); ++i) {
            std::string prefix = "state." + std::to_string(i) + ".";
            std::set<std::string> torch_names;
            for (const ref::NamedArray& a : torch[ci])
                if (a.name.rfind(prefix, 0) == 0) torch_names.insert(a.name.substr(prefix.size()));
            std::set<std::string> naive_names;
            for (const auto& [name, values] : opt.state(i)) naive_names.insert(name);
            CHECK(naive_names == torch_names);
            for (const auto& [name, values] : opt.state(i)) {
                if (!torch_names.count(name)) continue;
                INFO(prefix << name);
                CHECK(relative_difference(
                          values, ref::to_doubles(ref::find_tensor(torch[ci], prefix + name))) <=
                      tolerance);
            }
        }
    }
}

TEST_CASE("optimizer reference: misspelt or inapplicable fields are errors") {
    REQUIRE_MESSAGE(ref::torch_unavailable_reason().empty(), ref::torch_unavailable_reason());
    std::vector<ref::NamedArray> inputs = ref::optimizer_reference_inputs({{1.0}}, {{{0.5}}});
    try {
        ref::run_optimizer_reference(R"({"name": "adam", "lr": 0.1, "rho": 0.9})", inputs);
        FAIL("an inapplicable field was accepted");
    } catch (const std::runtime_error& e) {
        CHECK(std::string(e.what()).find("rho") != std::string::npos);
    }
}
