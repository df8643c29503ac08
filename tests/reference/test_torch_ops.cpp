// Every op of cnnc through the PyTorch reference (tests/torch/op_reference.py) against the naive
// double-precision reference: forward output and the gradients of sum(output * grad_output).
#include <doctest/doctest.h>

#include <map>
#include <nlohmann/json.hpp>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include "tests/reference/naive_ops.h"
#include "tests/reference/test_util.h"
#include "tests/reference/torch_bridge.h"

namespace ref = cnnc::reference;
using json = nlohmann::json;
using ref::Act;
using ref::test::product;
using ref::test::relative_difference;
using ref::test::window;

namespace {

// Both sides compute in float64 from identical float64 inputs; only the order of additions
// differs.
constexpr double tolerance = 1e-10;

struct Expected {
    ref::NamedArray value;
    bool activation = false;  // compare shapes as activations: (c, 1, 1, n) equals (c, n)
};

struct OpCase {
    std::string name;  // "<op>" or "<op>.<variant>"
    json spec;
    std::vector<ref::NamedArray> tensors;
    std::vector<Expected> expected;

    OpCase& input(const std::string& tensor, const Act& a) {
        tensors.push_back(ref::act_to_named_array(tensor, a));
        return *this;
    }
    OpCase& param(const std::string& tensor, std::vector<int64_t> extents,
                  const std::vector<double>& values) {
        tensors.push_back(ref::to_named_array64(tensor, std::move(extents), values));
        return *this;
    }
    OpCase& expect(const std::string& tensor, const Act& a) {
        expected.push_back({ref::act_to_named_array(tensor, a), true});
        return *this;
    }
    OpCase& expect(const std::string& tensor, std::vector<int64_t> extents,
                   const std::vector<double>& values) {
        expected.push_back({ref::to_named_array64(tensor, std::move(extents), values), false});
        return *this;
    }
};

json window_json(const ref::Window& w) {
    return {{"kernel_h", w.kernel_h},     {"kernel_w", w.kernel_w},     {"stride_h", w.stride_h},
            {"stride_w", w.stride_w},     {"dilation_h", w.dilation_h}, {"dilation_w", w.dilation_w},
            {"pad_top", w.pads.top},      {"pad_bottom", w.pads.bottom},
            {"pad_left", w.pads.left},    {"pad_right", w.pads.right}};
}

json pads_json(const ref::Pads& p) {
    return {{"pad_top", p.top}, {"pad_bottom", p.bottom}, {"pad_left", p.left},
            {"pad_right", p.right}};
}

json with_op(json spec, const char* op) {
    spec["op"] = op;
    return spec;
}

// A flat view of (c, x, y, n) data: channels are innermost, so each pixel becomes a sample.
Act pixels_as_samples(const Act& a) {
    Act flat = Act::flat(a.c, a.w * a.h * a.n);
    flat.v = a.v;
    return flat;
}

Act reshaped_like(const Act& like, const Act& values) {
    Act a = like;
    a.v = values.v;
    return a;
}

std::vector<double> as_doubles(const std::vector<int32_t>& labels) {
    return std::vector<double>(labels.begin(), labels.end());
}

// Builds every case and its naive expectations. Deterministic, so each test can find its own.
std::vector<OpCase> build_cases() {
    std::vector<OpCase> cases;
    std::mt19937_64 rng(500);
    auto random_like = [&](const Act& a) { return ref::random_act(a.c, a.w, a.h, a.n, rng); };

    // ---- convolutions ----
    auto conv_case = [&](std::string name, Act in, const ref::Conv2dSpec& spec) {
        std::vector<int64_t> wext = ref::conv2d_weight_extents(spec, in.c);
        std::vector<double> w = ref::random_values(size_t(product(wext)), rng);
        std::vector<double> b =
            spec.bias ? ref::random_values(size_t(spec.filters), rng) : std::vector<double>{};
        Act out = ref::conv2d_forward(in, spec, w, b);
        Act go = random_like(out);
        ref::Conv2dGrads g = ref::conv2d_backward(in, spec, w, go);
        json j = window_json(spec.window);
        j["filters"] = spec.filters;
        j["groups"] = spec.groups;
        j["bias"] = spec.bias;
        OpCase c{std::move(name), with_op(j, "conv2d"), {}, {}};
        c.input("input", in).param("weight", wext, w).input("grad_output", go);
        c.expect("output", out).expect("grad.input", g.input).expect("grad.weight", wext, g.weight);
        if (spec.bias) c.param("bias", {spec.filters}, b).expect("grad.bias", {spec.filters}, g.bias);
        cases.push_back(std::move(c));
    };
    {
        ref::Conv2dSpec s;
        s.filters = 4;
        s.window = window(3, 2, 2, 1, 1, 2, {1, 0, 2, 1});
        conv_case("conv2d.skewed", ref::random_act(3, 7, 6, 2, rng), s);
        s.filters = 6;
        s.window = window(3, 3, 1, 1, 1, 1, {1, 1, 1, 1});
        s.groups = 2;
        s.bias = false;
        conv_case("conv2d.groups", ref::random_act(4, 5, 5, 2, rng), s);
    }
    auto transposed_case = [&](std::string name, Act in, const ref::TransposedConv2dSpec& spec) {
        std::vector<int64_t> wext = ref::transposed_conv2d_weight_extents(spec, in.c);
        std::vector<double> w = ref::random_values(size_t(product(wext)), rng);
        std::vector<double> b =
            spec.bias ? ref::random_values(size_t(spec.filters), rng) : std::vector<double>{};
        Act out = ref::transposed_conv2d_forward(in, spec, w, b);
        Act go = random_like(out);
        ref::Conv2dGrads g = ref::transposed_conv2d_backward(in, spec, w, go);
        json j = window_json(spec.window);
        j["filters"] = spec.filters;
        j["groups"] = spec.groups;
        j["bias"] = spec.bias;
        j["output_padding_h"] = spec.output_padding_h;
        j["output_padding_w"] = spec.output_padding_w;
        OpCase c{std::move(name), with_op(j, "transposed_conv2d"), {}, {}};
        c.input("input", in).param("weight", wext, w).input("grad_output", go);
        c.expect("output", out).expect("grad.input", g.input).expect("grad.weight", wext, g.weight);
        if (spec.bias) c.param("bias", {spec.filters}, b).expect("grad.bias", {spec.filters}, g.bias);
        cases.push_back(std::move(c));
    };
    {
        ref::TransposedConv2dSpec s;  // symmetric: the script also checks torch's own module
        s.filters = 4;
        s.window = window(3, 3, 2, 2, 1, 1, {1, 1, 1, 1});
        s.output_padding_h = s.output_padding_w = 1;
        transposed_case("transposed_conv2d.symmetric", ref::random_act(3, 4, 5, 2, rng), s);
        s.filters = 6;
        s.window = window(2, 3, 2, 1, 1, 2, {0, 1, 2, 0});
        s.groups = 2;
        s.bias = false;
        s.output_padding_h = 1;
        s.output_padding_w = 0;
        transposed_case("transposed_conv2d.skewed_groups", ref::random_act(4, 3, 4, 2, rng), s);
    }

    // ---- pooling ----
    {
        Act in = ref::random_act(3, 7, 6, 2, rng);
        for (auto [name, w] : {std::pair{"max_pool.padded", window(3, 3, 2, 2, 1, 1, {1, 1, 1, 1})},
                               std::pair{"max_pool.skewed_dilated",
                                         window(2, 3, 1, 2, 2, 1, {0, 1, 1, 0})}}) {
            Act out = ref::max_pool_forward(in, w);
            Act go = random_like(out);
            OpCase c{name, with_op(window_json(w), "max_pool"), {}, {}};
            c.input("input", in).input("grad_output", go);
            c.expect("output", out).expect("grad.input", ref::max_pool_backward(in, w, go));
            cases.push_back(std::move(c));
        }
        ref::Window w = window(3, 2, 2, 1, 1, 1, {1, 0, 0, 1});
        for (bool include : {true, false}) {
            Act out = ref::avg_pool_forward(in, w, include);
            Act go = random_like(out);
            json j = window_json(w);
            j["count_include_pad"] = include;
            OpCase c{include ? "avg_pool.include_pad" : "avg_pool.exclude_pad",
                     with_op(j, "avg_pool"), {}, {}};
            c.input("input", in).input("grad_output", go);
            c.expect("output", out)
                .expect("grad.input", ref::avg_pool_backward(in, w, include, go));
            cases.push_back(std::move(c));
        }
        ref::Window lw = window(2, 2, 2, 2, 1, 1, {0, 1, 0, 1});
        Act out = ref::l2_pool_forward(in, lw);
        Act go = random_like(out);
        OpCase l2{"l2_pool", with_op(window_json(lw), "l2_pool"), {}, {}};
        l2.input("input", in).input("grad_output", go);
        l2.expect("output", out).expect("grad.input", ref::l2_pool_backward(in, lw, go));
        cases.push_back(std::move(l2));

        Act gavg = ref::global_avg_pool_forward(in);
        Act gavg_go = random_like(gavg);
        OpCase ga{"global_avg_pool", {{"op", "global_avg_pool"}}, {}, {}};
        ga.input("input", in).input("grad_output", gavg_go);
        ga.expect("output", gavg).expect("grad.input", ref::global_avg_pool_backward(in, gavg_go));
        cases.push_back(std::move(ga));
        Act gmax = ref::global_max_pool_forward(in);
        Act gmax_go = random_like(gmax);
        OpCase gm{"global_max_pool", {{"op", "global_max_pool"}}, {}, {}};
        gm.input("input", in).input("grad_output", gmax_go);
        gm.expect("output", gmax).expect("grad.input", ref::global_max_pool_backward(in, gmax_go));
        cases.push_back(std::move(gm));
    }

    // ---- activations ----
    {
        Act in = ref::random_act(3, 4, 3, 2, rng, -3.0, 3.0);
        Act flat = ref::random_act(6, 1, 1, 3, rng, -3.0, 3.0);
        auto unary = [&](std::string name, json spec, const Act& x, const Act& out,
                         const std::function<Act(const Act&)>& backward) {
            Act go = random_like(out);
            OpCase c{std::move(name), std::move(spec), {}, {}};
            c.input("input", x).input("grad_output", go);
            c.expect("output", out).expect("grad.input", backward(go));
            cases.push_back(std::move(c));
        };
        unary("relu", {{"op", "relu"}}, in, ref::relu_forward(in),
              [&](const Act& go) { return ref::relu_backward(in, go); });
        unary("leaky_relu", {{"op", "leaky_relu"}, {"alpha", 0.2}}, in,
              ref::leaky_relu_forward(in, 0.2),
              [&](const Act& go) { return ref::leaky_relu_backward(in, 0.2, go); });
        unary("elu", {{"op", "elu"}, {"alpha", 0.7}}, in, ref::elu_forward(in, 0.7),
              [&](const Act& go) { return ref::elu_backward(in, 0.7, go); });
        unary("sigmoid.flat", {{"op", "sigmoid"}}, flat, ref::sigmoid_forward(flat),
              [&](const Act& go) { return ref::sigmoid_backward(flat, go); });
        unary("tanh", {{"op", "tanh"}}, in, ref::tanh_forward(in),
              [&](const Act& go) { return ref::tanh_backward(in, go); });
        Act p = ref::softmax_forward(flat);
        unary("softmax.flat", {{"op", "softmax"}}, flat, p,
              [&](const Act& go) { return ref::softmax_backward(p, go); });
        Act pp = reshaped_like(in, ref::softmax_forward(pixels_as_samples(in)));
        unary("softmax.pixels", {{"op", "softmax"}}, in, pp, [&](const Act& go) {
            return reshaped_like(
                in, ref::softmax_backward(pixels_as_samples(pp), pixels_as_samples(go)));
        });
        unary("log_softmax.flat", {{"op", "log_softmax"}}, flat, ref::log_softmax_forward(flat),
              [&](const Act& go) { return ref::log_softmax_backward(flat, go); });
        Act mask = random_like(in);
        for (double& m : mask.v) m = m > -0.3 ? 1.0 : 0.0;
        Act dropped = ref::dropout_forward(in, mask, 0.35);
        Act go = random_like(in);
        OpCase d{"dropout.training", {{"op", "dropout"}, {"rate", 0.35}, {"training", true}}, {}, {}};
        d.input("input", in).input("mask", mask).input("grad_output", go);
        d.expect("output", dropped).expect("grad.input", ref::dropout_backward(go, mask, 0.35));
        cases.push_back(std::move(d));
        unary("dropout.inference", {{"op", "dropout"}, {"rate", 0.35}, {"training", false}}, in,
              in, [](const Act& g) { return g; });
    }

    // ---- dense and structural ops ----
    {
        Act flat = ref::random_act(7, 1, 1, 3, rng);
        for (bool bias : {true, false}) {
            std::vector<int64_t> wext = ref::dense_weight_extents(5, 7);
            std::vector<double> w = ref::random_values(35, rng);
            std::vector<double> b = bias ? ref::random_values(5, rng) : std::vector<double>{};
            Act out = ref::dense_forward(flat, 5, w, b);
            Act go = random_like(out);
            ref::DenseGrads g = ref::dense_backward(flat, 5, w, go);
            OpCase c{bias ? "dense" : "dense.no_bias",
                     {{"op", "dense"}, {"units", 5}, {"bias", bias}}, {}, {}};
            c.input("input", flat).param("weight", wext, w).input("grad_output", go);
            c.expect("output", out).expect("grad.input", g.input).expect("grad.weight", wext, g.weight);
            if (bias) c.param("bias", {5}, b).expect("grad.bias", {5}, g.bias);
            cases.push_back(std::move(c));
        }
        Act in = ref::random_act(3, 3, 4, 2, rng);  // 3 channels, 4 rows of 3
        {  // a spatial input is flattened first (PyTorch's order)
            std::vector<int64_t> wext = ref::dense_weight_extents(4, 36);
            std::vector<double> w = ref::random_values(4 * 36, rng), b = ref::random_values(4, rng);
            Act out = ref::dense_forward(ref::flatten_forward(in), 4, w, b);
            Act go = random_like(out);
            ref::DenseGrads g = ref::dense_backward(ref::flatten_forward(in), 4, w, go);
            OpCase c{"dense.spatial_input", {{"op", "dense"}, {"units", 4}}, {}, {}};
            c.input("input", in).param("weight", wext, w).param("bias", {4}, b);
            c.input("grad_output", go);
            c.expect("output", out)
                .expect("grad.input", ref::flatten_backward(g.input, 3, 3, 4))
                .expect("grad.weight", wext, g.weight)
                .expect("grad.bias", {4}, g.bias);
            cases.push_back(std::move(c));
        }
        Act flat_out = ref::flatten_forward(in);
        Act flat_go = random_like(flat_out);
        OpCase f{"flatten", {{"op", "flatten"}}, {}, {}};
        f.input("input", in).input("grad_output", flat_go);
        f.expect("output", flat_out).expect("grad.input", ref::flatten_backward(flat_go, 3, 3, 4));
        cases.push_back(std::move(f));

        Act r = ref::reshape_forward(in, 4, 3, 3);  // CxHxW 3x4x3 -> 4x3x3
        Act r_go = random_like(r);
        OpCase rs{"reshape", {{"op", "reshape"}, {"c", 4}, {"h", 3}, {"w", 3}}, {}, {}};
        rs.input("input", in).input("grad_output", r_go);
        rs.expect("output", r).expect("grad.input", ref::reshape_forward(r_go, 3, 3, 4));
        cases.push_back(std::move(rs));
        Act rf = ref::reshape_forward(in, 36, 1, 1);
        Act rf_go = random_like(rf);
        OpCase rsf{"reshape.flat", {{"op", "reshape"}, {"shape", {36}}}, {}, {}};
        rsf.input("input", in).input("grad_output", rf_go);
        rsf.expect("output", rf).expect("grad.input", ref::reshape_forward(rf_go, 3, 3, 4));
        cases.push_back(std::move(rsf));

        std::vector<Act> same{in, random_like(in), random_like(in)};
        Act sum = ref::add_forward(same);
        Act sum_go = random_like(sum);
        OpCase a{"add", {{"op", "add"}}, {}, {}};
        a.input("input", same[0]).input("input_1", same[1]).input("input_2", same[2]);
        a.input("grad_output", sum_go).expect("output", sum);
        std::vector<Act> add_grads = ref::add_backward(sum_go, 3);
        a.expect("grad.input", add_grads[0])
            .expect("grad.input_1", add_grads[1])
            .expect("grad.input_2", add_grads[2]);
        cases.push_back(std::move(a));

        for (bool spatial : {true, false}) {
            std::vector<Act> parts =
                spatial ? std::vector<Act>{ref::random_act(2, 3, 4, 2, rng), in,
                                           ref::random_act(1, 3, 4, 2, rng)}
                        : std::vector<Act>{ref::random_act(4, 1, 1, 2, rng),
                                           ref::random_act(3, 1, 1, 2, rng)};
            Act cat = ref::concat_forward(parts);
            Act go = random_like(cat);
            std::vector<int64_t> channels;
            for (const Act& p : parts) channels.push_back(p.c);
            std::vector<Act> g = ref::concat_backward(go, channels);
            OpCase c{spatial ? "concat" : "concat.flat", {{"op", "concat"}}, {}, {}};
            for (size_t k = 0; k < parts.size(); ++k) {
                std::string suffix = k == 0 ? "" : "_" + std::to_string(k);
                c.input("input" + suffix, parts[k]).expect("grad.input" + suffix, g[k]);
            }
            c.input("grad_output", go).expect("output", cat);
            cases.push_back(std::move(c));
        }

        ref::Pads pads{1, 2, 0, 3};
        Act padded = ref::zero_pad_forward(in, pads);
        Act pad_go = random_like(padded);
        OpCase z{"zero_pad", with_op(pads_json(pads), "zero_pad"), {}, {}};
        z.input("input", in).input("grad_output", pad_go);
        z.expect("output", padded).expect("grad.input", ref::zero_pad_backward(pad_go, pads));
        cases.push_back(std::move(z));
    }

    // ---- batch normalisation ----
    for (auto [name, training, flat] :
         {std::tuple{"batch_norm.training", true, false},
          std::tuple{"batch_norm.inference", false, false},
          std::tuple{"batch_norm.training_flat", true, true}}) {
        Act in = flat ? ref::random_act(5, 1, 1, 4, rng, -2.0, 3.0)
                      : ref::random_act(3, 4, 3, 2, rng, -2.0, 3.0);
        size_t c = size_t(in.c);
        std::vector<double> gamma = ref::random_values(c, rng, 0.5, 1.5);
        std::vector<double> beta = ref::random_values(c, rng);
        std::vector<double> rmean = ref::random_values(c, rng);
        std::vector<double> rvar = ref::random_values(c, rng, 0.5, 1.5);
        ref::BatchNormSpec spec{1e-3, 0.2, training};
        ref::BatchNormForward f = ref::batch_norm_forward(in, spec, gamma, beta, rmean, rvar);
        Act go = random_like(f.out);
        ref::BatchNormGrads g = ref::batch_norm_backward(in, spec, gamma, rmean, rvar, go);
        std::vector<int64_t> ext{in.c};
        OpCase bn{name,
                  {{"op", "batch_norm"}, {"eps", 1e-3}, {"momentum", 0.2}, {"training", training}},
                  {},
                  {}};
        bn.input("input", in).param("weight", ext, gamma).param("bias", ext, beta);
        bn.param("running_mean", ext, rmean).param("running_var", ext, rvar);
        bn.input("grad_output", go);
        bn.expect("output", f.out)
            .expect("grad.input", g.input)
            .expect("grad.weight", ext, g.weight)
            .expect("grad.bias", ext, g.bias);
        if (training)
            bn.expect("running_mean.updated", ext, f.running_mean)
                .expect("running_var.updated", ext, f.running_var);
        cases.push_back(std::move(bn));
    }

    // ---- losses ----
    {
        const double grad_loss = 1.7;
        Act logits = ref::random_act(6, 1, 1, 5, rng, -3.0, 3.0);
        std::vector<int32_t> labels = ref::random_labels(5, 6, rng);
        for (double s : {0.0, 0.15}) {
            OpCase c{s == 0 ? "softmax_cross_entropy" : "softmax_cross_entropy.smoothed",
                     {{"op", "softmax_cross_entropy"}, {"label_smoothing", s}}, {}, {}};
            c.input("input", logits).param("labels", {5}, as_doubles(labels));
            c.param("grad_output", {1}, {grad_loss});
            double loss = s == 0 ? ref::softmax_cross_entropy_forward(logits, labels)
                                 : ref::smoothed_cross_entropy_forward(logits, labels, s);
            Act g = s == 0 ? ref::softmax_cross_entropy_backward(logits, labels, grad_loss)
                           : ref::smoothed_cross_entropy_backward(logits, labels, s, grad_loss);
            c.expect("output", {1}, {loss}).expect("grad.input", g);
            cases.push_back(std::move(c));
        }
        // Per-pixel scores: each pixel is a sample, labels in (x, y, n) order.
        Act scores = ref::random_act(4, 3, 2, 2, rng, -3.0, 3.0);
        std::vector<int32_t> pixel_labels = ref::random_labels(3 * 2 * 2, 4, rng);
        Act samples = pixels_as_samples(scores);
        OpCase px{"softmax_cross_entropy.pixels",
                  {{"op", "softmax_cross_entropy"}, {"label_smoothing", 0.1}}, {}, {}};
        px.input("input", scores).param("labels", {3, 2, 2}, as_doubles(pixel_labels));
        px.param("grad_output", {1}, {grad_loss});
        px.expect("output", {1},
                  {ref::smoothed_cross_entropy_forward(samples, pixel_labels, 0.1)});
        px.expect("grad.input",
                  reshaped_like(scores, ref::smoothed_cross_entropy_backward(samples, pixel_labels,
                                                                             0.1, grad_loss)));
        cases.push_back(std::move(px));

        Act x = ref::random_act(3, 2, 3, 2, rng);
        Act t = random_like(x);
        OpCase m{"mse", {{"op", "mse"}}, {}, {}};
        m.input("input", x).input("targets", t).param("grad_output", {1}, {grad_loss});
        m.expect("output", {1}, {ref::mse_forward(x, t)})
            .expect("grad.input", ref::mse_backward(x, t, grad_loss));
        cases.push_back(std::move(m));
    }
    return cases;
}

// (c, 1, 1, n) and (c, n) are the same activation.
std::vector<int64_t> activation_extents(const std::vector<int64_t>& e) {
    if (e.size() == 4 && e[1] == 1 && e[2] == 1) return {e[0], e[3]};
    return e;
}

struct TorchRun {
    std::vector<OpCase> cases;
    std::vector<std::vector<ref::NamedArray>> results;
    std::string error;
};

// One interpreter for every case: torch's import is the expensive part.
const TorchRun& torch_run() {
    static const TorchRun run = [] {
        TorchRun r;
        r.cases = build_cases();
        std::vector<ref::ReferenceCase> inputs;
        for (const OpCase& c : r.cases) inputs.push_back({c.name, c.spec.dump(), c.tensors});
        try {
            r.results = ref::run_op_references(inputs);
        } catch (const std::exception& e) {
            r.error = e.what();
        }
        return r;
    }();
    return run;
}

// Compares every case named `op` or "<op>.<variant>"; returns how many there were.
size_t check_op(std::string_view op) {
    REQUIRE_MESSAGE(ref::torch_unavailable_reason().empty(), ref::torch_unavailable_reason());
    const TorchRun& run = torch_run();
    REQUIRE_MESSAGE(run.error.empty(), run.error);
    size_t checked = 0;
    for (size_t i = 0; i < run.cases.size(); ++i) {
        const OpCase& c = run.cases[i];
        if (c.name != op && c.name.rfind(std::string(op) + ".", 0) != 0) continue;
        ++checked;
        INFO("case " << c.name << ": " << c.spec.dump());
        for (const Expected& e : c.expected) {
            INFO(e.value.name);
            const ref::NamedArray& t = ref::find_tensor(run.results[i], e.value.name);
            if (e.activation)
                CHECK(activation_extents(t.extents) == activation_extents(e.value.extents));
            else
                CHECK(t.extents == e.value.extents);
            std::vector<double> got = ref::to_doubles(t), want = ref::to_doubles(e.value);
            REQUIRE(got.size() == want.size());
            CHECK(relative_difference(got, want) <= tolerance);
        }
    }
    CHECK(checked > 0);
    return checked;
}

}  // namespace

