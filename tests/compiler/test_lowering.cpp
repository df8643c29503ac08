// Per-op lowering: every op's Halide forward against the naive double reference, under the default
// schedule template and under a plain alternative, which must agree.
#include <doctest/doctest.h>

#include <Halide.h>

#include <algorithm>
#include <cmath>
#include <map>
#include <random>

#include "compiler/lower/inference.h"
#include "compiler/lower/lower.h"
#include "compiler/passes/fold_batch_norm.h"
#include "compiler/passes/shape_inference.h"
#include "compiler/passes/weight_packing.h"
#include "dsl/dsl.h"
#include "schedules/cpu/templates.h"
#include "schedules/schedule.h"
#include "tests/reference/naive_ops.h"

using namespace cnnc;
namespace ref = cnnc::reference;

namespace {

// The templates' defaults, every stage computed once, and the templates with the parameters a
// tuner would try last (the widest register tile, loops reordered): schedules never change
// results.
enum class Scheduling { templates, compute_root, tuned_alternative };

schedules::ScheduleParams alternative_params(const ir::Node& n, const Halide::Target& target) {
    std::vector<schedules::ScheduleParams> c = schedules::cpu::candidates(n, target);
    return c.empty() ? schedules::ScheduleParams{} : c.back();
}

// Runs the model's last node through Halide (JIT) and returns its values in storage order.
std::vector<double> run_last_node(const Model& model, const ref::Act& input,
                                  const std::vector<std::vector<double>>& params,
                                  Scheduling scheduling,
                                  const schedules::ScheduleParams* last_params = nullptr) {
    ir::Graph g = passes::build_graph(model);
    Halide::ImageParam images = lower::image_input(g);
    std::vector<Halide::ImageParam> param_inputs = lower::parameter_inputs(g, "");
    std::vector<Halide::Func> param_funcs;
    for (auto& p : param_inputs) param_funcs.push_back(lower::wrap(p, p.name() + "_f"));
    lower::Mode inference;
    std::vector<Halide::Func> values =
        lower::lower_graph(g, lower::wrap(images, "in"), param_funcs, inference);
    Halide::Target target = Halide::get_host_target();
    for (size_t i = 1; i < g.nodes.size(); ++i) {
        if (scheduling == Scheduling::templates)
            schedules::schedule_node(values[i], g.nodes[i], target);
        else if (scheduling == Scheduling::tuned_alternative)
            schedules::schedule_node(values[i], g.nodes[i], target,
                                     last_params && i + 1 == g.nodes.size()
                                         ? *last_params
                                         : alternative_params(g.nodes[i], target));
        else if (g.nodes[i].op != Op::relu && g.nodes[i].op != Op::flatten)
            values[i].compute_root();
    }
    Halide::Buffer<float> in(int(input.c), int(input.w), int(input.h), int(input.n));
    for (size_t k = 0; k < input.v.size(); ++k) in.data()[k] = float(input.v[k]);
    images.set(in);
    std::vector<Halide::Buffer<float>> keep;
    for (size_t i = 0; i < params.size(); ++i) {
        const Shape& e = g.params[i].extents;
        std::vector<int> extents(e.dims.begin(), e.dims.begin() + e.rank);
        keep.emplace_back(extents);
        for (size_t k = 0; k < params[i].size(); ++k) keep.back().data()[k] = float(params[i][k]);
        param_inputs[i].set(keep.back());
    }
    const Shape& out = g.nodes.back().shape;
    std::vector<int> extents = out.rank == 3 ? std::vector<int>{int(out.channels()), int(out.width()),
                                                                int(out.height()), int(input.n)}
                                             : std::vector<int>{int(out[0]), int(input.n)};
    Halide::Buffer<float> result = values.back().realize(extents, target);
    return {result.data(), result.data() + result.number_of_elements()};
}

void check_close(const std::vector<double>& got, const std::vector<double>& want) {
    REQUIRE(got.size() == want.size());
    double scale = 1e-6;
    for (double w : want) scale = std::max(scale, std::abs(w));
    for (size_t i = 0; i < got.size(); ++i) {
        INFO("element " << i);
        CHECK(std::abs(got[i] - want[i]) <= 1e-5 * scale);
    }
}

void check_both_schedules(const Model& m, const ref::Act& x,
                          const std::vector<std::vector<double>>& params,
                          const std::vector<double>& want) {
    std::vector<double> templated = run_last_node(m, x, params, Scheduling::templates);
    std::vector<double> rooted = run_last_node(m, x, params, Scheduling::compute_root);
    std::vector<double> alternative = run_last_node(m, x, params, Scheduling::tuned_alternative);
    check_close(templated, want);
    check_close(rooted, want);
    check_close(alternative, want);
}

struct ConvCase {
    const char* name;
    int cin, h, w, filters, kernel, stride, dilation, groups;
    Padding padding;
    Pads pads;
    bool bias;
};

}  // namespace

