// Tests of the naive optimizers on their own: closed-form first steps, L1, specs and state names.
#include <doctest/doctest.h>

#include <cmath>
#include <nlohmann/json.hpp>
#include <set>
#include <stdexcept>
#include <string>
#include <vector>

#include "tests/reference/naive_ops.h"
#include "tests/reference/naive_optim.h"

namespace ref = cnnc::reference;

namespace {

std::set<std::string> state_names(const ref::OptimizerState& s) {
    std::set<std::string> names;
    for (const auto& [name, values] : s) names.insert(name);
    return names;
}

}  // namespace

TEST_CASE("naive momentum SGD agrees with sgd_momentum_step") {
    ref::SequentialNet net(1, 1, 1);
    net.flatten().dense("dense", 3);
    net.randomize(1);
    std::mt19937_64 rng(2);
    ref::OptimizerSpec spec = ref::OptimizerSpec::defaults("momentum");
    spec.lr = 0.05;
    std::vector<std::vector<double>> params;
    for (const ref::Param& p : net.params()) params.push_back(p.values);
    ref::NaiveOptimizer opt(spec, {params[0].size(), params[1].size()});
    std::vector<std::vector<double>> velocity;
    for (int step = 0; step < 4; ++step) {
        std::vector<std::vector<double>> grads{ref::random_values(params[0].size(), rng),
                                               ref::random_values(params[1].size(), rng)};
        opt.step(params, grads);
        ref::sgd_momentum_step(net, grads, velocity, spec.lr, spec.momentum);
    }
    for (size_t i = 0; i < params.size(); ++i) {
        CHECK(params[i] == net.params()[i].values);
        CHECK(opt.state(i).at("momentum_buffer") == velocity[i]);
    }
    CHECK(opt.steps_taken() == 4);
}

TEST_CASE("naive optimizers: closed-form first steps") {
    std::vector<std::vector<double>> p0{{0.5, -1.0, 2.0}};
    std::vector<std::vector<double>> g{{0.3, -2.0, 1e-3}};
    SUBCASE("adam and adagrad take a first step of lr * g / (|g| + eps)") {
        for (const char* name : {"adam", "adagrad"}) {
            INFO(name);
            ref::OptimizerSpec spec = ref::OptimizerSpec::defaults(name);
            spec.lr = 0.1;
            auto p = p0;
            ref::NaiveOptimizer opt(spec, {3});
            opt.step(p, g);
            for (size_t k = 0; k < 3; ++k)
                CHECK(p[0][k] == doctest::Approx(p0[0][k] - 0.1 * g[0][k] /
                                                                (std::abs(g[0][k]) + spec.eps))
                                     .epsilon(1e-12));
            CHECK(opt.state(0).at("step") == std::vector<double>{1.0});
        }
    }
    SUBCASE("rmsprop: the first step divides by sqrt(1 - alpha) |g|") {
        ref::OptimizerSpec spec = ref::OptimizerSpec::defaults("rmsprop");
        auto p = p0;
        ref::NaiveOptimizer opt(spec, {3});
        opt.step(p, g);
        for (size_t k = 0; k < 3; ++k)
            CHECK(p[0][k] ==
                  doctest::Approx(p0[0][k] - spec.lr * g[0][k] /
                                                 (std::sqrt(1 - spec.alpha) * std::abs(g[0][k]) +
                                                  spec.eps))
                      .epsilon(1e-12));
    }
    SUBCASE("adadelta: delta = sqrt(eps) / sqrt((1 - rho) g^2 + eps) * g") {
        ref::OptimizerSpec spec = ref::OptimizerSpec::defaults("adadelta");
        auto p = p0;
        ref::NaiveOptimizer opt(spec, {3});
        opt.step(p, g);
        for (size_t k = 0; k < 3; ++k) {
            double delta = std::sqrt(spec.eps) /
                           std::sqrt((1 - spec.rho) * g[0][k] * g[0][k] + spec.eps) * g[0][k];
            CHECK(p[0][k] == doctest::Approx(p0[0][k] - spec.lr * delta).epsilon(1e-12));
        }
    }
    SUBCASE("nesterov looks ahead: p -= lr * (g + m * buf)") {
        ref::OptimizerSpec spec = ref::OptimizerSpec::defaults("nesterov");
        auto p = p0;
        ref::NaiveOptimizer opt(spec, {3});
        opt.step(p, g);
        for (size_t k = 0; k < 3; ++k)
            CHECK(p[0][k] == doctest::Approx(p0[0][k] - 0.01 * 1.9 * g[0][k]).epsilon(1e-14));
    }
    SUBCASE("adamw decays the weights before the Adam step") {
        ref::OptimizerSpec spec = ref::OptimizerSpec::defaults("adamw");
        spec.weight_decay = 0.5;
        auto p = p0;
        ref::NaiveOptimizer opt(spec, {3});
        opt.step(p, g);
        for (size_t k = 0; k < 3; ++k)
            CHECK(p[0][k] == doctest::Approx(p0[0][k] * (1 - spec.lr * 0.5) -
                                             spec.lr * g[0][k] / (std::abs(g[0][k]) + spec.eps))
                                 .epsilon(1e-12));
    }
}

