// Tests of the naive reference itself: known answers for each forward, finite differences for each
// backward, the kink-aware probe, and the sequential evaluator on LeNet-5.
#include <doctest/doctest.h>

#include <cmath>
#include <stdexcept>
#include <string>
#include <vector>

#include "tests/reference/naive_ops.h"

namespace ref = cnnc::reference;

namespace {

// L = sum(out * r): its gradient with respect to `out` is r, so backward(r) must equal dL/dinput.
double weighted_sum(const ref::Act& out, const std::vector<double>& r) {
    REQUIRE(out.v.size() == r.size());
    double s = 0;
    for (size_t i = 0; i < r.size(); ++i) s += out.v[i] * r[i];
    return s;
}

// Checks every entry of `values` (or the given sample) and requires at least one smooth probe.
void check_all(const std::string& what, const std::function<double()>& f,
               std::vector<double>& values, const std::vector<double>& analytic,
               const ref::FiniteDifferenceOptions& options = {},
               const std::vector<size_t>& indices = {}) {
    ref::GradientCheckReport report = ref::check_gradient(f, values, analytic, indices, options);
    INFO(what << ": " << report.summary());
    CHECK(report.failed == 0);
    CHECK(report.checked > 0);
    // Random inputs almost never sit within eps of a kink; many skips would mean a broken probe.
    CHECK(report.skipped_kinks * 10 <= report.checked + report.skipped_kinks);
}

ref::Window window(int64_t kh, int64_t kw, int64_t sh = 1, int64_t sw = 1, int64_t dh = 1,
                   int64_t dw = 1, ref::Pads pads = {}) {
    ref::Window w;
    w.kernel_h = kh, w.kernel_w = kw;
    w.stride_h = sh, w.stride_w = sw;
    w.dilation_h = dh, w.dilation_w = dw;
    w.pads = pads;
    return w;
}

ref::Conv2dSpec conv_spec(int64_t filters, const ref::Window& w, int64_t groups = 1,
                          bool bias = true) {
    ref::Conv2dSpec s;
    s.filters = filters;
    s.window = w;
    s.groups = groups;
    s.bias = bias;
    return s;
}

int64_t product(const std::vector<int64_t>& extents) {
    int64_t n = 1;
    for (int64_t e : extents) n *= e;
    return n;
}

}  // namespace

TEST_CASE("window_output follows floor((i + pt + pb - d(k-1) - 1) / s) + 1") {
    CHECK(ref::window_output(28, 2, 2, 5, 1, 1) == 28);
    CHECK(ref::window_output(28, 0, 0, 5, 1, 1) == 24);
    CHECK(ref::window_output(28, 0, 0, 2, 2, 1) == 14);
    CHECK(ref::window_output(7, 0, 1, 3, 2, 1) == 3);
    CHECK(ref::window_output(9, 1, 0, 3, 2, 2) == 3);
    CHECK(ref::window_output(5, 0, 0, 5, 3, 1) == 1);
    CHECK_THROWS_AS(ref::window_output(4, 0, 0, 3, 1, 2), std::invalid_argument);
}

