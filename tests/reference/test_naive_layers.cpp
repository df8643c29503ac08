// Tests of the naive references for the rest of cnnc's op set: known answers for each forward,
// finite differences for each backward.
#include <doctest/doctest.h>

#include <cmath>
#include <stdexcept>
#include <string>
#include <vector>

#include "tests/reference/naive_ops.h"
#include "tests/reference/test_util.h"

namespace ref = cnnc::reference;
using ref::test::act_like;
using ref::test::check_all;
using ref::test::product;
using ref::test::weighted_sum;
using ref::test::window;

TEST_CASE("avg_pool: known answers for both divisor modes") {
    ref::Act ones(1, 3, 3, 1);
    ones.v.assign(9, 1.0);
    ref::Window w = window(2, 2, 2, 2, 1, 1, {1, 0, 1, 0});  // 4x4 padded, windows of 2x2
    ref::Act include = ref::avg_pool_forward(ones, w, true);
    ref::Act exclude = ref::avg_pool_forward(ones, w, false);
    REQUIRE(include.w == 2);
    REQUIRE(include.h == 2);
    // The top-left window covers one real pixel, the top-right two, the bottom-right four.
    CHECK(include.at(0, 0, 0, 0) == 0.25);
    CHECK(include.at(0, 1, 0, 0) == 0.5);
    CHECK(include.at(0, 1, 1, 0) == 1.0);
    for (double v : exclude.v) CHECK(v == 1.0);
    // A window of padding only has no real pixel to divide by.
    CHECK_THROWS_AS(ref::avg_pool_forward(ones, window(1, 1, 1, 1, 1, 1, {1, 0, 0, 0}), false),
                    std::invalid_argument);
}

TEST_CASE("avg_pool and l2_pool backward match finite differences") {
    const ref::Window windows[] = {
        window(2, 2, 2, 2),
        window(3, 3, 2, 2, 1, 1, {1, 1, 1, 1}),
        window(3, 2, 1, 2, 1, 1, {0, 2, 1, 0}),
        window(2, 2, 1, 1, 2, 2, {1, 0, 0, 1}),
    };
    uint64_t seed = 100;
    for (const ref::Window& w : windows) {
        INFO("window " << w.kernel_h << "x" << w.kernel_w << " stride " << w.stride_h << "x"
                       << w.stride_w << " pads " << w.pads.top << w.pads.bottom << w.pads.left
                       << w.pads.right);
        std::mt19937_64 rng(seed++);
        ref::Act in = ref::random_act(3, 7, 6, 2, rng);
        for (bool include : {true, false}) {
            ref::Act out = ref::avg_pool_forward(in, w, include);
            std::vector<double> r = ref::random_values(out.size(), rng);
            ref::Act g = ref::avg_pool_backward(in, w, include, act_like(out, r));
            check_all(
                include ? "avg include pad" : "avg exclude pad",
                [&] { return weighted_sum(ref::avg_pool_forward(in, w, include), r); }, in.v,
                g.v);
        }
        ref::Act out = ref::l2_pool_forward(in, w);
        std::vector<double> r = ref::random_values(out.size(), rng);
        ref::Act g = ref::l2_pool_backward(in, w, act_like(out, r));
        check_all(
            "l2", [&] { return weighted_sum(ref::l2_pool_forward(in, w), r); }, in.v, g.v);
    }
    ref::Act in(1, 2, 1, 1);
    in.v = {3.0, -4.0};
    CHECK(ref::l2_pool_forward(in, window(1, 2)).v[0] == doctest::Approx(5.0).epsilon(1e-15));
}