TEST_CASE("naive optimizers: L1 adds l1 * sign(w) to the gradient, sign(0) = 0") {
    ref::OptimizerSpec spec = ref::OptimizerSpec::defaults("sgd");
    spec.lr = 0.5;
    spec.l1 = 0.1;
    std::vector<std::vector<double>> p{{2.0, -3.0, 0.0}};
    ref::NaiveOptimizer opt(spec, {3});
    opt.step(p, {{0.0, 0.0, 0.0}});
    CHECK(p[0] == std::vector<double>{2.0 - 0.05, -3.0 + 0.05, 0.0});
}

TEST_CASE("naive optimizers: state names, specs and errors") {
    struct Expect {
        const char* name;
        std::set<std::string> state;
    };
    const Expect expected[] = {
        {"sgd", {}},
        {"momentum", {"momentum_buffer"}},
        {"nesterov", {"momentum_buffer"}},
        {"adagrad", {"step", "sum"}},
        {"adadelta", {"step", "square_avg", "acc_delta"}},
        {"rmsprop", {"step", "square_avg"}},
        {"adam", {"step", "exp_avg", "exp_avg_sq"}},
        {"adamw", {"step", "exp_avg", "exp_avg_sq"}},
    };
    for (const Expect& e : expected) {
        INFO(e.name);
        ref::OptimizerSpec spec = ref::OptimizerSpec::defaults(e.name);
        ref::NaiveOptimizer opt(spec, {2});
        std::vector<std::vector<double>> p{{1.0, 2.0}};
        opt.step(p, {{0.5, -0.5}});
        CHECK(state_names(opt.state(0)) == e.state);
        nlohmann::json j = nlohmann::json::parse(spec.to_json());
        CHECK(j.at("name") == e.name);
        CHECK(j.at("lr").get<double>() == spec.lr);
        CHECK(j.contains("l1"));
    }
    ref::OptimizerSpec rms = ref::OptimizerSpec::defaults("rmsprop");
    rms.momentum = 0.5;
    rms.centered = true;
    ref::NaiveOptimizer opt(rms, {1});
    CHECK(state_names(opt.state(0)) ==
          std::set<std::string>{"step", "square_avg", "momentum_buffer", "grad_avg"});
    ref::OptimizerSpec adam = ref::OptimizerSpec::defaults("adam");
    adam.amsgrad = true;
    adam.beta2 = 0.25;
    CHECK(ref::NaiveOptimizer(adam, {1}).state(0).count("max_exp_avg_sq") == 1);
    nlohmann::json j = nlohmann::json::parse(adam.to_json());
    CHECK(j.at("betas")[1].get<double>() == 0.25);
    CHECK(j.at("amsgrad") == true);
    CHECK_FALSE(j.contains("rho"));  // fields that do not apply are left out

    CHECK_THROWS_AS(ref::OptimizerSpec::defaults("lion"), std::invalid_argument);
    ref::OptimizerSpec bad = ref::OptimizerSpec::defaults("momentum");
    bad.momentum = 0;
    CHECK_THROWS_AS(ref::NaiveOptimizer(bad, {1}), std::invalid_argument);
    ref::OptimizerSpec scheduled = ref::OptimizerSpec::defaults("sgd");
    scheduled.lr_per_step = {0.5, 0.25};
    CHECK(nlohmann::json::parse(scheduled.to_json()).at("lr_per_step") ==
          nlohmann::json::array({0.5, 0.25}));
    ref::NaiveOptimizer decaying(scheduled, {1});
    std::vector<std::vector<double>> w{{1.0}};
    decaying.step(w, {{1.0}});
    decaying.step(w, {{1.0}});
    CHECK(w[0][0] == 1.0 - 0.5 - 0.25);
    CHECK_THROWS_AS(decaying.step(w, {{1.0}}), std::invalid_argument);

    ref::NaiveOptimizer two(ref::OptimizerSpec::defaults("sgd"), {2});
    std::vector<std::vector<double>> wrong{{1.0}};
    CHECK_THROWS_AS(two.step(wrong, {{1.0}}), std::invalid_argument);
}
