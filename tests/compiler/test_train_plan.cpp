// The training step as a plan of kernels (passes/train_plan, autodiff/train_kernels): each
// kernel scheduled as programs get it, called in plan order under the JIT, against the whole
// step lowered as one pipeline (autodiff::build_train_step).
#include <doctest/doctest.h>

#include <Halide.h>

#include <cmath>
#include <random>
#include <sstream>

#include "compiler/autodiff/train_kernels.h"
#include "compiler/autodiff/train_step.h"
#include "compiler/lower/inference.h"
#include "compiler/passes/shape_inference.h"
#include "dsl/dsl.h"
#include "schedules/called_funcs.h"
#include "schedules/schedule.h"

using namespace cnnc;

namespace {

using Buf = Halide::Buffer<float>;

struct Step {
    float loss = 0;
    std::vector<Buf> grads, state;  // per learnable / state parameter, graph order
};

std::vector<int> extents_of(const std::vector<int64_t>& e, int batch = -1) {
    std::vector<int> out(e.begin(), e.end());
    if (batch >= 0) out.push_back(batch);
    return out;
}

Step empty_step(const ir::Graph& g) {
    Step s;
    for (const ir::Param& p : g.params)
        (p.learnable ? s.grads : s.state).emplace_back(extents_of(p.storage_extents()));
    return s;
}

// Binds buffers (and the seed, at the scalar argument) in argument order, then realizes under
// the CPU training schedule with `params` (register tiles, image blocks: the graph's extents).
void call(autodiff::TrainKernel k, const std::vector<Halide::Buffer<>>& in, int seed,
          std::vector<Halide::Buffer<>> out, const ir::Graph& g,
          const schedules::ScheduleParams& params) {
    const Halide::Target target = Halide::get_jit_target_from_environment();
    schedules::schedule_training_stages(k.outputs, target, &g, params);
    size_t next = 0;
    for (Halide::Internal::Parameter& p : k.parameters) {
        if (p.is_buffer())
            p.set_buffer(in.at(next++));
        else
            p.set_scalar<int>(seed);
    }
    REQUIRE(next == in.size());
    Halide::Realization outputs(out);
    Halide::Pipeline(k.outputs).realize(outputs, target);
}

// The plan's calls in order, over buffers allocated here.
Step run_plan(const ir::Graph& g, const Buf& images, const Halide::Buffer<int>& labels,
              const std::vector<Buf>& params, int seed, const schedules::ScheduleParams& schedule) {
    const passes::TrainPlan plan = passes::plan_training(g);
    const int batch = images.dim(images.dimensions() - 1).extent();
    std::vector<Buf> buffers{images};
    for (size_t b = 1; b < plan.buffers.size(); ++b)
        buffers.emplace_back(extents_of(lower::storage_extents(plan.buffers[b].shape), batch));
    Step r = empty_step(g);
    std::vector<int> result_of(g.params.size());  // index into grads or state
    for (size_t i = 0, learnable = 0, state = 0; i < g.params.size(); ++i)
        result_of[i] = int(g.params[i].learnable ? learnable++ : state++);
    Buf loss = Buf::make_scalar(), correct = Buf::make_scalar();
    for (const passes::TrainCall& c : plan.calls) {
        std::vector<Halide::Buffer<>> in, out;
        for (int b : c.inputs) in.push_back(buffers[size_t(b)]);
        if (c.kind == passes::TrainCall::Kind::loss) {
            in.push_back(labels);
            out = {loss, correct, buffers[size_t(c.outputs.at(0))]};
            call(autodiff::loss_kernel(g), in, seed, out, g, schedule);
            continue;
        }
        const passes::Segment& s = plan.partition.segments[size_t(c.segment)];
        for (int p : s.params) in.push_back(params[size_t(p)]);
        for (int b : c.adjoints) in.push_back(buffers[size_t(b)]);
        for (int b : c.outputs) out.push_back(buffers[size_t(b)]);
        const bool forward = c.kind == passes::TrainCall::Kind::forward;
        for (int p : s.params)
            if (g.params[size_t(p)].learnable != forward)
                out.push_back(forward ? r.state[size_t(result_of[size_t(p)])]
                                      : r.grads[size_t(result_of[size_t(p)])]);
        if (forward)
            call(autodiff::forward_kernel(g, s), in, seed, out, g, schedule);
        else
            call(autodiff::backward_kernel(g, s, plan.backward_kernels[size_t(c.kernel)]), in,
                 seed, out, g, schedule);
    }
    r.loss = loss();
    return r;
}

// The whole step as one pipeline, every stage computed once (unscheduled, a batch norm would
// recompute its inlined convolution for every statistic and output).
Step run_whole_step(const ir::Graph& g, const Buf& images, const Halide::Buffer<int>& labels,
                    const std::vector<Buf>& params, int seed) {
    autodiff::TrainStep t = autodiff::build_train_step(g);
    t.images.set(images);
    t.labels.set(labels);
    t.seed.set(seed);
    for (size_t i = 0; i < params.size(); ++i) t.params[i].set(params[i]);
    Step r = empty_step(g);
    Buf loss = Buf::make_scalar(), correct = Buf::make_scalar();
    std::vector<Halide::Buffer<>> out{loss, correct};
    out.insert(out.end(), r.grads.begin(), r.grads.end());
    out.insert(out.end(), r.state.begin(), r.state.end());
    for (Halide::Func f : t.outputs()) {
        f.compute_root();
        for (const auto& [name, fn] : Halide::Internal::find_transitive_calls(f.function()))
            Halide::Func(fn).compute_root();
    }
    Halide::Realization outputs(out);
    Halide::Pipeline(t.outputs()).realize(outputs);
    r.loss = loss();
    return r;
}

void check_same(const std::vector<Buf>& got, const std::vector<Buf>& want, const ir::Graph& g,
                bool learnable) {
    size_t k = 0;
    for (const ir::Param& p : g.params) {
        if (p.learnable != learnable) continue;
        INFO(p.name);
        const Buf &a = got[k], &b = want[k++];
        double worst = 0, scale = 1e-12;
        for (int64_t i = 0; i < int64_t(b.number_of_elements()); ++i) {
            worst = std::max(worst, double(std::abs(a.data()[i] - b.data()[i])));
            scale = std::max(scale, double(std::abs(b.data()[i])));
        }
        CHECK(worst / scale < 1e-4);
    }
}

// Random images, labels and parameters (batch norm variances positive), then both steps: the
// plan under the default schedule, then with every knob of the convolution gradients' register
// tiles away from its default, every loop serial, and with channel blocks outside the images
// (each task copying its slice of the weights; schedules do not change results). The
// residual model's channels fill whole vectors; the mixed model's 3 channels and its dense input
// take the vectors of images.
void check_plan_matches_whole_step(const Model& m, int batch) {
    ir::Graph g = passes::build_graph(m);
    std::mt19937_64 rng(41);
    std::uniform_real_distribution<float> u(-1, 1);
    const Shape& in = g.node(g.input).shape;
    Buf images(extents_of(lower::storage_extents(in), batch));
    for (int64_t i = 0; i < int64_t(images.number_of_elements()); ++i) images.data()[i] = u(rng);
    Halide::Buffer<int> labels(batch);
    for (int i = 0; i < batch; ++i) labels(i) = int(rng() % uint64_t(g.node(g.logits).shape[0]));
    std::vector<Buf> params;
    for (const ir::Param& p : g.params) {
        params.emplace_back(extents_of(p.storage_extents()));
        for (int64_t i = 0; i < int64_t(params.back().number_of_elements()); ++i)
            params.back().data()[i] = p.role == "running_var" ? 1.0f + 0.5f * u(rng) : 0.5f * u(rng);
    }
    Step whole = run_whole_step(g, images, labels, params, 7);
    const std::vector<schedules::ScheduleParams> schedules{
        {},
        {{{"vectors", 1}, {"strip", 2}, {"strip2", 1}, {"image_block", 2}, {"fuse_tasks", 1},
          {"parallel", 0}}},
        {{{"channels_outer", 1}, {"task_images", 2}}}};
    for (const schedules::ScheduleParams& schedule : schedules) {
        INFO("schedule: " << schedule.text());
        Step plan = run_plan(g, images, labels, params, 7, schedule);
        CHECK(plan.loss == doctest::Approx(whole.loss).epsilon(1e-5));
        check_same(plan.grads, whole.grads, g, true);
        check_same(plan.state, whole.state, g, false);
    }
}

}  // namespace