TEST_CASE("conv2d forward: known answers") {
    SUBCASE("2x2 box filter with bias") {
        ref::Act in(1, 3, 3, 1);
        for (int64_t y = 0; y < 3; ++y)
            for (int64_t x = 0; x < 3; ++x) in.at(0, x, y, 0) = double(1 + x + 3 * y);
        std::vector<double> w(4, 1.0), b{0.5};
        ref::Act out = ref::conv2d_forward(in, conv_spec(1, window(2, 2)), w, b);
        REQUIRE(out.c == 1);
        REQUIRE(out.w == 2);
        REQUIRE(out.h == 2);
        CHECK(out.at(0, 0, 0, 0) == 12.5);
        CHECK(out.at(0, 1, 0, 0) == 16.5);
        CHECK(out.at(0, 0, 1, 0) == 24.5);
        CHECK(out.at(0, 1, 1, 0) == 28.5);
    }
    SUBCASE("weight layout (co, kx, ky, ci) innermost first") {
        // A single tap at co=1, kx=2, ky=1, ci=1 of a non-square kernel turns the convolution
        // into a shifted copy; swapping kx and ky or the channel order would move it.
        std::mt19937_64 rng(1);
        ref::Act in = ref::random_act(2, 5, 4, 2, rng);
        ref::Conv2dSpec spec = conv_spec(3, window(2, 3), 1, false);
        std::vector<int64_t> ext = ref::conv2d_weight_extents(spec, 2);
        CHECK(ext == std::vector<int64_t>{3, 3, 2, 2});
        std::vector<double> w(size_t(product(ext)), 0.0);
        w[size_t(1 + 3 * (2 + 3 * (1 + 2 * 1)))] = 1.0;
        ref::Act out = ref::conv2d_forward(in, spec, w, {});
        REQUIRE(out.w == 3);
        REQUIRE(out.h == 3);
        for (int64_t n = 0; n < 2; ++n)
            for (int64_t y = 0; y < 3; ++y)
                for (int64_t x = 0; x < 3; ++x)
                    for (int64_t co = 0; co < 3; ++co)
                        CHECK(out.at(co, x, y, n) == (co == 1 ? in.at(1, x + 2, y + 1, n) : 0.0));
    }
    SUBCASE("zero padding, symmetric and asymmetric") {
        ref::Act ones(1, 3, 3, 1);
        ones.v.assign(9, 1.0);
        std::vector<double> w(9, 1.0);
        ref::Act same =
            ref::conv2d_forward(ones, conv_spec(1, window(3, 3, 1, 1, 1, 1, {1, 1, 1, 1})), w, {});
        double expected[3][3] = {{4, 6, 4}, {6, 9, 6}, {4, 6, 4}};
        for (int64_t y = 0; y < 3; ++y)
            for (int64_t x = 0; x < 3; ++x) CHECK(same.at(0, x, y, 0) == expected[y][x]);

        // top 0, bottom 2, left 1, right 0: columns read {0,1} or {0,1,2}; rows 3, 2, 1 real.
        ref::Act skew =
            ref::conv2d_forward(ones, conv_spec(1, window(3, 3, 1, 1, 1, 1, {0, 2, 1, 0})), w, {});
        REQUIRE(skew.w == 2);
        REQUIRE(skew.h == 3);
        for (int64_t y = 0; y < 3; ++y)
            for (int64_t x = 0; x < 2; ++x)
                CHECK(skew.at(0, x, y, 0) == double((x == 0 ? 2 : 3) * (3 - y)));
    }
    SUBCASE("stride 2, dilation 2, left pad 1") {
        std::mt19937_64 rng(2);
        ref::Act in = ref::random_act(1, 9, 1, 1, rng);
        std::vector<double> w{10.0, 0.0, 100.0};  // taps at ix = 2x - 1 and 2x + 3
        ref::Act out =
            ref::conv2d_forward(in, conv_spec(1, window(1, 3, 1, 2, 1, 2, {0, 0, 1, 0})), w, {});
        REQUIRE(out.w == 3);
        auto at = [&](int64_t x) { return x >= 0 && x < 9 ? in.at(0, x, 0, 0) : 0.0; };
        for (int64_t x = 0; x < 3; ++x)
            CHECK(out.at(0, x, 0, 0) == doctest::Approx(10 * at(2 * x - 1) + 100 * at(2 * x + 3)));
    }
    SUBCASE("groups split channels into independent convolutions") {
        std::mt19937_64 rng(3);
        ref::Act in = ref::random_act(4, 5, 6, 2, rng);
        ref::Window win = window(3, 2, 1, 2, 1, 1, {1, 0, 0, 1});
        ref::Conv2dSpec grouped = conv_spec(6, win, 2);
        std::vector<double> w = ref::random_values(size_t(6 * 2 * 3 * 2), rng);
        std::vector<double> b = ref::random_values(6, rng);
        ref::Act out = ref::conv2d_forward(in, grouped, w, b);
        for (int64_t g = 0; g < 2; ++g) {
            ref::Act half(2, 5, 6, 2);
            for (int64_t n = 0; n < 2; ++n)
                for (int64_t y = 0; y < 6; ++y)
                    for (int64_t x = 0; x < 5; ++x)
                        for (int64_t c = 0; c < 2; ++c)
                            half.at(c, x, y, n) = in.at(2 * g + c, x, y, n);
            std::vector<double> wg(3 * 2 * 3 * 2), bg(3);
            for (int64_t co = 0; co < 3; ++co) {
                bg[size_t(co)] = b[size_t(3 * g + co)];
                for (int64_t rest = 0; rest < 2 * 3 * 2; ++rest)
                    wg[size_t(co + 3 * rest)] = w[size_t(3 * g + co + 6 * rest)];
            }
            ref::Act part = ref::conv2d_forward(half, conv_spec(3, win), wg, bg);
            for (int64_t n = 0; n < out.n; ++n)
                for (int64_t y = 0; y < out.h; ++y)
                    for (int64_t x = 0; x < out.w; ++x)
                        for (int64_t co = 0; co < 3; ++co)
                            CHECK(out.at(3 * g + co, x, y, n) ==
                                  doctest::Approx(part.at(co, x, y, n)).epsilon(1e-14));
        }
    }
    SUBCASE("bad shapes are reported") {
        ref::Act in(3, 5, 5, 1);
        std::vector<double> w(size_t(4 * 3 * 3 * 1));
        CHECK_THROWS_AS(ref::conv2d_forward(in, conv_spec(4, window(3, 3), 2), w, {}),
                        std::invalid_argument);
        CHECK_THROWS_AS(ref::conv2d_forward(in, conv_spec(4, window(3, 3)), w, {}),
                        std::invalid_argument);
    }
}