TEST_CASE("conv2d forward matches the naive reference in every configuration") {
    const ConvCase cases[] = {
        {"same 5x5 (LeNet)", 1, 12, 12, 6, 5, 1, 1, 1, Padding::same, {}, true},
        {"valid odd sizes", 3, 9, 7, 5, 3, 1, 1, 1, Padding::valid, {}, true},
        {"stride 2 same", 4, 11, 10, 16, 3, 2, 1, 1, Padding::same, {}, true},
        {"stride 3 full", 2, 8, 9, 3, 2, 3, 1, 1, Padding::full, {}, false},
        {"dilation 2", 3, 10, 10, 8, 3, 1, 2, 1, Padding::valid, {}, true},
        {"groups 2", 4, 7, 7, 6, 3, 1, 1, 2, Padding::same, {}, true},
        {"depthwise", 8, 6, 6, 8, 3, 1, 1, 8, Padding::same, {}, false},
        {"explicit pads", 2, 6, 5, 20, 3, 1, 1, 1, Padding::explicit_sides, {1, 0, 2, 1}, true},
        // Whole channel vectors: the register tile's sums as a Func of their own, pixel tails.
        {"register tile, odd width", 5, 9, 15, 96, 3, 1, 1, 1, Padding::same, {}, true},
        {"1x1, no border", 32, 5, 7, 48, 1, 1, 1, 1, Padding::valid, {}, false},
        {"depthwise 32", 32, 9, 11, 32, 3, 2, 1, 32, Padding::same, {}, true},
    };
    std::mt19937_64 rng(7);
    for (const ConvCase& c : cases) {
        SUBCASE(c.name) {
            Model m("conv");
            Tensor x = m.input({c.cin, c.h, c.w});
            conv2d(x, {.filters = c.filters, .kernel = c.kernel, .stride = c.stride,
                       .dilation = c.dilation, .padding = c.padding, .pads = c.pads,
                       .groups = c.groups, .bias = c.bias});
            const Window& win = std::get<Conv2dAttrs>(m.last().attrs).window;
            ref::Conv2dSpec spec{c.filters,
                                 {c.kernel, c.kernel, c.stride, c.stride, c.dilation, c.dilation,
                                  {win.pads.top, win.pads.bottom, win.pads.left, win.pads.right}},
                                 c.groups, c.bias};
            ref::Act in = ref::random_act(c.cin, c.w, c.h, 2, rng);
            std::vector<double> w = ref::random_values(
                size_t(c.filters * c.kernel * c.kernel * (c.cin / c.groups)), rng);
            std::vector<double> b = c.bias ? ref::random_values(size_t(c.filters), rng)
                                           : std::vector<double>{};
            std::vector<std::vector<double>> params{w};
            if (c.bias) params.push_back(b);
            check_both_schedules(m, in, params, ref::conv2d_forward(in, spec, w, b).v);
        }
    }
}

