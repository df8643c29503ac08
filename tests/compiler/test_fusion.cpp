// Convolutions fused into their consumer's kernel (a pool, or a 1x1 convolution after a depthwise
// one): same results computed per task or up front, under every tuning candidate.
#include <Halide.h>
#include <doctest/doctest.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <random>
#include <sstream>

#include "compiler/lower/inference.h"
#include "compiler/passes/shape_inference.h"
#include "dsl/dsl.h"
#include "schedules/called_funcs.h"
#include "schedules/cpu/templates.h"
#include "schedules/schedule.h"

using namespace cnnc;

namespace {

using Buf = Halide::Buffer<float>;

std::vector<int> extents_of(const Shape& s, int batch) {
    std::vector<int> out;
    for (int64_t e : lower::storage_extents(s)) out.push_back(int(e));
    out.push_back(batch);
    return out;
}

Buf random_buffer(const std::vector<int>& extents, std::mt19937_64& rng, float low = -1) {
    std::uniform_real_distribution<float> u(low, 1);
    Buf b(extents);
    for (int64_t i = 0; i < int64_t(b.number_of_elements()); ++i) b.data()[i] = u(rng);
    return b;
}

struct Inputs {
    Buf images;
    std::vector<Buf> params;
};

// Batch 3 (no tile divides it); running variances positive.
Inputs random_inputs(const ir::Graph& g) {
    std::mt19937_64 rng(7);
    Inputs in{random_buffer(extents_of(g.node(g.input).shape, 3), rng), {}};
    for (const ir::Param& p : g.params) {
        const std::vector<int64_t> extents = p.storage_extents();
        std::vector<int> e(extents.begin(), extents.end());
        in.params.push_back(random_buffer(e, rng, p.role == "running_var" ? 0.5f : -1));
    }
    return in;
}

std::string lowered_stmt(const lower::KernelPipeline& k, const Halide::Target& target) {
    const auto file = std::filesystem::temp_directory_path() / "cnnc_fusion_test.stmt";
    Halide::Pipeline(k.output).compile_to_lowered_stmt(file.string(), k.arguments(), Halide::Text,
                                                       target);
    std::stringstream text;
    text << std::ifstream(file).rdbuf();
    std::filesystem::remove(file);
    return text.str();
}

// The whole inference under the CPU templates with `params`, kernel by kernel (JIT): the model's
// output, and the lowered statement of the kernel that computes a fused producer.
struct Run {
    Buf out;
    std::string fused_stmt;
    std::string producer, consumer;   // their Funcs' names
    std::string output_stmt;          // the last kernel's
    std::string epilogue_of, output;  // the last kernel's: its convolution's sums' and output's Funcs
};

Run run(const ir::Graph& g, const Inputs& in, const schedules::ParamsFor& params,
        lower::ImageOrder order = lower::ImageOrder::channels_innermost) {
    const Halide::Target target = Halide::get_jit_target_from_environment();
    lower::InferencePipeline p = lower::build_inference(g, order);
    schedules::schedule_inference(p, g, target, params);
    std::vector<Buf> values(g.nodes.size());
    values[size_t(g.input)] = in.images;
    // The images as a kernel that reads them planar takes them: x innermost, then y, c and n.
    Buf planar_images(extents_of(g.node(g.input).shape, 3), std::vector<int>{1, 2, 0, 3});
    planar_images.copy_from(in.images);
    Run r;
    for (const passes::Segment& s : p.partition.segments) {
        lower::KernelPipeline& k = p.kernels.at(size_t(s.kernel));
        for (size_t i = 0; i < s.inputs.size(); ++i)
            k.inputs[i].set(k.planar_input && s.inputs[i] == g.input
                                ? planar_images
                                : values.at(size_t(s.inputs[i])));
        for (size_t i = 0; i < s.params.size(); ++i)
            k.bind_param(i, in.params.at(size_t(s.params[i])));
        if (s.fused_producer >= 0) {
            r.fused_stmt = lowered_stmt(k, target);
            r.producer = k.values[size_t(s.fused_producer)].name();
            r.consumer = k.output.name();
        }
        if (&s == &p.partition.segments.back()) {
            r.output_stmt = lowered_stmt(k, target);
            r.output = k.output.name();
            // The Func that sums the convolution (a folded batch norm's scaling is inlined); a
            // kernel shared with an earlier segment holds that one's nodes.
            if (s.epilogue_of >= 0 && k.values[size_t(s.epilogue_of)].defined())
                r.epilogue_of = schedules::accumulation(k.values[size_t(s.epilogue_of)],
                                                        g.node(s.epilogue_of))
                                    .name();
        }
        // A planar output: x innermost, then y, c and n.
        Buf out = k.planar_output ? Buf(extents_of(g.node(s.output).shape, 3), std::vector<int>{1, 2, 0, 3})
                                  : Buf(extents_of(g.node(s.output).shape, 3));
        Halide::Pipeline(k.output).realize(out, target);
        values[size_t(s.output)] = out;
        r.out = out;
    }
    return r;
}

// Compared value by value at the same coordinates, whatever order either is stored in.
double worst_difference(const Buf& a, const Buf& b) {
    REQUIRE(a.number_of_elements() == b.number_of_elements());
    double worst = 0;
    a.for_each_element([&](const int* at) {
        worst = std::max(worst, double(std::abs(a(at) - b(at))) / std::max(1.0, double(std::abs(b(at)))));
    });
    return worst;
}

// The consumer's parameters `p` (every other node's defaults).
schedules::ParamsFor consumer_params(const std::string& consumer, schedules::ScheduleParams p) {
    return [consumer, p](const ir::Node& n) {
        return n.name == consumer ? p : schedules::ScheduleParams{};
    };
}

// The producer is computed inside the consumer's parallel loop: in the function Halide makes of
// that loop's body ("<kernel>_par_for_<consumer>_..."), not in one of its own.
bool computed_inside(const std::string& stmt, const std::string& producer,
                     const std::string& consumer) {
    const size_t produce = stmt.find("produce " + producer + " ");
    const size_t header = produce == std::string::npos ? produce : stmt.rfind(" func ", produce);
    if (header == std::string::npos) return false;
    const std::string name = stmt.substr(header, stmt.find('\n', header) - header);
    const std::string loop = consumer.substr(0, consumer.find('$'));  // JIT renames
    return name.find("par_for_" + loop) != std::string::npos;
}

bool computed_per_task(const Run& r) {
    return computed_inside(r.fused_stmt, r.producer, r.consumer);
}

// The fused kernel's results, producer computed up front (fuse=0), per task by default, and
// under every candidate the tuner tries for the consumer.
void check_fusion(const Model& m, const std::string& consumer, bool fused_by_default) {
    const ir::Graph g = passes::build_graph(m);
    const Inputs in = random_inputs(g);
    const Run up_front = run(g, in, consumer_params(consumer, {{{"fuse", 0}}}));
    CHECK_FALSE(computed_per_task(up_front));
    const Run by_default = run(g, in, {});
    CHECK(computed_per_task(by_default) == fused_by_default);
    CHECK(worst_difference(by_default.out, up_front.out) < 1e-5);
    const ir::Node* c = nullptr;
    const ir::Node* producer = nullptr;
    for (const passes::Segment& s : passes::partition_inference(g).segments)
        if (s.fused_producer >= 0) producer = &g.node(s.fused_producer);
    for (const ir::Node& n : g.nodes)
        if (n.name == consumer) c = &n;
    REQUIRE(c);
    REQUIRE(producer);
    const auto candidates =
        schedules::cpu::candidates(*c, Halide::get_jit_target_from_environment(), producer);
    bool some_fused = false;
    for (const schedules::ScheduleParams& p : candidates) {
        INFO(consumer << " " << p.text());
        const Run tuned = run(g, in, consumer_params(consumer, p));
        some_fused |= computed_per_task(tuned);
        CHECK(worst_difference(tuned.out, up_front.out) < 1e-5);
    }
    CHECK(some_fused);
}

}  // namespace

