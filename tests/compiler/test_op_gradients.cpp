// Every op's forward output and generated gradients (propagate_adjoints), with respect to its
// inputs and parameters, against PyTorch autograd in float64 (tests/torch/op_reference.py).
#include <doctest/doctest.h>

#include <Halide.h>

#include <cmath>
#include <functional>
#include <random>

#include "compiler/lower/inference.h"
#include "compiler/lower/lower.h"
#include "compiler/passes/shape_inference.h"
#include "dsl/dsl.h"
#include "tests/reference/torch_bridge.h"

using namespace cnnc;
namespace ref = cnnc::reference;

namespace {

constexpr int batch = 4;

struct OpCase {
    std::string name;
    std::vector<Shape> inputs;                           // per-sample input shapes
    std::function<void(std::vector<Tensor>&)> build;     // adds the op under test
    std::string spec;                                    // op_reference.py spec JSON
    bool training = false;
};

std::vector<int> storage(const Shape& s) {
    std::vector<int> e;
    for (int64_t v : lower::storage_extents(s)) e.push_back(int(v));
    return e;
}

Halide::Buffer<float> random_buffer(std::vector<int> extents, std::mt19937_64& rng, float lo,
                                    float hi) {
    Halide::Buffer<float> b(extents);
    std::uniform_real_distribution<float> d(lo, hi);
    for (int64_t i = 0; i < int64_t(b.number_of_elements()); ++i) b.data()[i] = d(rng);
    return b;
}

ref::NamedArray named(const std::string& name, const Halide::Buffer<float>& b) {
    ref::NamedArray a;
    a.name = name;
    for (int d = 0; d < b.dimensions(); ++d) a.extents.push_back(b.dim(d).extent());
    a.values.assign(b.data(), b.data() + b.number_of_elements());
    return a;
}

// Compares against the float64 reference, relative to the reference's largest magnitude.
void check_matches(const Halide::Buffer<float>& got, const ref::NamedArray& want,
                   const std::string& what) {
    INFO(what);
    REQUIRE(size_t(got.number_of_elements()) == want.values.size());
    double worst = 0, scale = 1e-6;
    for (float w : want.values) scale = std::max(scale, double(std::abs(w)));
    for (size_t i = 0; i < want.values.size(); ++i)
        worst = std::max(worst, std::abs(double(got.data()[i]) - double(want.values[i])));
    CHECK(worst / scale < 1e-4);
}

struct Computed {
    std::vector<ref::NamedArray> tensors;  // what torch gets
    std::vector<std::pair<std::string, Halide::Buffer<float>>> results;  // what torch returns
};

Computed run_case(const OpCase& c, std::mt19937_64& rng) {
    Model m("op");
    std::vector<Tensor> xs{m.input(c.inputs[0])};
    // Further inputs (add, concat) come from identity-shaped branches of extra inputs: the DSL
    // has one input, so they are carved from it by the test model below.
    c.build(xs);
    ir::Graph g = passes::build_graph(m);
    const ir::Node& node = g.nodes.back();
    const bool is_loss_op = is_loss(node.op);

    Halide::ImageParam images = lower::image_input(g);
    std::vector<Halide::ImageParam> params = lower::parameter_inputs(g, "");
    std::vector<Halide::Func> param_funcs;
    for (auto& p : params) param_funcs.push_back(lower::wrap(p, p.name() + "_f"));
    Halide::Func input = lower::wrap(images, "input_f");
    lower::Mode mode;
    mode.training = c.training;
    mode.seed = 5;
    mode.batch = batch;
    std::vector<Halide::Func> values = lower::lower_graph(g, input, param_funcs, mode);

    Computed out;
    Halide::Buffer<float> in = random_buffer(
        [&] { auto e = storage(c.inputs[0]); e.push_back(batch); return e; }(), rng, -2, 2);
    images.set(in);
    out.tensors.push_back(named("input", in));
    const std::string roles[] = {"weight", "bias", "running_mean", "running_var"};
    std::vector<Halide::Buffer<float>> param_buffers;
    for (size_t i = 0; i < g.params.size(); ++i) {
        const Shape& e = g.params[i].extents;
        float lo = g.params[i].role == "running_var" ? 0.5f : -1, hi = lo + 2;
        param_buffers.push_back(random_buffer(std::vector<int>(e.dims.begin(), e.dims.begin() + e.rank), rng, lo, hi));
        params[i].set(param_buffers.back());
        out.tensors.push_back(named(g.params[i].role, param_buffers.back()));
    }

    Halide::Func result;
    std::vector<int> out_extents;
    Halide::ImageParam labels;
    if (is_loss_op) {
        const Shape& s = g.node(node.inputs[0]).shape;
        bool classes = node.op == Op::softmax_cross_entropy;
        std::vector<int> label_extents = classes ? (s.rank == 3 ? std::vector<int>{int(s.width()), int(s.height())}
                                                                : std::vector<int>{})
                                                 : storage(s);
        label_extents.push_back(batch);
        labels = Halide::ImageParam(classes ? Halide::Int(32) : Halide::Float(32),
                                    int(label_extents.size()), "labels");
        ref::NamedArray label_array;
        if (classes) {
            Halide::Buffer<int32_t> l(label_extents);
            std::uniform_int_distribution<int> d(0, int(s[0]) - 1);
            for (int64_t i = 0; i < int64_t(l.number_of_elements()); ++i) l.data()[i] = d(rng);
            labels.set(l);
            label_array.name = "labels";
            for (int e : label_extents) label_array.extents.push_back(e);
            label_array.values.assign(l.data(), l.data() + l.number_of_elements());
        } else {
            Halide::Buffer<float> t = random_buffer(label_extents, rng, -1, 1);
            labels.set(t);
            label_array = named("targets", t);
        }
        out.tensors.push_back(label_array);
        result = lower::loss(node, values[size_t(node.inputs[0])], s, lower::wrap(labels, "labels_f"),
                             batch);
    } else {
        result = values.back();
        out_extents = storage(node.shape);
        out_extents.push_back(batch);
    }

    // The objective sum(output * grad_output): its gradients are the vector-Jacobian products.
    Halide::Buffer<float> grad_output =
        random_buffer(out_extents.empty() ? std::vector<int>{1} : out_extents, rng, -1, 1);
    out.tensors.push_back(named("grad_output", grad_output));
    Halide::Func objective("objective");
    if (out_extents.empty()) {
        objective() = result() * grad_output(0);
    } else {
        Halide::Region r;
        for (int e : out_extents) r.push_back({0, e});
        Halide::RDom d(r);
        std::vector<Halide::Expr> at;
        for (int k = 0; k < d.dimensions(); ++k) at.push_back(d[k]);
        objective() = sum(result(at) * grad_output(at));
    }
    Halide::Derivative deriv = Halide::propagate_adjoints(objective);

    std::vector<Halide::Func> funcs;
    std::vector<Halide::Buffer<float>> buffers;
    auto want = [&](const std::string& name, Halide::Func f, std::vector<int> extents) {
        funcs.push_back(f);
        buffers.emplace_back(extents.empty() ? Halide::Buffer<float>::make_scalar() : Halide::Buffer<float>(extents));
        out.results.emplace_back(name, buffers.back());
    };
    if (out_extents.empty()) {
        Halide::Func loss_value("loss_value");
        loss_value() = result();
        want("output", loss_value, {});
    } else {
        want("output", result, out_extents);
    }
    want("grad.input", deriv(input), [&] { auto e = storage(c.inputs[0]); e.push_back(batch); return e; }());
    for (size_t i = 0; i < g.params.size(); ++i) {
        const Shape& e = g.params[i].extents;
        std::vector<int> ext(e.dims.begin(), e.dims.begin() + e.rank);
        if (g.params[i].learnable)
            want("grad." + g.params[i].role, deriv(param_funcs[i]), ext);
        else if (c.training)
            want(g.params[i].role + ".updated", mode.updated_state.at(int(i)), ext);
    }
    std::vector<Halide::Buffer<>> realization(buffers.begin(), buffers.end());
    Halide::Pipeline(funcs).realize(Halide::Realization(realization));
    if (node.op == Op::dropout && c.training) {
        // The mask is cnnc's own random stream: hand torch the one the forward pass drew.
        Halide::Buffer<float> mask(out_extents);
        for (int64_t i = 0; i < int64_t(mask.number_of_elements()); ++i)
            mask.data()[i] = buffers[0].data()[i] != 0.0f ? 1.0f : 0.0f;
        out.tensors.push_back(named("mask", mask));
    }
    return out;
}

std::vector<OpCase> cases() {
    auto unary = [](std::function<Tensor(Tensor)> op) {
        return [op](std::vector<Tensor>& xs) { op(xs[0]); };
    };
    Pads asym{.top = 1, .bottom = 0, .left = 2, .right = 1};
    return {
        {"conv2d stride 2 dilation 2 asymmetric pads", {{3, 9, 8}},
         unary([asym](Tensor x) { return conv2d(x, {.filters = 4, .kernel = 3, .stride = 2, .dilation = 2, .padding = Padding::explicit_sides, .pads = asym}); }),
         R"({"op":"conv2d","filters":4,"kernel_h":3,"kernel_w":3,"stride_h":2,"stride_w":2,"dilation_h":2,"dilation_w":2,"pad_top":1,"pad_bottom":0,"pad_left":2,"pad_right":1})"},
        {"conv2d stride 3 same no bias", {{2, 10, 11}},
         unary([](Tensor x) { return conv2d(x, {.filters = 5, .kernel = 4, .stride = 3, .padding = same, .bias = false}); }),
         R"({"op":"conv2d","filters":5,"kernel_h":4,"kernel_w":4,"stride_h":3,"stride_w":3,"pad_top":1,"pad_bottom":2,"pad_left":1,"pad_right":1,"bias":false})"},
        {"conv2d groups 2", {{4, 7, 7}},
         unary([](Tensor x) { return conv2d(x, {.filters = 6, .kernel = 3, .padding = same, .groups = 2}); }),
         R"({"op":"conv2d","filters":6,"kernel_h":3,"kernel_w":3,"pad_top":1,"pad_bottom":1,"pad_left":1,"pad_right":1,"groups":2})"},
        {"conv2d depthwise full", {{3, 5, 6}},
         unary([](Tensor x) { return conv2d(x, {.filters = 3, .kernel = 3, .padding = full, .groups = 3}); }),
         R"({"op":"conv2d","filters":3,"kernel_h":3,"kernel_w":3,"pad_top":2,"pad_bottom":2,"pad_left":2,"pad_right":2,"groups":3})"},
        {"transposed_conv2d stride 2 output padding", {{3, 4, 5}},
         unary([](Tensor x) { return transposed_conv2d(x, {.filters = 4, .kernel = 3, .stride = 2, .padding = Padding::explicit_sides, .pads = {1, 1, 1, 1}, .output_padding = 1}); }),
         R"({"op":"transposed_conv2d","filters":4,"kernel_h":3,"kernel_w":3,"stride_h":2,"stride_w":2,"pad_top":1,"pad_bottom":1,"pad_left":1,"pad_right":1,"output_padding_h":1,"output_padding_w":1})"},
        {"transposed_conv2d groups 2 dilation 2", {{4, 3, 3}},
         unary([](Tensor x) { return transposed_conv2d(x, {.filters = 2, .kernel = 2, .dilation = 2, .groups = 2}); }),
         R"({"op":"transposed_conv2d","filters":2,"kernel_h":2,"kernel_w":2,"dilation_h":2,"dilation_w":2,"groups":2})"},
        {"max_pool 3 stride 2 same", {{3, 7, 6}},
         unary([](Tensor x) { return max_pool(x, {.kernel = 3, .stride = 2, .padding = same}); }),
         R"({"op":"max_pool","kernel_h":3,"kernel_w":3,"stride_h":2,"stride_w":2,"pad_top":1,"pad_bottom":1,"pad_left":0,"pad_right":1})"},
        {"avg_pool counting padding", {{2, 6, 6}},
         unary([](Tensor x) { return avg_pool(x, {.kernel = 3, .stride = 2, .padding = same}); }),
         R"({"op":"avg_pool","kernel_h":3,"kernel_w":3,"stride_h":2,"stride_w":2,"pad_top":0,"pad_bottom":1,"pad_left":0,"pad_right":1})"},
        {"avg_pool without padding in the count", {{2, 5, 5}},
         unary([](Tensor x) { return avg_pool(x, {.kernel = 3, .stride = 1, .padding = same, .count_include_pad = false}); }),
         R"({"op":"avg_pool","kernel_h":3,"kernel_w":3,"stride_h":1,"stride_w":1,"pad_top":1,"pad_bottom":1,"pad_left":1,"pad_right":1,"count_include_pad":false})"},
        {"l2_pool", {{2, 6, 4}},
         unary([](Tensor x) { return l2_pool(x, {.kernel = 2}); }),
         R"({"op":"l2_pool","kernel_h":2,"kernel_w":2})"},
        {"global_avg_pool", {{3, 4, 5}}, unary([](Tensor x) { return global_avg_pool(x); }), R"({"op":"global_avg_pool"})"},
        {"global_max_pool", {{3, 4, 5}}, unary([](Tensor x) { return global_max_pool(x); }), R"({"op":"global_max_pool"})"},
        {"relu", {{3, 4, 4}}, unary([](Tensor x) { return relu(x); }), R"({"op":"relu"})"},
        {"leaky_relu", {{3, 4, 4}}, unary([](Tensor x) { return leaky_relu(x, 0.1f); }), R"({"op":"leaky_relu","alpha":0.1})"},
        {"elu", {{3, 4, 4}}, unary([](Tensor x) { return elu(x, 0.7f); }), R"({"op":"elu","alpha":0.7})"},
        {"sigmoid", {{7}}, unary([](Tensor x) { return sigmoid(x); }), R"({"op":"sigmoid"})"},
        {"tanh", {{7}}, unary([](Tensor x) { return tanh(x); }), R"({"op":"tanh"})"},
        {"softmax flat", {{6}}, unary([](Tensor x) { return softmax(x); }), R"({"op":"softmax"})"},
        {"log_softmax per pixel", {{4, 3, 2}}, unary([](Tensor x) { return log_softmax(x); }), R"({"op":"log_softmax"})"},
        {"dense", {{9}}, unary([](Tensor x) { return dense(x, {.units = 5}); }), R"({"op":"dense","units":5})"},
        {"flatten", {{3, 2, 4}}, unary([](Tensor x) { return flatten(x); }), R"({"op":"flatten"})"},
        {"reshape", {{4, 3, 2}}, unary([](Tensor x) { return reshape(x, {2, 4, 3}); }), R"({"op":"reshape","c":2,"h":4,"w":3})"},
        {"add", {{2, 3, 3}},
         [](std::vector<Tensor>& xs) { Tensor a = relu(xs[0]); add({xs[0], a}); },
         ""},
        {"zero_pad", {{2, 3, 4}}, unary([asym](Tensor x) { return zero_pad(x, asym); }),
         R"({"op":"zero_pad","pad_top":1,"pad_bottom":0,"pad_left":2,"pad_right":1})"},
        {"batch_norm training", {{3, 4, 5}}, unary([](Tensor x) { return batch_norm(x); }),
         R"({"op":"batch_norm","training":true})", true},
        {"batch_norm inference", {{3, 4, 5}}, unary([](Tensor x) { return batch_norm(x); }),
         R"({"op":"batch_norm","training":false})"},
        {"batch_norm flat training", {{6}}, unary([](Tensor x) { return batch_norm(x, {.momentum = 0.3f}); }),
         R"({"op":"batch_norm","training":true,"momentum":0.3})", true},
        {"dropout training", {{3, 4, 4}}, unary([](Tensor x) { return dropout(x, 0.3f); }),
         R"({"op":"dropout","rate":0.3,"training":true})", true},
        {"dropout inference", {{3, 4, 4}}, unary([](Tensor x) { return dropout(x, 0.3f); }),
         R"({"op":"dropout","rate":0.3,"training":false})"},
        {"softmax_cross_entropy label smoothing", {{5}},
         unary([](Tensor x) { return softmax_cross_entropy(x, {.label_smoothing = 0.1f}); }),
         R"({"op":"softmax_cross_entropy","label_smoothing":0.1})"},
        {"softmax_cross_entropy per pixel", {{4, 3, 2}},
         unary([](Tensor x) { return softmax_cross_entropy(x); }), R"({"op":"softmax_cross_entropy"})"},
        {"mse", {{2, 3, 3}}, unary([](Tensor x) { return mse(x); }), R"({"op":"mse"})"},
        // Appended last: the cases share one random stream, and the flat batch norm's input
        // gradient over a batch of two is sensitive to which values it draws.
        {"relu6", {{3, 4, 4}}, unary([](Tensor x) { return relu6(x); }), R"({"op":"relu6"})"},
    };
}

}  // namespace