namespace {

// The candidates the tuner would try for a convolution's template, against the naive reference:
// every one, or (every_order false) every tile in the default loop order only, for layers whose
// tiles differ from the fully checked layer's in their lanes or tails, not in the orders.
void check_conv_candidates(int cin, int size, int filters, int stride, bool every_order,
                           std::mt19937_64& rng) {
    Model m("conv");
    Tensor x = m.input({cin, size, size});
    conv2d(x, {.filters = filters, .kernel = 3, .stride = stride, .padding = same});
    const Window& win = std::get<Conv2dAttrs>(m.last().attrs).window;
    ref::Conv2dSpec spec{filters,
                         {3, 3, stride, stride, 1, 1,
                          {win.pads.top, win.pads.bottom, win.pads.left, win.pads.right}},
                         1, true};
    ref::Act in = ref::random_act(cin, size, size, 2, rng);
    std::vector<double> w = ref::random_values(size_t(filters * 9 * cin), rng);
    std::vector<double> b = ref::random_values(size_t(filters), rng);
    const std::vector<double> want = ref::conv2d_forward(in, spec, w, b).v;
    ir::Graph g = passes::build_graph(m);
    const auto candidates = schedules::cpu::candidates(g.nodes.back(), Halide::get_host_target());
    CHECK(candidates.size() >= 6);
    for (const schedules::ScheduleParams& p : candidates) {
        if (!every_order && (p.get("channels_outer", 0) || p.get("taps_inner", 0))) continue;
        INFO(filters << " filters, " << p.text());
        check_close(run_last_node(m, in, {w, b}, Scheduling::tuned_alternative, &p), want);
    }
}

}  // namespace

TEST_CASE("every tuning candidate computes what the naive reference does") {
    // 96 filters: 6 vectors of 16 lanes (or 12 of 8), tiles of 1 to 4 vectors; 13 pixels leave a
    // tail of every pixel tile. 80 filters: 5 vectors, whose tiles hold 1 vector (or 5).
    // 20 filters fill vectors of 4 lanes only; 6 fill none (the tile accumulates in the output).
    // (A lost guard once wrote a tile's tail past the channels into the next pixel.) Every
    // candidate of the 96-filter layer, all four loop orders of each tile; the others' tiles in
    // the default order (a third of the test's time, where all orders took 165 s of the suite).
    std::mt19937_64 rng(11);
    check_conv_candidates(5, 13, 96, 1, true, rng);
    for (int filters : {80, 20, 6}) check_conv_candidates(5, 13, filters, 1, false, rng);
    check_conv_candidates(5, 7, 80, 2, false, rng);

    Model d("dense");
    Tensor f = d.input({2, 5, 5});
    dense(flatten(f), {.units = 100});
    ref::Act v = ref::random_act(2, 5, 5, 3, rng);
    std::vector<std::vector<double>> dense_params{ref::random_values(size_t(50 * 100), rng),
                                                  ref::random_values(100, rng)};
    const std::vector<double> dense_want = run_last_node(d, v, dense_params, Scheduling::templates);
    ir::Graph dg = passes::build_graph(d);
    for (const schedules::ScheduleParams& p :
         schedules::cpu::candidates(dg.nodes.back(), Halide::get_host_target())) {
        INFO("dense " << p.text());
        check_close(run_last_node(d, v, dense_params, Scheduling::tuned_alternative, &p),
                    dense_want);
    }
}

namespace {

struct TransposedCase {
    const char* name;
    int cin, h, w, filters, kernel, stride, dilation, groups, output_padding;
    Pads pads;
    bool bias;
};

}  // namespace