TEST_CASE("conv2d backward matches finite differences") {
    struct Config {
        const char* name;
        int64_t c, w, h, n, filters;
        ref::Window window;
        int64_t groups;
        bool bias;
    };
    const Config configs[] = {
        {"3x3 pad 1", 3, 5, 6, 2, 4, window(3, 3, 1, 1, 1, 1, {1, 1, 1, 1}), 1, true},
        {"stride 2 odd sizes skewed pads", 2, 7, 5, 1, 3, window(3, 2, 2, 2, 1, 1, {0, 1, 1, 0}), 1,
         true},
        {"dilation 2 no bias", 2, 7, 7, 2, 2, window(3, 3, 1, 1, 2, 2, {2, 2, 2, 2}), 1, false},
        {"groups 2 mixed stride dilation", 4, 5, 5, 2, 6, window(3, 3, 2, 1, 1, 2, {1, 0, 2, 1}), 2,
         true},
        {"1x1 groups 4", 4, 6, 5, 1, 4, window(1, 1), 4, true},
        {"5x5 same", 2, 4, 4, 1, 4, window(5, 5, 1, 1, 1, 1, {2, 2, 2, 2}), 1, true},
        {"stride 3x2 dilation 2x1 big pads", 3, 9, 8, 1, 2, window(3, 3, 3, 2, 2, 1, {3, 0, 0, 3}),
         1, true},
    };
    uint64_t seed = 10;
    for (const Config& cfg : configs) {
        INFO("config: " << std::string(cfg.name));
        std::mt19937_64 rng(seed++);
        ref::Conv2dSpec spec = conv_spec(cfg.filters, cfg.window, cfg.groups, cfg.bias);
        ref::Act in = ref::random_act(cfg.c, cfg.w, cfg.h, cfg.n, rng);
        std::vector<double> w =
            ref::random_values(size_t(product(ref::conv2d_weight_extents(spec, cfg.c))), rng);
        std::vector<double> b =
            cfg.bias ? ref::random_values(size_t(cfg.filters), rng) : std::vector<double>{};
        ref::Act out0 = ref::conv2d_forward(in, spec, w, b);
        std::vector<double> r = ref::random_values(out0.size(), rng);
        ref::Act grad_out = out0;
        grad_out.v = r;
        ref::Conv2dGrads g = ref::conv2d_backward(in, spec, w, grad_out);
        auto loss = [&] { return weighted_sum(ref::conv2d_forward(in, spec, w, b), r); };
        check_all("input", loss, in.v, g.input.v);
        check_all("weight", loss, w, g.weight);
        if (cfg.bias)
            check_all("bias", loss, b, g.bias);
        else
            CHECK(g.bias.empty());
    }
}