TEST_CASE("global pools: known answers and finite differences") {
    std::mt19937_64 rng(110);
    ref::Act in = ref::random_act(3, 5, 4, 2, rng);
    ref::Act avg = ref::global_avg_pool_forward(in);
    ref::Act max = ref::global_max_pool_forward(in);
    REQUIRE(avg.c == 3);
    REQUIRE(avg.w == 1);
    REQUIRE(avg.h == 1);
    for (int64_t n = 0; n < 2; ++n)
        for (int64_t c = 0; c < 3; ++c) {
            double sum = 0, best = -1e300;
            for (int64_t y = 0; y < 4; ++y)
                for (int64_t x = 0; x < 5; ++x) {
                    sum += in.at(c, x, y, n);
                    best = std::max(best, in.at(c, x, y, n));
                }
            CHECK(avg.at(c, 0, 0, n) == doctest::Approx(sum / 20).epsilon(1e-14));
            CHECK(max.at(c, 0, 0, n) == best);
        }
    std::vector<double> r = ref::random_values(avg.size(), rng);
    check_all(
        "global avg", [&] { return weighted_sum(ref::global_avg_pool_forward(in), r); }, in.v,
        ref::global_avg_pool_backward(in, act_like(avg, r)).v);
    check_all(
        "global max", [&] { return weighted_sum(ref::global_max_pool_forward(in), r); }, in.v,
        ref::global_max_pool_backward(in, act_like(max, r)).v);

    ref::Act ties(1, 2, 2, 1);
    ties.v.assign(4, 2.0);
    ref::Act one(1, 1, 1, 1);
    one.v = {1.0};
    CHECK(ref::global_max_pool_backward(ties, one).v == std::vector<double>{1.0, 0.0, 0.0, 0.0});
}

TEST_CASE("element-wise activations: known answers and finite differences") {
    ref::Act probe = ref::Act::flat(3, 1);
    probe.v = {-2.0, 0.0, 1.5};
    CHECK(ref::sigmoid_forward(probe).v[1] == 0.5);
    CHECK(ref::tanh_forward(probe).v[2] == doctest::Approx(std::tanh(1.5)));
    CHECK(ref::leaky_relu_forward(probe, 0.1).v == std::vector<double>{-0.2, 0.0, 1.5});
    CHECK(ref::elu_forward(probe, 0.5).v[0] == doctest::Approx(0.5 * (std::exp(-2.0) - 1)));
    ref::Act ones = act_like(probe, {1.0, 1.0, 1.0});
    CHECK(ref::leaky_relu_backward(probe, 0.1, ones).v[1] == 0.1);  // slope alpha at zero
    CHECK(ref::elu_backward(probe, 0.5, ones).v[1] == 0.5);

    std::mt19937_64 rng(120);
    ref::Act in = ref::random_act(3, 4, 3, 2, rng, -3.0, 3.0);
    std::vector<double> r = ref::random_values(in.size(), rng);
    ref::Act grad = act_like(in, r);
    check_all(
        "sigmoid", [&] { return weighted_sum(ref::sigmoid_forward(in), r); }, in.v,
        ref::sigmoid_backward(in, grad).v);
    check_all(
        "tanh", [&] { return weighted_sum(ref::tanh_forward(in), r); }, in.v,
        ref::tanh_backward(in, grad).v);
    check_all(
        "leaky_relu", [&] { return weighted_sum(ref::leaky_relu_forward(in, 0.2), r); }, in.v,
        ref::leaky_relu_backward(in, 0.2, grad).v);
    check_all(
        "elu", [&] { return weighted_sum(ref::elu_forward(in, 0.7), r); }, in.v,
        ref::elu_backward(in, 0.7, grad).v);
}

TEST_CASE("log_softmax: agrees with log(softmax) and matches finite differences") {
    std::mt19937_64 rng(130);
    ref::Act logits = ref::random_act(5, 1, 1, 3, rng, -4.0, 4.0);
    ref::Act logp = ref::log_softmax_forward(logits);
    ref::Act p = ref::softmax_forward(logits);
    for (size_t i = 0; i < p.v.size(); ++i)
        CHECK(logp.v[i] == doctest::Approx(std::log(p.v[i])).epsilon(1e-13));
    std::vector<double> r = ref::random_values(logits.size(), rng);
    check_all(
        "log_softmax", [&] { return weighted_sum(ref::log_softmax_forward(logits), r); },
        logits.v, ref::log_softmax_backward(logits, act_like(logits, r)).v);
}