TEST_CASE("transposed_conv2d forward matches the naive reference in every configuration") {
    // Both sides of each choice of the schedule template: channels in 4 or more whole vectors
    // (tasks over channel blocks) or in a part of one (tasks over rows); taps the stride tiles
    // exactly (U-Net), taps that overlap, taps cut by padding and taps that fall wholly in it;
    // kernels whose taps are all unrolled, one row of them, or none.
    const TransposedCase cases[] = {
        {"U-Net 2x2 stride 2, channel blocks", 8, 5, 4, 64, 2, 2, 1, 1, 0, {}, true},
        {"2x2 stride 2, a partial vector", 6, 4, 5, 13, 2, 2, 1, 1, 0, {}, false},
        {"3x3 stride 2, pads and output padding", 4, 5, 6, 20, 3, 2, 1, 1, 1, {1, 1, 1, 1}, true},
        {"3x3 stride 1, overlapping taps, channel blocks", 5, 6, 5, 72, 3, 1, 1, 1, 0, {}, true},
        {"dilation 2, groups 2", 4, 3, 4, 6, 2, 1, 2, 2, 0, {}, true},
        {"5x5 stride 3, pads drop whole taps", 3, 1, 3, 8, 5, 3, 1, 1, 0, {2, 1, 1, 2}, true},
    };
    std::mt19937_64 rng(11);
    for (const TransposedCase& c : cases) {
        SUBCASE(c.name) {
            Model m("transposed");
            Tensor x = m.input({c.cin, c.h, c.w});
            transposed_conv2d(
                x, {.filters = c.filters, .kernel = c.kernel, .stride = c.stride,
                    .dilation = c.dilation,
                    .padding = c.pads.any() ? Padding::explicit_sides : Padding::valid,
                    .pads = c.pads, .output_padding = c.output_padding, .groups = c.groups,
                    .bias = c.bias});
            ref::TransposedConv2dSpec spec{
                c.filters,
                {c.kernel, c.kernel, c.stride, c.stride, c.dilation, c.dilation,
                 {c.pads.top, c.pads.bottom, c.pads.left, c.pads.right}},
                c.groups,
                c.bias,
                c.output_padding,
                c.output_padding};
            ref::Act in = ref::random_act(c.cin, c.w, c.h, 2, rng);
            std::vector<double> w = ref::random_values(
                size_t(c.filters / c.groups * c.kernel * c.kernel * c.cin), rng);
            std::vector<double> b = c.bias ? ref::random_values(size_t(c.filters), rng)
                                           : std::vector<double>{};
            std::vector<std::vector<double>> params{w};
            if (c.bias) params.push_back(b);
            check_both_schedules(m, in, params, ref::transposed_conv2d_forward(in, spec, w, b).v);
        }
    }
}

TEST_CASE("max_pool forward matches the naive reference") {
    std::mt19937_64 rng(8);
    for (int stride : {1, 2, 3}) {
        Model m("pool");
        Tensor x = m.input({5, 9, 8});
        max_pool(x, {.kernel = 3, .stride = stride, .padding = same});
        const Window& w = std::get<PoolAttrs>(m.last().attrs).window;
        ref::Window rw{3, 3, stride, stride, 1, 1,
                       {w.pads.top, w.pads.bottom, w.pads.left, w.pads.right}};
        ref::Act in = ref::random_act(5, 8, 9, 3, rng);
        check_both_schedules(m, in, {}, ref::max_pool_forward(in, rw).v);
    }
}

TEST_CASE("relu, flatten and dense forward match the naive reference") {
    std::mt19937_64 rng(9);
    Model m("dense");
    Tensor x = m.input({3, 4, 5});
    dense(flatten(relu(x)), {.units = 21});
    ref::Act in = ref::random_act(3, 5, 4, 3, rng);
    std::vector<double> w = ref::random_values(21 * 60, rng), b = ref::random_values(21, rng);
    ref::Act flat = ref::flatten_forward(ref::relu_forward(in));
    check_both_schedules(m, in, {w, b}, ref::dense_forward(flat, 21, w, b).v);
}

TEST_CASE("softmax probabilities match the naive reference and sum to one") {
    std::mt19937_64 rng(10);
    ref::Act logits = ref::random_act(10, 1, 1, 4, rng, -20, 20);
    Halide::Buffer<float> in(10, 4);
    for (size_t k = 0; k < logits.v.size(); ++k) in.data()[k] = float(logits.v[k]);
    Halide::Func l("l");
    Halide::Var c, n;
    l(c, n) = in(c, n);
    Halide::Buffer<float> p = lower::class_probabilities(l, Shape{10}).realize({10, 4});
    check_close({p.data(), p.data() + 40}, ref::softmax_forward(logits).v);
}

