// Micro-batches: a split step gives the whole batch's results, its parts' pipelines run serially
// on the part's thread, and the number of parts is checked against the model.
#include <doctest/doctest.h>

#include <cmath>
#include <mutex>
#include <random>
#include <thread>

#include "runtime/micro_batches.h"
#include "tests/runtime/invalid_argument_util.h"
#include "tests/runtime/test_util.h"
#include "training_fixture.h"

namespace cnnc::runtime {
namespace {

using testing::contains;
using testing::invalid_argument_of;

struct Batch {
    Tensor images;
    LabelTensor labels;
};

Batch random_batch(const ir::Graph& g, int64_t n, uint64_t seed) {
    const Shape& in = g.node(g.input).shape;
    Batch b{Tensor({in.channels(), in.width(), in.height(), n}), LabelTensor({n})};
    std::mt19937_64 rng(seed);
    std::normal_distribution<float> pixel;
    for (float& v : b.images.values()) v = pixel(rng);
    for (int32_t& l : b.labels.values()) l = int32_t(rng() % 10);
    return b;
}

float max_abs(const Tensor& t) {
    float m = 0;
    for (float v : t.values()) m = std::max(m, std::fabs(v));
    return m;
}

float max_abs_difference(const Tensor& a, const Tensor& b) {
    float m = 0;
    for (size_t i = 0; i < a.size(); ++i) m = std::max(m, std::fabs(a.data()[i] - b.data()[i]));
    return m;
}

TEST_CASE("a step in micro-batches gives the whole batch's loss, correct count and gradients") {
    const ir::Graph& g = testing::lenet5_graph();
    const Pipelines p = testing::lenet5_pipelines();
    const ModelState state = ModelState::initialised(g, 3);
    for (int64_t n : {64, 7}) {
        Batch b = random_batch(g, n, uint64_t(n));
        StepOutputs whole(g);
        call_train_step(p.train_step, state, b.images.raw(), b.labels.raw(), 11, whole);
        for (int parts : {2, 3, 5}) {
            CAPTURE(n);
            CAPTURE(parts);
            MicroBatchStep step(g, parts);
            StepOutputs split(g);
            step.run(p.train_step, state, b.images.raw(), b.labels.raw(), 11, split);
            CHECK(split.loss.data()[0] == doctest::Approx(whole.loss.data()[0]).epsilon(1e-5));
            CHECK(split.correct.data()[0] == whole.correct.data()[0]);
            for (size_t i = 0; i < whole.grads.size(); ++i) {
                CAPTURE(i);
                REQUIRE(max_abs(whole.grads[i]) > 0);
                CHECK(max_abs_difference(split.grads[i], whole.grads[i]) <=
                      1e-5f * max_abs(whole.grads[i]));
            }
        }
    }
}

TEST_CASE("pipelines called inside a micro-batch run their parallel loops on its thread") {
    constexpr int parts = 4, tasks = 16;
    std::thread::id ran_on[parts][tasks], part_thread[parts];
    struct Closure {
        std::thread::id* slots;
    };
    auto task = [](void*, int i, uint8_t* c) {
        // Slow enough that the pool's other threads would take tasks of a parallel loop.
        std::this_thread::sleep_for(std::chrono::microseconds(200));
        reinterpret_cast<Closure*>(c)->slots[i] = std::this_thread::get_id();
        return 0;
    };
    on_pipeline_threads_with_serial_pipelines(parts, [&](int64_t part) {
        part_thread[part] = std::this_thread::get_id();
        Closure c{ran_on[part]};
        CHECK(halide_do_par_for(nullptr, task, 0, tasks, reinterpret_cast<uint8_t*>(&c)) == 0);
    });
    for (int part = 0; part < parts; ++part)
        for (int i = 0; i < tasks; ++i) CHECK(ran_on[part][i] == part_thread[part]);
}

TEST_CASE("must-fail: a pipeline error in a micro-batch names the micro-batch and the images") {
    const ir::Graph& g = testing::lenet5_graph();
    const Pipelines p = testing::lenet5_pipelines();
    ModelState state = ModelState::initialised(g, 3);
    state.params[0] = Tensor({1, 2, 3});  // not the first weight's extents
    Batch b = random_batch(g, 64, 1);
    MicroBatchStep step(g, 2);
    StepOutputs out(g);
    try {
        step.run(p.train_step, state, b.images.raw(), b.labels.raw(), 1, out);
        FAIL("no error");
    } catch (const std::runtime_error& e) {
        CHECK(contains(e.what(), "micro-batch 1 of 2 (images 0 to 31)"));
        CHECK(contains(e.what(), "lenet5_train_step"));
    }
    state = ModelState::initialised(g, 3);
    LabelTensor fewer({63});
    CHECK(contains(invalid_argument_of([&] {
                       step.run(p.train_step, state, b.images.raw(), fewer.raw(), 1, out);
                   }),
                   "64 images but 63 labels"));
}

TEST_CASE("the number of micro-batches: chosen per thread, checked when asked for") {
    const ir::Graph& g = testing::lenet5_graph();
    const PipelineEntry step = testing::lenet5_pipelines().train_step;
    // Chosen: one per thread, at least 16 images each.
    CHECK(micro_batches_for(g, step, 0, 64) == std::min(4, pipeline_threads()));
    CHECK(micro_batches_for(g, step, 0, 20) == 1);
    CHECK(micro_batches_for(g, step, 5, 64) == 5);
    CHECK(micro_batches_for(g, step, 64, 64) == 64);
    CHECK(contains(invalid_argument_of([&] { micro_batches_for(g, step, -1, 64); }),
                   "--micro-batches -1: give 1 or more"));
    CHECK(contains(invalid_argument_of([&] { micro_batches_for(g, step, 65, 64); }),
                   "--micro-batches 65: more micro-batches than the 64 images of a batch"));
    // train() checks it before the first step.
    TrainOptions o = testing::quick_options(1);
    o.micro_batches = 100;
    ModelState state = ModelState::initialised(g, 1);
    CHECK(contains(invalid_argument_of([&] {
                       train(state, testing::lenet5_pipelines(), testing::synthetic_data(200, 1),
                             o);
                   }),
                   "--micro-batches 100"));
}

TEST_CASE("training in micro-batches learns as the whole batch does") {
    const ir::Graph& g = testing::lenet5_graph();
    const Dataset data = testing::synthetic_data(1000, 5);
    double accuracy[2];
    for (int parts : {1, 3}) {
        TrainOptions o = testing::quick_options(3);
        o.optimizer.kind = "adam";
        o.optimizer.lr = 0.002f;
        o.micro_batches = parts;
        ModelState state = ModelState::initialised(g, 1);
        const TrainReport r = train(state, testing::lenet5_pipelines(), data, o);
        CHECK(r.micro_batches == parts);
        accuracy[parts == 3] = r.validation_accuracy;
    }
    CHECK(accuracy[0] > 0.9);
    CHECK(accuracy[1] > 0.9);
    MESSAGE("validation accuracy: " << accuracy[0] << " whole, " << accuracy[1] << " in 3 parts");
}

}  // namespace
}  // namespace cnnc::runtime