TEST_CASE("every op's forward and generated gradients match PyTorch autograd") {
    std::string why = ref::torch_unavailable_reason();
    REQUIRE_MESSAGE(why.empty(), why);
    std::mt19937_64 rng(21);
    std::vector<OpCase> all = cases();
    std::vector<Computed> computed;
    std::vector<ref::ReferenceCase> references;
    for (const OpCase& c : all) {
        if (c.spec.empty()) continue;
        INFO("case " << c.name);
        computed.push_back(run_case(c, rng));
        references.push_back({std::to_string(references.size()), c.spec, computed.back().tensors});
    }
    std::vector<std::vector<ref::NamedArray>> torch = ref::run_op_references(references);
    size_t k = 0;
    for (const OpCase& c : all) {
        if (c.spec.empty()) continue;
        for (const auto& [name, buffer] : computed[k].results)
            check_matches(buffer, ref::find_tensor(torch[k], name), c.name + ": " + name);
        ++k;
    }
    MESSAGE(k << " op configurations checked against PyTorch");
}

// The shared inputs lie in [-2, 2], below relu6's ceiling: its upper clamp is checked here.
TEST_CASE("relu6 clamps to [0, 6] and passes gradient only strictly between") {
    Model m("relu6");
    relu6(m.input({6}));
    ir::Graph g = passes::build_graph(m);
    Halide::ImageParam images = lower::image_input(g);
    Halide::Func input = lower::wrap(images, "input_f");
    lower::Mode mode;
    mode.batch = 1;
    Halide::Func out = lower::lower_graph(g, input, {}, mode).back();
    const float x[] = {-3.0f, -0.5f, 0.5f, 5.5f, 6.5f, 10.0f};
    const float want[] = {0.0f, 0.0f, 0.5f, 5.5f, 6.0f, 6.0f};
    const float want_grad[] = {0.0f, 0.0f, 1.0f, 1.0f, 0.0f, 0.0f};
    Halide::Buffer<float> in(6, 1);
    for (int i = 0; i < 6; ++i) in(i, 0) = x[i];
    images.set(in);
    Halide::RDom r(0, 6);
    Halide::Func objective("objective");
    objective() = sum(out(r, 0));
    Halide::Buffer<float> y = out.realize({6, 1});
    Halide::Buffer<float> grad = Halide::propagate_adjoints(objective)(input).realize({6, 1});
    for (int i = 0; i < 6; ++i) {
        INFO("x = " << x[i]);
        CHECK(y(i, 0) == want[i]);
        CHECK(grad(i, 0) == want_grad[i]);
    }
}