TEST_CASE("relu forward, backward and its kink margin") {
    std::mt19937_64 rng(20);
    ref::Act in = ref::random_act(3, 4, 5, 2, rng);
    double margin = std::numeric_limits<double>::infinity();
    ref::Act out = ref::relu_forward(in, &margin);
    double smallest = std::numeric_limits<double>::infinity();
    for (size_t i = 0; i < in.size(); ++i) {
        CHECK(out.v[i] == std::max(in.v[i], 0.0));
        smallest = std::min(smallest, std::abs(in.v[i]));
    }
    CHECK(margin == smallest);
    std::vector<double> r = ref::random_values(out.size(), rng);
    ref::Act grad_out = out;
    grad_out.v = r;
    ref::Act g = ref::relu_backward(in, grad_out);
    check_all(
        "input", [&] { return weighted_sum(ref::relu_forward(in), r); }, in.v, g.v);

    ref::Act zero(1, 1, 1, 1);
    ref::Act one = zero;
    one.v = {1.0};
    CHECK(ref::relu_backward(zero, one).v[0] == 0.0);  // PyTorch's convention at exactly zero
}

TEST_CASE("max_pool forward: known answers") {
    SUBCASE("2x2 stride 2") {
        ref::Act in(1, 4, 4, 1);
        for (int64_t y = 0; y < 4; ++y)
            for (int64_t x = 0; x < 4; ++x) in.at(0, x, y, 0) = double((x * 7 + y * 5) % 11);
        ref::Act out = ref::max_pool_forward(in, window(2, 2, 2, 2));
        REQUIRE(out.w == 2);
        REQUIRE(out.h == 2);
        for (int64_t y = 0; y < 2; ++y)
            for (int64_t x = 0; x < 2; ++x) {
                double m = -1;
                for (int64_t dy = 0; dy < 2; ++dy)
                    for (int64_t dx = 0; dx < 2; ++dx)
                        m = std::max(m, in.at(0, 2 * x + dx, 2 * y + dy, 0));
                CHECK(out.at(0, x, y, 0) == m);
            }
    }
    SUBCASE("padding reads as -inf, not zero") {
        ref::Act in(2, 3, 3, 1);
        in.v.assign(in.size(), -5.0);
        ref::Act out = ref::max_pool_forward(in, window(2, 2, 2, 2, 1, 1, {1, 1, 1, 1}));
        REQUIRE(out.w == 2);
        for (double v : out.v) CHECK(v == -5.0);
    }
    SUBCASE("ties route the gradient to the first element in (ky, kx) order") {
        ref::Act in(1, 2, 2, 1);
        in.v.assign(4, 3.0);
        double margin = 1.0;
        ref::Act out = ref::max_pool_forward(in, window(2, 2, 2, 2), &margin);
        CHECK(margin == 0.0);
        ref::Act grad_out = out;
        grad_out.v = {1.0};
        ref::Act g = ref::max_pool_backward(in, window(2, 2, 2, 2), grad_out);
        CHECK(g.v == std::vector<double>{1.0, 0.0, 0.0, 0.0});
    }
}

TEST_CASE("max_pool backward matches finite differences") {
    const ref::Window windows[] = {
        window(2, 2, 2, 2),
        window(3, 3, 2, 2, 1, 1, {1, 1, 1, 1}),  // overlapping windows, padding
        window(3, 2, 1, 2, 1, 1, {0, 2, 1, 0}),  // skewed pads
        window(2, 2, 1, 1, 2, 2, {1, 0, 0, 1}),  // dilation
        window(3, 3, 3, 3),                      // windows that drop the ragged edge
    };
    uint64_t seed = 30;
    for (const ref::Window& w : windows) {
        INFO("window " << w.kernel_h << "x" << w.kernel_w << " stride " << w.stride_h << "x"
                       << w.stride_w << " dilation " << w.dilation_h << "x" << w.dilation_w);
        std::mt19937_64 rng(seed++);
        ref::Act in = ref::random_act(3, 7, 6, 2, rng);
        double margin = std::numeric_limits<double>::infinity();
        ref::Act out = ref::max_pool_forward(in, w, &margin);
        CHECK(margin > 0);
        std::vector<double> r = ref::random_values(out.size(), rng);
        ref::Act grad_out = out;
        grad_out.v = r;
        ref::Act g = ref::max_pool_backward(in, w, grad_out);
        check_all(
            "input", [&] { return weighted_sum(ref::max_pool_forward(in, w), r); }, in.v, g.v);
    }
}