TEST_CASE("a convolution computed per block of its 2x2 pool's rows gives the same result") {
    // 20 filters (no whole vector of 16: the tile accumulates in the output); 13 rows pool to 6,
    // so the last block of rows is a partial one.
    Model m("conv_pool");
    Tensor x = m.input({5, 13, 11});
    x = relu(conv2d(x, {.filters = 20, .kernel = 3, .padding = same, .name = "conv"}));
    max_pool(x, {.kernel = 2, .name = "pool"});
    check_fusion(m, "pool", true);
}

TEST_CASE("a convolution with its batch norm fused into an overlapping 3x3/2 pool") {
    // 32 filters: the register-tile path, the padded input staged per row. Overlapping windows
    // are not fused by default; the tuner's fuse=1 candidates must still agree.
    Model m("stem");
    Tensor x = m.input({3, 15, 15});
    x = conv2d(
        x,
        {.filters = 32, .kernel = 3, .stride = 2, .padding = same, .bias = false, .name = "conv"});
    x = relu(batch_norm(x, {.name = "bn"}));
    max_pool(x, {.kernel = 3, .stride = 2, .padding = same, .name = "pool"});
    check_fusion(m, "pool", false);
}

TEST_CASE("a depthwise convolution computed per row of the 1x1 convolution it feeds") {
    Model m("separable");
    Tensor x = m.input({16, 9, 9});
    x = conv2d(
        x,
        {.filters = 16, .kernel = 3, .padding = same, .groups = 16, .bias = false, .name = "dw"});
    x = relu6(batch_norm(x, {.name = "dw_bn"}));
    x = conv2d(x, {.filters = 32, .kernel = 1, .bias = false, .name = "pw"});
    batch_norm(x, {.name = "pw_bn"});
    check_fusion(m, "pw", true);
}