TEST_CASE("add, concat, zero_pad, reshape and dropout: layouts and gradients") {
    std::mt19937_64 rng(140);
    std::vector<ref::Act> xs{ref::random_act(2, 3, 4, 2, rng), ref::random_act(3, 3, 4, 2, rng),
                             ref::random_act(1, 3, 4, 2, rng)};

    SUBCASE("add") {
        std::vector<ref::Act> same{xs[0], ref::random_act(2, 3, 4, 2, rng)};
        ref::Act sum = ref::add_forward(same);
        for (size_t i = 0; i < sum.v.size(); ++i)
            CHECK(sum.v[i] == same[0].v[i] + same[1].v[i]);
        std::vector<double> r = ref::random_values(sum.size(), rng);
        std::vector<ref::Act> g = ref::add_backward(act_like(sum, r), 2);
        REQUIRE(g.size() == 2);
        for (size_t k = 0; k < 2; ++k)
            check_all(
                "add input " + std::to_string(k),
                [&] { return weighted_sum(ref::add_forward(same), r); }, same[k].v, g[k].v,
                {1e-5, 1e-6, 1e-3, 1e-6});
        CHECK_THROWS_AS(ref::add_forward({xs[0], xs[1]}), std::invalid_argument);
    }
    SUBCASE("concat") {
        ref::Act cat = ref::concat_forward(xs);
        REQUIRE(cat.c == 6);
        CHECK(cat.at(0, 2, 3, 1) == xs[0].at(0, 2, 3, 1));
        CHECK(cat.at(4, 1, 2, 0) == xs[1].at(2, 1, 2, 0));
        CHECK(cat.at(5, 0, 1, 1) == xs[2].at(0, 0, 1, 1));
        std::vector<double> r = ref::random_values(cat.size(), rng);
        std::vector<int64_t> channels{2, 3, 1};
        std::vector<ref::Act> g = ref::concat_backward(act_like(cat, r), channels);
        for (size_t k = 0; k < 3; ++k)
            check_all(
                "concat input " + std::to_string(k),
                [&] { return weighted_sum(ref::concat_forward(xs), r); }, xs[k].v, g[k].v,
                {1e-5, 1e-6, 1e-3, 1e-6});
    }
    SUBCASE("zero_pad") {
        ref::Pads pads{1, 2, 0, 3};
        ref::Act padded = ref::zero_pad_forward(xs[1], pads);
        REQUIRE(padded.w == 6);
        REQUIRE(padded.h == 7);
        CHECK(padded.at(2, 0, 1, 1) == xs[1].at(2, 0, 0, 1));
        CHECK(padded.at(2, 3, 1, 1) == 0.0);
        CHECK(padded.at(0, 0, 0, 0) == 0.0);
        std::vector<double> r = ref::random_values(padded.size(), rng);
        check_all(
            "zero_pad", [&] { return weighted_sum(ref::zero_pad_forward(xs[1], pads), r); },
            xs[1].v, ref::zero_pad_backward(act_like(padded, r), pads).v,
            {1e-5, 1e-6, 1e-3, 1e-6});
    }
    SUBCASE("reshape") {
        // 3x4x3 (c, h, w) -> 4x3x3: element (c, y, x) sits at row-major c*12 + y*3 + x both ways.
        ref::Act out = ref::reshape_forward(xs[1], 4, 3, 3);
        REQUIRE(out.c == 4);
        for (int64_t n = 0; n < 2; ++n)
            for (int64_t c = 0; c < 3; ++c)
                for (int64_t y = 0; y < 4; ++y)
                    for (int64_t x = 0; x < 3; ++x) {
                        int64_t f = c * 12 + y * 3 + x;
                        CHECK(out.at(f / 9, f % 3, (f / 3) % 3, n) == xs[1].at(c, x, y, n));
                    }
        ref::Act flat = ref::reshape_forward(xs[1], 36, 1, 1);
        CHECK(flat.v == ref::flatten_forward(xs[1]).v);
        CHECK_THROWS_AS(ref::reshape_forward(xs[1], 5, 3, 3), std::invalid_argument);
    }
    SUBCASE("dropout") {
        ref::Act mask = xs[0];
        for (double& m : mask.v) m = m > 0 ? 1.0 : 0.0;
        ref::Act out = ref::dropout_forward(xs[0], mask, 0.25);
        for (size_t i = 0; i < out.v.size(); ++i)
            CHECK(out.v[i] == doctest::Approx(mask.v[i] * xs[0].v[i] / 0.75).epsilon(1e-15));
        std::vector<double> r = ref::random_values(out.size(), rng);
        check_all(
            "dropout", [&] { return weighted_sum(ref::dropout_forward(xs[0], mask, 0.25), r); },
            xs[0].v, ref::dropout_backward(act_like(out, r), mask, 0.25).v,
            {1e-5, 1e-6, 1e-3, 1e-6});
    }
}