TEST_CASE("flatten uses PyTorch's (c, y, x) order and its backward inverts it") {
    ref::Act in(2, 3, 2, 2);
    for (int64_t n = 0; n < 2; ++n)
        for (int64_t y = 0; y < 2; ++y)
            for (int64_t x = 0; x < 3; ++x)
                for (int64_t c = 0; c < 2; ++c) in.at(c, x, y, n) = 1000 * n + 100 * c + 10 * y + x;
    ref::Act out = ref::flatten_forward(in);
    REQUIRE(out.is_flat());
    REQUIRE(out.c == 12);
    CHECK(out.at(0, 0) == 0);
    CHECK(out.at(4, 0) == 11);     // c 0, y 1, x 1
    CHECK(out.at(7, 0) == 101);    // c 1, y 0, x 1
    CHECK(out.at(11, 1) == 1112);  // c 1, y 1, x 2, n 1
    ref::Act back = ref::flatten_backward(out, 2, 3, 2);
    CHECK(back.v == in.v);

    std::mt19937_64 rng(40);
    std::vector<double> r = ref::random_values(out.size(), rng);
    ref::Act grad_out = out;
    grad_out.v = r;
    ref::Act g = ref::flatten_backward(grad_out, 2, 3, 2);
    check_all("input", [&] { return weighted_sum(ref::flatten_forward(in), r); }, in.v, g.v,
              {1e-5, 1e-6, 1e-3, 1e-6});
}

TEST_CASE("dense forward: known answer and layout (o, i) innermost first") {
    ref::Act in = ref::Act::flat(2, 1);
    in.v = {3.0, -2.0};
    std::vector<double> w(6);
    for (int64_t i = 0; i < 2; ++i)
        for (int64_t o = 0; o < 3; ++o) w[size_t(o + 3 * i)] = double(o + 10 * i);
    std::vector<double> b{0.5, 1.5, 2.5};
    ref::Act out = ref::dense_forward(in, 3, w, b);
    for (int64_t o = 0; o < 3; ++o)
        CHECK(out.at(o, 0) == double(o) * 3.0 + double(o + 10) * -2.0 + b[size_t(o)]);
    CHECK_THROWS_AS(ref::dense_forward(ref::Act(2, 2, 1, 1), 3, w, b), std::invalid_argument);
}

TEST_CASE("dense backward matches finite differences") {
    std::mt19937_64 rng(50);
    ref::Act in = ref::random_act(7, 1, 1, 3, rng);
    std::vector<double> w = ref::random_values(5 * 7, rng), b = ref::random_values(5, rng);
    std::vector<double> r = ref::random_values(5 * 3, rng);
    ref::Act grad_out = ref::Act::flat(5, 3);
    grad_out.v = r;
    ref::DenseGrads g = ref::dense_backward(in, 5, w, grad_out);
    auto loss = [&] { return weighted_sum(ref::dense_forward(in, 5, w, b), r); };
    check_all("input", loss, in.v, g.input.v);
    check_all("weight", loss, w, g.weight);
    check_all("bias", loss, b, g.bias);
}