TEST_CASE("a depthwise convolution computed per row of the 1x1 convolution whose ReLU it feeds") {
    // The 1x1 convolution is both the depthwise one's consumer and its ReLU's tile.
    Model m("separable_relu");
    Tensor x = m.input({16, 9, 9});
    x = conv2d(x, {.filters = 16, .kernel = 3, .padding = same, .groups = 16, .name = "dw"});
    x = relu(x);
    x = conv2d(x, {.filters = 32, .kernel = 1, .name = "pw"});
    relu(x, "act");
    const ir::Graph g = passes::build_graph(m);
    REQUIRE(passes::partition_inference(g).segments.size() == 1);
    CHECK(passes::partition_inference(g).segments[0].epilogue_of >= 0);
    check_fusion(m, "pw", true);
}

TEST_CASE("the padded input of a register-tiled convolution is staged, not recomputed per tap") {
    // A border computed inline puts a clamp and a select in every load of the reduction
    // (3x3 64 -> 64 @56: 242 instead of 345 GFLOP/s); looked up after the update's sums move
    // to a Func of their own, the padded input was no longer found and stayed inline.
    Model m("padded");
    Tensor x = m.input({16, 8, 8});
    conv2d(x, {.filters = 32, .kernel = 3, .padding = same, .name = "conv"});
    const ir::Graph g = passes::build_graph(m);
    const Halide::Target target = Halide::get_jit_target_from_environment();
    lower::InferencePipeline p = lower::build_inference(g);
    schedules::schedule_inference(p, g, target);
    CHECK(lowered_stmt(p.kernels.at(0), target).find("allocate conv_padded") != std::string::npos);
}

TEST_CASE("a convolution that is its kernel's output is computed per tile of a wrapper") {
    // The bias and the whole reduction in one loop nest over tiles (Func::in); wrap=0 computes
    // the convolution as its own output, bias first, then the update. 13 pixels leave a tail.
    Model m("output");
    Tensor x = m.input({8, 13, 5});
    conv2d(x, {.filters = 48, .kernel = 3, .padding = same, .name = "conv"});
    const ir::Graph g = passes::build_graph(m);
    const Inputs in = random_inputs(g);
    const Run plain = run(g, in, consumer_params("conv", {{{"wrap", 0}}}));
    CHECK(plain.output_stmt.find("wrapper") == std::string::npos);
    for (const schedules::ScheduleParams& p :
         schedules::cpu::candidates(g.nodes.back(), Halide::get_jit_target_from_environment())) {
        INFO(p.text());
        const Run wrapped = run(g, in, consumer_params("conv", p));
        CHECK((wrapped.output_stmt.find("wrapper") == std::string::npos) ==
              (p.get("wrap", 1) == 0));
        CHECK(worst_difference(wrapped.out, plain.out) < 1e-5);
    }
}

// A kernel whose output is a convolution's activation: the convolution computed per tile of the
// activation under every candidate but wrap=0, which computes it up front and the activation in
// a pass of its own; same results. `check` looks at wrap=0's output.
template <typename Check>
void check_epilogue(const Model& m, Check check) {
    const ir::Graph g = passes::build_graph(m);
    const passes::Partition partition = passes::partition_inference(g);
    REQUIRE(partition.segments.size() == 1);
    REQUIRE(partition.segments[0].epilogue_of >= 0);
    const ir::Node& conv = g.node(partition.segments[0].epilogue_of);
    const Inputs in = random_inputs(g);
    const Run plain = run(g, in, consumer_params(conv.name, {{{"wrap", 0}}}));
    CHECK_FALSE(computed_inside(plain.output_stmt, plain.epilogue_of, plain.output));
    check(plain.out, in);
    for (const schedules::ScheduleParams& p :
         schedules::cpu::candidates(conv, Halide::get_jit_target_from_environment())) {
        INFO(p.text());
        const Run tiled = run(g, in, consumer_params(conv.name, p));
        CHECK(computed_inside(tiled.output_stmt, tiled.epilogue_of, tiled.output) ==
              (p.get("wrap", 1) != 0));
        CHECK(worst_difference(tiled.out, plain.out) < 1e-5);
    }
}