namespace {

// Runs the inference kernels JIT-compiled, segment by segment, as the generated pipeline calls
// them; `params` holds one buffer per graph parameter.
Halide::Buffer<float> run_kernels(const ir::Graph& g, lower::InferencePipeline& p,
                                  const Halide::Buffer<float>& images,
                                  const std::vector<Halide::Buffer<float>>& params) {
    schedules::schedule_inference(p, g, Halide::get_jit_target_from_environment());
    std::map<int, Halide::Buffer<float>> values{{g.input, images}};
    for (const passes::Segment& s : p.partition.segments) {
        lower::KernelPipeline& k = p.kernels.at(size_t(s.kernel));
        for (size_t i = 0; i < s.inputs.size(); ++i) k.inputs[i].set(values.at(s.inputs[i]));
        for (size_t i = 0; i < s.params.size(); ++i) k.bind_param(i, params.at(size_t(s.params[i])));
        std::vector<int> extents;
        for (int64_t e : lower::storage_extents(g.node(s.output).shape)) extents.push_back(int(e));
        extents.push_back(images.dim(images.dimensions() - 1).extent());
        values[s.output] = k.output.realize(extents);
    }
    return values.at(p.partition.segments.back().output);
}

// The graph lowered whole as one unscheduled pipeline, without batch-norm folding: class
// probabilities (classes, batch).
Halide::Buffer<float> run_whole_graph(const ir::Graph& g, const Halide::Buffer<float>& images,
                                      const std::vector<Halide::Buffer<float>>& params) {
    lower::Mode plain;
    std::vector<Halide::ImageParam> inputs = lower::parameter_inputs(g, "_g");
    std::vector<Halide::Func> funcs;
    for (size_t i = 0; i < inputs.size(); ++i) {
        inputs[i].set(params[i]);
        funcs.push_back(lower::wrap(inputs[i], inputs[i].name() + "_f"));
    }
    Halide::ImageParam in = lower::image_input(g);
    in.set(images);
    auto values = lower::lower_graph(g, lower::wrap(in, "in2"), funcs, plain);
    const Shape& scores = g.node(g.logits).shape;
    const int batch = images.dim(images.dimensions() - 1).extent();
    return lower::class_probabilities(values[size_t(g.logits)], scores)
        .realize({int(scores.elements()), batch});
}

}  // namespace

TEST_CASE("batch norm folded into its convolution for inference computes the same outputs") {
    Model m("folded");
    Tensor x = m.input({3, 7, 6});
    x = relu(batch_norm(conv2d(x, {.filters = 5, .kernel = 3, .padding = same, .bias = false})));
    softmax_cross_entropy(dense(flatten(x), {.units = 4}));
    ir::Graph g = passes::build_graph(m);
    REQUIRE(passes::foldable_batch_norms(g) == std::map<int, int>{{1, 2}});

    std::mt19937_64 rng(30);
    Halide::Buffer<float> images(3, 6, 7, 2);
    std::uniform_real_distribution<float> d(-1, 1);
    for (int64_t i = 0; i < int64_t(images.number_of_elements()); ++i) images.data()[i] = d(rng);
    auto run = [&](bool fold) {
        lower::InferencePipeline p = lower::build_inference(g);
        std::vector<Halide::Buffer<float>> keep;
        for (size_t i = 0; i < g.params.size(); ++i) {
            const Shape& e = g.params[i].extents;
            keep.emplace_back(std::vector<int>(e.dims.begin(), e.dims.begin() + e.rank));
            float lo = g.params[i].role == "running_var" ? 0.5f : -1.0f;
            std::mt19937_64 prng(40 + i);
            std::uniform_real_distribution<float> pd(lo, lo + 2);
            for (int64_t k = 0; k < int64_t(keep.back().number_of_elements()); ++k)
                keep.back().data()[k] = pd(prng);
        }
        // Folded: the inference kernels, called in order; else the graph lowered whole
        // without the pass.
        Halide::Buffer<float> out =
            fold ? run_kernels(g, p, images, keep) : run_whole_graph(g, images, keep);
        return std::vector<double>(out.data(), out.data() + 8);
    };
    check_close(run(true), run(false));
}