TEST_CASE("softmax and softmax cross-entropy") {
    SUBCASE("known answers") {
        ref::Act zeros = ref::Act::flat(10, 2);
        std::vector<int32_t> labels{3, 7};
        CHECK(ref::softmax_cross_entropy_forward(zeros, labels) == doctest::Approx(std::log(10.0)));
        ref::Act l = ref::Act::flat(3, 1);
        l.v = {1.0, 2.0, 3.0};
        std::vector<int32_t> two{2};
        double expected = std::log(std::exp(1.0) + std::exp(2.0) + std::exp(3.0)) - 3.0;
        CHECK(ref::softmax_cross_entropy_forward(l, two) ==
              doctest::Approx(expected).epsilon(1e-14));
        // Large logits must not overflow: the max is subtracted first.
        l.v = {1000.0, 1001.0, 1002.0};
        CHECK(ref::softmax_cross_entropy_forward(l, two) ==
              doctest::Approx(expected).epsilon(1e-12));
        ref::Act p = ref::softmax_forward(l);
        CHECK(p.v[0] + p.v[1] + p.v[2] == doctest::Approx(1.0).epsilon(1e-15));
        std::vector<int32_t> bad{3};
        CHECK_THROWS_AS(ref::softmax_cross_entropy_forward(l, bad), std::invalid_argument);
    }
    SUBCASE("backward passes match finite differences") {
        std::mt19937_64 rng(60);
        ref::Act logits = ref::random_act(6, 1, 1, 4, rng, -3.0, 3.0);
        std::vector<int32_t> labels = ref::random_labels(4, 6, rng);
        ref::Act g = ref::softmax_cross_entropy_backward(logits, labels, 1.7);
        check_all(
            "cross-entropy",
            [&] { return 1.7 * ref::softmax_cross_entropy_forward(logits, labels); }, logits.v,
            g.v);

        std::vector<double> r = ref::random_values(logits.size(), rng);
        ref::Act grad_p = logits;
        grad_p.v = r;
        ref::Act gs = ref::softmax_backward(ref::softmax_forward(logits), grad_p);
        check_all(
            "softmax", [&] { return weighted_sum(ref::softmax_forward(logits), r); }, logits.v,
            gs.v);
    }
}

TEST_CASE("probe_derivative: accurate on smooth functions, flags kinks") {
    std::vector<double> p{0.3};
    auto smooth = [&] { return std::sin(3 * p[0]) * std::exp(p[0]); };
    ref::DerivativeProbe s = ref::probe_derivative(smooth, p, 0, 1e-4);
    double exact = 3 * std::cos(0.9) * std::exp(0.3) + std::sin(0.9) * std::exp(0.3);
    CHECK(std::abs(s.value - exact) < 1e-10);
    CHECK(s.kink < 1e-6 * s.slope_scale);
    CHECK(p[0] == 0.3);  // restored

    // |x - t| with the kink at several places inside [p - eps, p + eps], including exactly at p
    // (where a plain central difference reports the average slope and looks "smooth").
    for (double offset : {0.0, 0.3e-4, -0.7e-4, 0.99e-4}) {
        INFO("kink offset " << offset);
        double t = 0.3 + offset;
        auto kinked = [&] { return 2.0 * std::abs(p[0] - t) + p[0]; };
        ref::DerivativeProbe k = ref::probe_derivative(kinked, p, 0, 1e-4);
        CHECK(k.kink > 1e-2 * k.slope_scale);
    }
    // A kink just outside the probed interval is harmless and not flagged.
    auto outside = [&] { return std::abs(p[0] - 0.3 - 1.5e-4); };
    ref::DerivativeProbe o = ref::probe_derivative(outside, p, 0, 1e-4);
    CHECK(o.value == doctest::Approx(-1.0).epsilon(1e-9));
    CHECK(o.kink < 1e-6);

    CHECK(ref::central_difference(smooth, p, 0, 1e-5) == doctest::Approx(exact).epsilon(1e-8));
}