TEST_CASE("a convolution's activation is computed per tile of the convolution, in its kernel") {
    Model m("epilogue");
    Tensor x = m.input({8, 13, 5});
    x = conv2d(x, {.filters = 48, .kernel = 3, .padding = same, .name = "conv"});
    relu6(x, "act");
    check_epilogue(m, [](const Buf& out, const Inputs&) {
        bool clamped = true;
        for (int64_t i = 0; i < int64_t(out.number_of_elements()); ++i)
            clamped &= out.data()[i] >= 0 && out.data()[i] <= 6;
        CHECK(clamped);
    });
}

TEST_CASE("a residual sum and its ReLU are computed per tile of the block's last convolution") {
    // ResNet's block ending: relu(bn(conv(x)) + x), the batch norm folded into the convolution.
    Model m("residual");
    Tensor x = m.input({48, 13, 5});
    Tensor c = conv2d(x, {.filters = 48, .kernel = 3, .padding = same, .bias = false});
    relu(add({batch_norm(c), x}), "out");
    // The values themselves are checked against the whole graph's (test_lowering) and PyTorch's
    // (architectures_numerics); here, that the ReLU ran.
    check_epilogue(m, [](const Buf& out, const Inputs&) {
        int zeros = 0;
        for (int64_t i = 0; i < int64_t(out.number_of_elements()); ++i) zeros += out.data()[i] == 0;
        CHECK(zeros > 0);
    });
}

namespace {

// The model's images read and written planar (lower::ImageOrder::planar) under the templates'
// defaults and the candidates the tuner tries for `last` (the node whose stage writes the
// output): all of them, or (to keep the suite short) the first (up front: wrap=0 or fuse=0) and
// the last (the widest tile), against the same kernels with channels-innermost images: the same
// values at every coordinate.
void check_planar_output(const Model& m, const std::string& last, bool every_candidate = true) {
    const ir::Graph g = passes::build_graph(m);
    const Inputs in = random_inputs(g);
    const Run channels = run(g, in, {});
    const Run planar = run(g, in, {}, lower::ImageOrder::planar);
    CHECK(lower::build_inference(g, lower::ImageOrder::planar).kernels.front().planar_input);
    REQUIRE(planar.out.dimensions() == 4);
    CHECK(planar.out.dim(1).stride() == 1);
    CHECK(planar.out.dim(0).stride() == planar.out.dim(1).extent() * planar.out.dim(2).extent());
    CHECK(worst_difference(planar.out, channels.out) < 1e-6);
    const passes::Partition partition = passes::partition_inference(g);
    const passes::Segment& out = partition.segments.back();
    const int fused = out.fused_producer;
    const ir::Node* node = nullptr;
    for (const ir::Node& n : g.nodes)
        if (n.name == last) node = &n;
    REQUIRE(node);
    std::vector<schedules::ScheduleParams> candidates = schedules::cpu::candidates(
        *node, Halide::get_jit_target_from_environment(), fused >= 0 ? &g.node(fused) : nullptr);
    if (!every_candidate && candidates.size() > 2)
        candidates = {candidates.front(), candidates.back()};
    for (const schedules::ScheduleParams& p : candidates) {
        INFO(last << " " << p.text());
        const Run tuned = run(g, in, consumer_params(last, p), lower::ImageOrder::planar);
        CHECK(worst_difference(tuned.out, channels.out) < 1e-5);
    }
}

}  // namespace