TEST_CASE("a residual stage at an even size: stride-2 convolutions and a shortcut") {
    Model m("residual");
    Tensor x = m.input({16, 14, 14});
    // Symmetric padding 1 at stride 2 on an even size: the last padded row is never read.
    Tensor a = relu(batch_norm(conv2d(x, {.filters = 32, .kernel = 3, .stride = 2,
                                          .padding = Padding::explicit_sides,
                                          .pads = {1, 1, 1, 1}, .bias = false})));
    a = batch_norm(conv2d(a, {.filters = 32, .kernel = 3, .padding = same, .bias = false}));
    Tensor s = batch_norm(conv2d(x, {.filters = 32, .kernel = 1, .stride = 2, .bias = false}));
    Tensor y = relu(add({a, s}));
    // y has two readers: its adjoint is the sum of two backward kernels' outputs.
    Tensor b = conv2d(y, {.filters = 32, .kernel = 3, .padding = same});
    y = relu(add({y, b}));
    softmax_cross_entropy(dense(flatten(global_avg_pool(y)), {.units = 5}));
    check_plan_matches_whole_step(m, 3);
}

TEST_CASE("the base name of a training stage") {
    CHECK(schedules::base_name("conv2d_1_padded") == "conv2d_1_padded");
    CHECK(schedules::base_name("conv2d_1_padded$1") == "conv2d_1_padded");
    CHECK(schedules::base_name("conv2d_1_padded$1_0_d_def__") == "conv2d_1_padded");
    CHECK(schedules::base_name("conv2d_1_padded_0_d_def__$2") == "conv2d_1_padded");
    // A copy's "$1" turned into "_1" by autodiff, then the derivative made unique.
    CHECK(schedules::base_name("layer3_0_conv1_weight_f_1_0_d_def__$1") ==
          "layer3_0_conv1_weight_f");
    CHECK(schedules::base_name("layer4_0_downsample_0_out$1_1_d_def__") ==
          "layer4_0_downsample_0_out");
    CHECK(schedules::base_name("sum$14_1_d_def__") == "sum");
}