TEST_CASE("torch op reference: conv2d") { check_op("conv2d"); }
TEST_CASE("torch op reference: transposed_conv2d") { check_op("transposed_conv2d"); }
TEST_CASE("torch op reference: max_pool") { check_op("max_pool"); }
TEST_CASE("torch op reference: avg_pool") { CHECK(check_op("avg_pool") == 2); }
TEST_CASE("torch op reference: l2_pool") { check_op("l2_pool"); }
TEST_CASE("torch op reference: global_avg_pool") { check_op("global_avg_pool"); }
TEST_CASE("torch op reference: global_max_pool") { check_op("global_max_pool"); }
TEST_CASE("torch op reference: relu") { check_op("relu"); }
TEST_CASE("torch op reference: leaky_relu") { check_op("leaky_relu"); }
TEST_CASE("torch op reference: elu") { check_op("elu"); }
TEST_CASE("torch op reference: sigmoid") { check_op("sigmoid"); }
TEST_CASE("torch op reference: tanh") { check_op("tanh"); }
TEST_CASE("torch op reference: softmax") { check_op("softmax"); }
TEST_CASE("torch op reference: log_softmax") { check_op("log_softmax"); }
TEST_CASE("torch op reference: dropout") { check_op("dropout"); }
TEST_CASE("torch op reference: dense") { check_op("dense"); }
TEST_CASE("torch op reference: flatten") { check_op("flatten"); }
TEST_CASE("torch op reference: reshape") { check_op("reshape"); }
TEST_CASE("torch op reference: add") { check_op("add"); }
TEST_CASE("torch op reference: concat") { check_op("concat"); }
TEST_CASE("torch op reference: zero_pad") { check_op("zero_pad"); }
TEST_CASE("torch op reference: batch_norm") { CHECK(check_op("batch_norm") == 3); }
TEST_CASE("torch op reference: softmax_cross_entropy") { check_op("softmax_cross_entropy"); }
TEST_CASE("torch op reference: mse") { check_op("mse"); }