TEST_CASE("planar images give the values channels-innermost ones do, under every tile") {
    Model m("planar");
    SUBCASE("a register tile and its activation; 4 blocks of 3 rows, 13 pixels leave a tail") {
        Tensor x = m.input({8, 12, 13});
        relu(conv2d(x, {.filters = 48, .kernel = 3, .padding = same, .name = "conv"}));
        check_planar_output(m, "conv");
    }
    SUBCASE("channels that fill no vector, without an activation") {
        Tensor x = m.input({8, 13, 5});
        conv2d(x, {.filters = 13, .kernel = 3, .padding = same, .name = "conv"});
        check_planar_output(m, "conv", false);
    }
    SUBCASE("a depthwise convolution") {
        Tensor x = m.input({32, 11, 6});
        conv2d(x, {.filters = 32, .kernel = 3, .padding = same, .groups = 32, .name = "dw"});
        check_planar_output(m, "dw", false);
    }
    SUBCASE("a folded batch norm and a residual sum, computed per tile") {
        Tensor x = m.input({48, 13, 5});
        Tensor c = conv2d(x, {.filters = 48, .kernel = 3, .padding = same, .bias = false,
                              .name = "conv"});
        add({batch_norm(c), x}, "sum");
        check_planar_output(m, "conv", false);
    }
    SUBCASE("a pool that computes its convolution per block of rows") {
        Tensor x = m.input({5, 13, 11});
        x = relu(conv2d(x, {.filters = 32, .kernel = 3, .padding = same, .name = "conv"}));
        max_pool(x, {.kernel = 2, .name = "pool"});
        check_planar_output(m, "pool");
    }
    SUBCASE("a 1x1 convolution that computes the depthwise one before it") {
        Tensor x = m.input({16, 9, 9});
        x = conv2d(x, {.filters = 16, .kernel = 3, .padding = same, .groups = 16, .name = "dw"});
        x = conv2d(relu(x), {.filters = 32, .kernel = 1, .name = "pw"});
        check_planar_output(m, "pw", false);
    }
}

TEST_CASE("a convolution that stages planar input rows runs blocks of rows as tasks") {
    // 8 rows: 4 tasks of 2 rows, the padded input staged per block; 6 rows: no even count of 4
    // or more divides them, a task per row.
    for (int rows : {8, 6}) {
        Model m("planar_rows");
        Tensor x = m.input({5, rows, 11});
        relu(conv2d(x, {.filters = 32, .kernel = 3, .padding = same, .name = "conv"}));
        const ir::Graph g = passes::build_graph(m);
        const Inputs in = random_inputs(g);
        const Run planar = run(g, in, {}, lower::ImageOrder::planar);
        INFO(rows << " rows");
        CHECK((planar.output_stmt.find(".y.yi") != std::string::npos) == (rows == 8));
        CHECK(worst_difference(planar.out, run(g, in, {}).out) < 1e-6);
    }
}

TEST_CASE("per-pixel class probabilities written planar") {
    Model m("planar_probabilities");
    Tensor x = m.input({4, 10, 6});
    softmax_cross_entropy(conv2d(x, {.filters = 3, .kernel = 3, .padding = same}));
    const ir::Graph g = passes::build_graph(m);
    const Inputs in = random_inputs(g);
    const Run planar = run(g, in, {}, lower::ImageOrder::planar);
    CHECK(planar.out.dim(1).stride() == 1);
    CHECK(worst_difference(planar.out, run(g, in, {}).out) < 1e-6);
}

TEST_CASE("the kernels that read or write planar images are their segments' own") {
    // Three equal layers: one kernel for all, unless the first reads and the last writes planar.
    Model m("planar_shared");
    Tensor x = m.input({16, 7, 5});
    for (int i = 0; i < 3; ++i)
        x = relu(conv2d(x, {.filters = 16, .kernel = 3, .padding = same}));
    const ir::Graph g = passes::build_graph(m);
    const passes::Partition shared = passes::partition_inference(g);
    REQUIRE(shared.segments.size() == 3);
    REQUIRE(shared.kernels.size() == 1);
    const lower::InferencePipeline planar = lower::build_inference(g, lower::ImageOrder::planar);
    REQUIRE(planar.kernels.size() == 3);
    for (int i = 0; i < 3; ++i) {
        const lower::KernelPipeline& k = planar.kernels.at(size_t(planar.partition.segments[size_t(i)].kernel));
        CHECK(k.planar_input == (i == 0));
        CHECK(k.planar_output == (i == 2));
    }
    const Inputs in = random_inputs(g);
    CHECK(worst_difference(run(g, in, {}, lower::ImageOrder::planar).out, run(g, in, {}).out) <
          1e-6);
}

TEST_CASE("a flat output is the same in both orders: only the input is planar") {
    Model m("planar_flat");
    Tensor x = m.input({3, 6, 6});
    dense(flatten(conv2d(x, {.filters = 8, .kernel = 3})), {.units = 5});
    const ir::Graph g = passes::build_graph(m);
    const lower::InferencePipeline p = lower::build_inference(g, lower::ImageOrder::planar);
    for (const lower::KernelPipeline& k : p.kernels) CHECK_FALSE(k.planar_output);
    CHECK(p.kernels.front().planar_input);
    CHECK(p.kernels.size() == passes::partition_inference(g).kernels.size());
    const Inputs in = random_inputs(g);
    CHECK(worst_difference(run(g, in, {}, lower::ImageOrder::planar).out, run(g, in, {}).out) <
          1e-6);
}