TEST_CASE("sequential evaluator: every op in one network matches finite differences") {
    // Small enough to probe every parameter, with stride, dilation, groups and padded pooling.
    ref::SequentialNet net(2, 9, 8);
    net.conv2d("conv2d", conv_spec(4, window(3, 3, 1, 1, 1, 1, {1, 1, 1, 1})))
        .relu()
        .conv2d("conv2d_1", conv_spec(4, window(3, 2, 2, 1, 1, 2, {0, 1, 1, 0}), 2))
        .relu()
        .max_pool(window(2, 2, 2, 2, 1, 1, {1, 0, 0, 1}))
        .flatten()
        .dense("dense", 7)
        .relu()
        .dense("dense_1", 3, false);
    net.randomize(70);
    std::mt19937_64 rng(71);
    ref::Act images = ref::random_act(2, 8, 9, 3, rng);  // (c, w, h, n): 9 rows of 8
    std::vector<int32_t> labels = ref::random_labels(3, 3, rng);
    ref::Evaluation e = net.evaluate(images, labels);
    REQUIRE(e.grads.size() == net.params().size());
    CHECK(e.margins.min_relu_input > 0);
    // Pooling after a ReLU sees ties among zeros (margin 0); they are harmless, since crossing
    // them means crossing a ReLU kink, which min_relu_input already measures.
    CHECK(e.margins.min_pool_margin >= 0);
    CHECK(std::isfinite(e.margins.min_pool_margin));

    ref::FiniteDifferenceOptions options;
    options.eps = 1e-5;
    options.abs_floor = 1e-4;
    auto loss = [&] { return net.loss(images, labels); };
    for (size_t p = 0; p < net.params().size(); ++p)
        check_all(net.params()[p].name, loss, net.params()[p].values, e.grads[p], options);
    check_all("images", loss, images.v, e.grad_input.v, options);
}

TEST_CASE("LeNet-5: shapes, names and gradients against finite differences") {
    ref::SequentialNet net = ref::lenet5();
    const char* names[] = {"conv2d.weight",  "conv2d.bias", "conv2d_1.weight", "conv2d_1.bias",
                           "dense.weight",   "dense.bias",  "dense_1.weight",  "dense_1.bias",
                           "dense_2.weight", "dense_2.bias"};
    REQUIRE(net.params().size() == 10);
    for (size_t i = 0; i < 10; ++i) CHECK(net.params()[i].name == names[i]);
    CHECK(net.param("conv2d.weight").extents == std::vector<int64_t>{6, 5, 5, 1});
    CHECK(net.param("conv2d_1.weight").extents == std::vector<int64_t>{16, 5, 5, 6});
    CHECK(net.param("dense.weight").extents == std::vector<int64_t>{120, 400});
    CHECK(net.param("dense_2.weight").extents == std::vector<int64_t>{10, 84});
    CHECK(net.classes() == 10);

    net.randomize(80);
    std::mt19937_64 rng(81);
    ref::Act images = ref::random_act(1, 28, 28, 2, rng, 0.0, 1.0);
    std::vector<int32_t> labels = ref::random_labels(2, 10, rng);
    ref::Evaluation e = net.evaluate(images, labels);
    CHECK(e.logits.c == 10);
    CHECK(e.logits.n == 2);
    CHECK(std::isfinite(e.loss));

    // Small eps: thousands of ReLUs sit between a conv weight and the loss, and a wider probe
    // straddles more of their kinks; rounding stays far below the tolerance at this loss size.
    ref::FiniteDifferenceOptions options;
    options.eps = 1e-5;
    options.abs_floor = 1e-3;
    auto loss = [&] { return net.loss(images, labels); };
    for (size_t p = 0; p < net.params().size(); ++p) {
        auto& values = net.params()[p].values;
        std::vector<size_t> sample = ref::sample_indices(values.size(), 8, 90 + p);
        check_all(net.params()[p].name, loss, values, e.grads[p], options, sample);
    }
}

TEST_CASE("sgd_momentum_step follows PyTorch's v = m v + g; p -= lr v") {
    ref::SequentialNet net(1, 1, 1);
    net.flatten().dense("dense", 1);
    net.param("dense.weight").values = {1.0};
    net.param("dense.bias").values = {0.0};
    std::vector<std::vector<double>> grads{{2.0}, {1.0}}, velocity;
    ref::sgd_momentum_step(net, grads, velocity, 0.1, 0.9);
    CHECK(net.param("dense.weight").values[0] == doctest::Approx(1.0 - 0.1 * 2.0));
    ref::sgd_momentum_step(net, grads, velocity, 0.1, 0.9);
    CHECK(velocity[0][0] == doctest::Approx(0.9 * 2.0 + 2.0));
    CHECK(net.param("dense.weight").values[0] == doctest::Approx(0.8 - 0.1 * 3.8));
    CHECK(net.param("dense.bias").values[0] == doctest::Approx(-0.1 - 0.1 * 1.9));
}