namespace {

// Probabilities of `m` on random inputs and parameters: the inference kernels under their
// schedules, called in order, against the whole graph lowered as one unscheduled pipeline.
void check_kernels_match_whole_graph(const Model& m, size_t segments) {
    ir::Graph g = passes::build_graph(m);

    std::mt19937_64 rng(31);
    std::uniform_real_distribution<float> dist(-1, 1);
    Halide::Buffer<float> images(3, 7, 9, 3);
    for (int64_t i = 0; i < int64_t(images.number_of_elements()); ++i) images.data()[i] = dist(rng);
    std::vector<Halide::Buffer<float>> params;
    for (const ir::Param& p : g.params) {
        params.emplace_back(
            std::vector<int>(p.extents.dims.begin(), p.extents.dims.begin() + p.extents.rank));
        const bool variance = p.role == "running_var";  // positive, else sqrt gives NaN
        for (int64_t k = 0; k < int64_t(params.back().number_of_elements()); ++k)
            params.back().data()[k] = variance ? 0.5f + std::abs(dist(rng)) : 0.5f * dist(rng);
    }
    lower::InferencePipeline p = lower::build_inference(g);
    REQUIRE(p.partition.segments.size() == segments);
    Halide::Buffer<float> kernels = run_kernels(g, p, images, params);
    Halide::Buffer<float> whole = run_whole_graph(g, images, params);
    check_close(std::vector<double>(kernels.data(), kernels.data() + 15),
                std::vector<double>(whole.data(), whole.data() + 15));
}

}  // namespace

TEST_CASE("inference kernels, scheduled, compute what the whole graph computes") {
    Model m("kernels");
    Tensor x = m.input({3, 9, 7});
    // Channel counts that fill whole vectors, and one that does not.
    Tensor a = conv2d(x, {.filters = 64, .kernel = 3, .padding = same});
    Tensor b = conv2d(x, {.filters = 64, .kernel = 1});
    Tensor e = conv2d(x, {.filters = 13, .kernel = 1});
    Tensor cat = concat({relu(a), relu(b), e});
    SUBCASE("a concatenation read by two convolutions is written by a kernel of its own") {
        Tensor c = conv2d(cat, {.filters = 6, .kernel = 3, .padding = same});
        Tensor d = conv2d(cat, {.filters = 6, .kernel = 1});
        softmax_cross_entropy(dense(flatten(relu(add({c, d}))), {.units = 5}));
        check_kernels_match_whole_graph(m, 7);  // a, b, e, concat, c, d, the sum inside dense
    }
    SUBCASE("a concatenation read by one convolution runs inside its loops") {
        Tensor c = conv2d(cat, {.filters = 6, .kernel = 3, .padding = same});
        softmax_cross_entropy(dense(flatten(c), {.units = 5}));
        check_kernels_match_whole_graph(m, 5);
    }
}

namespace {

// A 3x3 convolution of 256 -> 256 channels (2.25 MB of weights, packed) with `stride`, after one
// of 3 -> 256 (27 KB, not packed), with an activation, or a batch norm folded in and an
// activation, against the whole graph.
void check_packed_convolution(int stride, bool folded) {
    Model m("packed");
    Tensor x = m.input({3, 9, 7});
    x = relu(conv2d(x, {.filters = 256, .kernel = 3, .padding = same}));
    Tensor a = conv2d(x, {.filters = 256, .kernel = 3, .stride = stride, .padding = same});
    softmax_cross_entropy(dense(flatten(relu(folded ? batch_norm(a) : a)), {.units = 5}));
    const ir::Graph g = passes::build_graph(m);
    const std::vector<bool> packed = passes::packed_weights(g);
    REQUIRE(std::count(packed.begin(), packed.end(), true) == 1);
    const size_t which = size_t(std::find(packed.begin(), packed.end(), true) - packed.begin());
    CHECK(g.params[which].extents.elements() == 256 * 3 * 3 * 256);
    const lower::InferencePipeline p = lower::build_inference(g);
    bool read_packed = false;
    for (const lower::KernelPipeline& k : p.kernels)
        read_packed |= std::count(k.packed.begin(), k.packed.end(), true) > 0;
    CHECK(read_packed);
    check_kernels_match_whole_graph(m, 3);
}

}  // namespace

