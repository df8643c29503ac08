// Resuming the generated fashion_cnn (batch normalisation and dropout): the running statistics
// travel in the checkpoint and dropout's masks depend on (seed, epoch, step) only, so the resumed
// run ends with the uninterrupted run's weights, bit for bit. Batch norm keeps it to one
// micro-batch per step.
#define DOCTEST_CONFIG_IMPLEMENT_WITH_MAIN
#include <doctest/doctest.h>

#include "compiler/passes/shape_inference.h"
#include "fashion_cnn_infer.h"
#include "fashion_cnn_train_step.h"
#include "runtime/checkpoint.h"
#include "runtime/micro_batches.h"
#include "tests/runtime/test_util.h"
#include "training_data.h"

cnnc::Model cnnc_build_model();

namespace cnnc::runtime {
namespace {

TEST_CASE(
    "fashion_cnn: 1 epoch + resume equals 2 epochs straight, batch norm and dropout included") {
    const ir::Graph g = passes::build_graph(cnnc_build_model());
    const Pipelines p{{fashion_cnn_infer_argv, fashion_cnn_infer_metadata},
                      {fashion_cnn_train_step_argv, fashion_cnn_train_step_metadata}};
    const Dataset data = testing::synthetic_data(200, 21);
    testing::TempDir dir;
    TrainOptions o = testing::quick_options(2);
    o.validation = 50;
    o.augment = AugmentOptions::parse("translate=1");

    o.checkpoint = dir.file("straight.ckpt");
    ModelState straight = ModelState::initialised(g, o.seed);
    train(straight, p, data, o);

    TrainOptions first = o;
    first.epochs = 1;
    first.checkpoint = dir.file("first.ckpt");
    ModelState interrupted = ModelState::initialised(g, o.seed);
    train(interrupted, p, data, first);
    const Checkpoint ck = load_checkpoint(first.checkpoint, g);
    ModelState resumed = ModelState::initialised(g, 5);
    o.checkpoint = dir.file("resumed.ckpt");
    train(resumed, p, data, o, &ck);

    bool has_state = false;
    for (size_t i = 0; i < g.params.size(); ++i) {
        CAPTURE(g.params[i].name);
        has_state |= !g.params[i].learnable;
        CHECK(testing::same_bits(straight.params[i], resumed.params[i]));
        // The running statistics did move: the comparison covers them for real.
        if (!g.params[i].learnable)
            CHECK_FALSE(
                testing::same_bits(straight.params[i], ModelState::initialised(g, 1).params[i]));
    }
    CHECK(has_state);
}

TEST_CASE("must-fail: micro-batches would change batch norm's statistics") {
    const ir::Graph g = passes::build_graph(cnnc_build_model());
    const PipelineEntry step{fashion_cnn_train_step_argv, fashion_cnn_train_step_metadata};
    CHECK(micro_batches_for(g, step, 0, 64) == 1);
    CHECK(micro_batches_for(g, step, 1, 64) == 1);
    try {
        micro_batches_for(g, step, 2, 64);
        FAIL("no error");
    } catch (const std::invalid_argument& e) {
        CHECK(testing::contains(e.what(), "--micro-batches 2: layer 'batch_norm' (batch norm)"));
    }
}

}  // namespace
}  // namespace cnnc::runtime