TEST_CASE("batch_norm: statistics, running averages and gradients") {
    std::mt19937_64 rng(150);
    for (bool flat : {false, true}) {
        INFO((flat ? "flat input" : "CxHxW input"));
        ref::Act in = flat ? ref::random_act(4, 1, 1, 5, rng, -2.0, 3.0)
                           : ref::random_act(3, 4, 3, 2, rng, -2.0, 3.0);
        size_t c = size_t(in.c);
        std::vector<double> gamma = ref::random_values(c, rng, 0.5, 1.5);
        std::vector<double> beta = ref::random_values(c, rng);
        std::vector<double> rmean = ref::random_values(c, rng);
        std::vector<double> rvar = ref::random_values(c, rng, 0.5, 1.5);
        ref::BatchNormSpec train{1e-3, 0.2, true};
        ref::BatchNormSpec infer{1e-3, 0.2, false};

        ref::BatchNormForward f = ref::batch_norm_forward(in, train, gamma, beta, rmean, rvar);
        // Normalised output: per channel mean beta and biased variance gamma^2 var / (var + eps).
        double count = double(in.n * in.h * in.w);
        for (size_t k = 0; k < c; ++k) {
            double m = 0, v = 0, raw_m = 0, raw_v = 0;
            for (size_t i = k; i < in.v.size(); i += c) {
                m += f.out.v[i];
                raw_m += in.v[i];
            }
            m /= count;
            raw_m /= count;
            for (size_t i = k; i < in.v.size(); i += c) {
                v += (f.out.v[i] - m) * (f.out.v[i] - m);
                raw_v += (in.v[i] - raw_m) * (in.v[i] - raw_m);
            }
            v /= count;
            raw_v /= count;
            CHECK(m == doctest::Approx(beta[k]).epsilon(1e-12));
            CHECK(v == doctest::Approx(gamma[k] * gamma[k] * raw_v / (raw_v + 1e-3)).epsilon(1e-12));
            CHECK(f.running_mean[k] == doctest::Approx(0.8 * rmean[k] + 0.2 * raw_m).epsilon(1e-14));
            CHECK(f.running_var[k] ==
                  doctest::Approx(0.8 * rvar[k] + 0.2 * raw_v * count / (count - 1)).epsilon(1e-14));
        }
        ref::BatchNormForward fi = ref::batch_norm_forward(in, infer, gamma, beta, rmean, rvar);
        CHECK(fi.running_mean == rmean);
        CHECK(fi.out.v[1] ==
              doctest::Approx(gamma[1] * (in.v[1] - rmean[1]) / std::sqrt(rvar[1] + 1e-3) + beta[1]));

        for (const ref::BatchNormSpec& spec : {train, infer}) {
            INFO((spec.training ? "training" : "inference"));
            std::vector<double> r = ref::random_values(in.size(), rng);
            ref::BatchNormGrads g =
                ref::batch_norm_backward(in, spec, gamma, rmean, rvar, act_like(in, r));
            auto loss = [&] {
                return weighted_sum(
                    ref::batch_norm_forward(in, spec, gamma, beta, rmean, rvar).out, r);
            };
            check_all("input", loss, in.v, g.input.v);
            check_all("gamma", loss, gamma, g.weight);
            check_all("beta", loss, beta, g.bias);
        }
    }
    ref::Act single(2, 1, 1, 1);
    std::vector<double> two(2, 1.0);
    CHECK_THROWS_AS(ref::batch_norm_forward(single, {}, two, two, two, two), std::invalid_argument);
}