TEST_CASE("torch op reference: every case belongs to a test above") {
    // A case whose op has no TEST_CASE would be built and run but never compared.
    const char* ops[] = {"conv2d",      "transposed_conv2d", "max_pool",       "avg_pool",
                         "l2_pool",     "global_avg_pool",   "global_max_pool", "relu",
                         "leaky_relu",  "elu",               "sigmoid",        "tanh",
                         "softmax",     "log_softmax",       "dropout",        "dense",
                         "flatten",     "reshape",           "add",            "concat",
                         "zero_pad",    "batch_norm",        "softmax_cross_entropy", "mse"};
    for (const OpCase& c : build_cases()) {
        std::string op = c.name.substr(0, c.name.find('.'));
        bool known = false;
        for (const char* o : ops) known = known || op == o;
        INFO(c.name);
        CHECK(known);
        CHECK(c.spec.at("op") == op);
    }
}

TEST_CASE("torch op reference: a misspelt field is an error, not a default") {
    REQUIRE_MESSAGE(ref::torch_unavailable_reason().empty(), ref::torch_unavailable_reason());
    Act in = Act::flat(2, 1);
    in.v = {1.0, -1.0};
    try {
        ref::run_op_reference(R"({"op": "leaky_relu", "alhpa": 0.5})",
                              {ref::act_to_named_array("input", in),
                               ref::act_to_named_array("grad_output", in)});
        FAIL("a misspelt field was accepted");
    } catch (const std::runtime_error& e) {
        CHECK(std::string(e.what()).find("alhpa") != std::string::npos);
    }
}