TEST_CASE("weights of 1 MB and more are read packed and compute the same outputs") {
    SUBCASE("9 rows, the tasks; an activation in the tile") { check_packed_convolution(1, false); }
    SUBCASE("5 rows: channel blocks are the tasks; a folded batch norm") {
        check_packed_convolution(2, true);
    }
}

TEST_CASE("folded batch norms scale the sums of every kind of convolution tile") {
    // Two short chains: the whole graph's reference computes each convolution at the innermost
    // loop of its reader (Halide's default for a Func with an update), so a long one explodes.
    Model m("scaled");
    Tensor x = m.input({3, 9, 7});
    SUBCASE("in registers: per tile of an activation, and a depthwise one fused into a 1x1") {
        x = relu(batch_norm(conv2d(x, {.filters = 64, .kernel = 3, .padding = same})));
        x = relu6(batch_norm(conv2d(x, {.filters = 64, .kernel = 3, .padding = same, .groups = 64})));
        x = batch_norm(conv2d(x, {.filters = 32, .kernel = 1, .bias = false}));
        softmax_cross_entropy(dense(flatten(x), {.units = 5}));
        REQUIRE(passes::foldable_batch_norms(passes::build_graph(m)).size() == 3);
        check_kernels_match_whole_graph(m, 3);
    }
    SUBCASE("per row: channels that do not fill vectors, grouped sums") {
        x = batch_norm(conv2d(x, {.filters = 6, .kernel = 3, .padding = same}));
        x = relu(batch_norm(conv2d(x, {.filters = 8, .kernel = 1, .groups = 2})));
        softmax_cross_entropy(dense(flatten(x), {.units = 5}));
        REQUIRE(passes::foldable_batch_norms(passes::build_graph(m)).size() == 2);
        check_kernels_match_whole_graph(m, 3);
    }
}

TEST_CASE("concat places each input's channels after the previous inputs' channels") {
    Model m("cat");
    Tensor x = m.input({3, 2, 2});
    Tensor a = conv2d(x, {.filters = 5, .kernel = 1, .name = "a"});
    Tensor b = conv2d(x, {.filters = 7, .kernel = 1, .name = "b"});
    concat({a, x, b}, "cat");
    ir::Graph g = passes::build_graph(m);
    Halide::Buffer<float> in_a(5, 2, 2, 1), in_x(3, 2, 2, 1), in_b(7, 2, 2, 1);
    for (Halide::Buffer<float>* buf : {&in_a, &in_x, &in_b})
        for (int64_t i = 0; i < int64_t(buf->number_of_elements()); ++i)
            buf->data()[i] = float(buf->dim(0).extent() * 100 + i);
    lower::Mode mode;
    const ir::Node& cat = g.nodes.back();
    std::vector<Halide::Func> values(g.nodes.size());
    values[size_t(cat.inputs[0])] = Halide::Func(in_a);
    values[size_t(cat.inputs[1])] = Halide::Func(in_x);
    values[size_t(cat.inputs[2])] = Halide::Func(in_b);
    lower::lower_node(g, int(g.nodes.size()) - 1, values, {}, mode);
    Halide::Buffer<float> out = values.back().realize({15, 2, 2, 1});
    for (int y = 0; y < 2; ++y)
        for (int x = 0; x < 2; ++x)
            for (int c = 0; c < 15; ++c) {
                float want = c < 5   ? in_a(c, x, y, 0)
                             : c < 8 ? in_x(c - 5, x, y, 0)
                                     : in_b(c - 8, x, y, 0);
                INFO("channel " << c << " at " << x << "," << y);
                CHECK(out(c, x, y, 0) == want);
            }
}