TEST_CASE("mse and label-smoothed cross-entropy") {
    std::mt19937_64 rng(160);
    ref::Act x = ref::random_act(3, 2, 2, 2, rng);
    ref::Act t = ref::random_act(3, 2, 2, 2, rng);
    double expected = 0;
    for (size_t i = 0; i < x.v.size(); ++i) expected += (x.v[i] - t.v[i]) * (x.v[i] - t.v[i]);
    CHECK(ref::mse_forward(x, t) == doctest::Approx(expected / 24).epsilon(1e-14));
    check_all(
        "mse", [&] { return 1.3 * ref::mse_forward(x, t); }, x.v, ref::mse_backward(x, t, 1.3).v);

    ref::Act logits = ref::random_act(5, 1, 1, 4, rng, -3.0, 3.0);
    std::vector<int32_t> labels = ref::random_labels(4, 5, rng);
    CHECK(ref::smoothed_cross_entropy_forward(logits, labels, 0.0) ==
          doctest::Approx(ref::softmax_cross_entropy_forward(logits, labels)).epsilon(1e-14));
    // s = 1 is the cross-entropy against the uniform distribution: mean of -log p over classes.
    ref::Act logp = ref::log_softmax_forward(logits);
    double uniform = 0;
    for (double v : logp.v) uniform -= v / 5;
    CHECK(ref::smoothed_cross_entropy_forward(logits, labels, 1.0) ==
          doctest::Approx(uniform / 4).epsilon(1e-13));
    for (double s : {0.0, 0.1, 0.35}) {
        INFO("label smoothing " << s);
        check_all(
            "smoothed cross-entropy",
            [&] { return 0.8 * ref::smoothed_cross_entropy_forward(logits, labels, s); },
            logits.v, ref::smoothed_cross_entropy_backward(logits, labels, s, 0.8).v);
    }
}