// Kernels built again in one process (as the compiler builds the training step's kernels) get
// Funcs renamed "<name>$<k>", and their derivatives names built on those: every convolution's
// gradients still get register tiles. (The "<name>_<k>_<update>_d_def__$<j>" form that ResNet-18's
// later blocks showed is checked by base_name's cases above.)
TEST_CASE("every convolution gradient is tiled in kernels built again in the process") {
    Model m("tiled_again");
    Tensor x = m.input({16, 8, 8});
    Tensor a = relu(conv2d(x, {.filters = 32, .kernel = 3, .padding = same}));
    a = conv2d(a, {.filters = 32, .kernel = 3, .padding = same});
    softmax_cross_entropy(dense(flatten(global_avg_pool(a)), {.units = 5}));
    ir::Graph g = passes::build_graph(m);
    const passes::TrainPlan plan = passes::plan_training(g);
    const Halide::Target target("x86-64-linux-avx2-fma");
    for (int round = 0; round < 2; ++round) {
        for (const passes::TrainCall& c : plan.calls) {
            if (c.kind == passes::TrainCall::Kind::loss) continue;
            const passes::Segment& s = plan.partition.segments[size_t(c.segment)];
            autodiff::TrainKernel k =
                c.kind == passes::TrainCall::Kind::forward
                    ? autodiff::forward_kernel(g, s)
                    : autodiff::backward_kernel(g, s, plan.backward_kernels[size_t(c.kernel)]);
            const std::string log = schedules::schedule_training_stages(k.outputs, target, &g);
            std::istringstream lines(log);
            for (std::string line; std::getline(lines, line);) {
                const std::string stage = line.substr(0, line.find(':'));
                const bool conv_gradient = stage.rfind("conv2d", 0) == 0 &&
                                           stage.find("_d_def__") != std::string::npos &&
                                           stage.find("_output") == std::string::npos &&
                                           (stage.find("weight_f") != std::string::npos ||
                                            stage.find("_padded") != std::string::npos) &&
                                           line.find("compute_root") != std::string::npos;
                if (!conv_gradient) continue;
                INFO("round " << round << ": " << line);
                CHECK(line.find("updates tiled") != std::string::npos);
            }
        }
    }
}

TEST_CASE("dropout, pooling and concatenation through the plan") {
    Model m("mixed");
    Tensor x = m.input({2, 9, 9});
    Tensor a = relu(conv2d(x, {.filters = 3, .kernel = 3, .padding = same}));
    Tensor b = max_pool(x, {.kernel = 3, .stride = 1, .padding = same});
    Tensor c = concat({a, b});
    c = avg_pool(c, {.kernel = 2});
    Tensor d = dropout(flatten(c), 0.3f);
    softmax_cross_entropy(dense(d, {.units = 4}));
    // 3 channels and a dense input: vectors of images (schedules/cpu/training.cpp), one whole
    // vector of 16 and a partial one.
    check_plan_matches_whole_step(m, 20);
}