TEST_CASE("transposed_conv2d: the adjoint of conv2d, and finite differences") {
    SUBCASE("<conv(x), y> = <x, conv_transpose(y)> with the weight re-indexed") {
        // conv: Cin 3 -> Cout 4, 7x7, stride 2x1, dilation 1x2, pads {1, 0, 2, 1}.
        std::mt19937_64 rng(170);
        ref::Conv2dSpec conv;
        conv.filters = 4;
        conv.window = window(3, 2, 2, 1, 1, 2, {1, 0, 2, 1});
        conv.bias = false;
        ref::Act x = ref::random_act(3, 7, 7, 2, rng);
        std::vector<int64_t> ce = ref::conv2d_weight_extents(conv, 3);  // (4, 2, 3, 3)
        std::vector<double> w = ref::random_values(size_t(product(ce)), rng);
        ref::Act cx = ref::conv2d_forward(x, conv, w, {});

        ref::TransposedConv2dSpec tr;
        tr.filters = 3;
        tr.window = conv.window;
        tr.bias = false;
        // The transposed output must have the conv input's extent: the rows the conv's floor
        // division dropped come back as output padding.
        int64_t full_h = ref::transposed_window_output(cx.h, 1, 0, 3, 2, 1, 0);
        int64_t full_w = ref::transposed_window_output(cx.w, 2, 1, 2, 1, 2, 0);
        tr.output_padding_h = 7 - full_h;
        tr.output_padding_w = 7 - full_w;
        REQUIRE(tr.output_padding_h == 1);  // the conv dropped the last row
        REQUIRE(tr.output_padding_w == 0);
        std::vector<int64_t> te = ref::transposed_conv2d_weight_extents(tr, 4);
        CHECK(te == std::vector<int64_t>{3, 2, 3, 4});
        // conv weight (co, kx, ky, ci) -> transposed weight (co_g = ci, kx, ky, ci' = co).
        std::vector<double> wt(w.size());
        for (int64_t ci = 0; ci < 3; ++ci)
            for (int64_t ky = 0; ky < 3; ++ky)
                for (int64_t kx = 0; kx < 2; ++kx)
                    for (int64_t co = 0; co < 4; ++co)
                        wt[size_t(ci + 3 * (kx + 2 * (ky + 3 * co)))] =
                            w[size_t(co + 4 * (kx + 2 * (ky + 3 * ci)))];
        ref::Act y = ref::random_act(cx.c, cx.w, cx.h, cx.n, rng);
        ref::Act ty = ref::transposed_conv2d_forward(y, tr, wt, {});
        REQUIRE(ty.same_shape(x));
        double lhs = weighted_sum(cx, y.v), rhs = weighted_sum(ty, x.v);
        CHECK(lhs == doctest::Approx(rhs).epsilon(1e-13));
        // The input gradient of the conv is the transposed conv of its output gradient.
        ref::Conv2dGrads cg = ref::conv2d_backward(x, conv, w, y);
        for (size_t i = 0; i < ty.v.size(); ++i)
            CHECK(cg.input.v[i] == doctest::Approx(ty.v[i]).epsilon(1e-13));
    }
    SUBCASE("finite differences") {
        struct Config {
            const char* name;
            int64_t c, w, h, n, filters;
            ref::Window window;
            int64_t groups;
            bool bias;
            int64_t op_h, op_w;
        };
        const Config configs[] = {
            {"3x3 stride 2 pad 1 output padding 1", 3, 4, 5, 2, 4,
             window(3, 3, 2, 2, 1, 1, {1, 1, 1, 1}), 1, true, 1, 1},
            {"groups 2 skewed pads dilation", 4, 3, 4, 1, 6, window(2, 3, 2, 1, 1, 2, {0, 1, 2, 0}),
             2, false, 1, 0},
            {"1x1 stride 1", 2, 3, 3, 2, 3, window(1, 1), 1, true, 0, 0},
        };
        uint64_t seed = 180;
        for (const Config& cfg : configs) {
            INFO("config: " << std::string(cfg.name));
            std::mt19937_64 rng(seed++);
            ref::TransposedConv2dSpec spec;
            spec.filters = cfg.filters;
            spec.window = cfg.window;
            spec.groups = cfg.groups;
            spec.bias = cfg.bias;
            spec.output_padding_h = cfg.op_h;
            spec.output_padding_w = cfg.op_w;
            ref::Act in = ref::random_act(cfg.c, cfg.w, cfg.h, cfg.n, rng);
            std::vector<double> w = ref::random_values(
                size_t(product(ref::transposed_conv2d_weight_extents(spec, cfg.c))), rng);
            std::vector<double> b =
                cfg.bias ? ref::random_values(size_t(cfg.filters), rng) : std::vector<double>{};
            ref::Act out = ref::transposed_conv2d_forward(in, spec, w, b);
            CHECK(out.h == (cfg.h - 1) * cfg.window.stride_h - cfg.window.pads.top -
                               cfg.window.pads.bottom +
                               cfg.window.dilation_h * (cfg.window.kernel_h - 1) + cfg.op_h + 1);
            std::vector<double> r = ref::random_values(out.size(), rng);
            ref::Conv2dGrads g = ref::transposed_conv2d_backward(in, spec, w, act_like(out, r));
            auto loss = [&] {
                return weighted_sum(ref::transposed_conv2d_forward(in, spec, w, b), r);
            };
            check_all("input", loss, in.v, g.input.v);
            check_all("weight", loss, w, g.weight);
            if (cfg.bias) check_all("bias", loss, b, g.bias);
        }
    }
}
