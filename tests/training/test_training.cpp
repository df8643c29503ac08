// The training loop around the generated LeNet-5: resuming, early stopping, schedules, frozen
// layers, transfer learning, input normalisation and the validation loss.
#include <doctest/doctest.h>

#include <cmath>
#include <limits>

#include "runtime/checkpoint.h"
#include "runtime/transfer.h"
#include "tests/runtime/invalid_argument_util.h"
#include "tests/runtime/test_util.h"
#include "training_fixture.h"

namespace cnnc::runtime {
namespace {

using testing::invalid_argument_of;
using testing::same_bits;

TEST_CASE(
    "a run resumed from a checkpoint ends with the uninterrupted run's weights, bit for bit") {
    // Every piece of state a checkpoint carries is in play: Adam's two state tensors and step,
    // a plateau schedule that reduces the rate, early stopping with its best weights,
    // augmentation drawn per (seed, epoch, sample) and the per-epoch shuffle.
    const ir::Graph& g = testing::lenet5_graph();
    const Pipelines p = testing::lenet5_pipelines();
    const Dataset data = testing::synthetic_data(500, 3);
    testing::TempDir dir;
    TrainOptions o = testing::quick_options(3);
    o.optimizer.kind = "adam";
    o.optimizer.lr = 0.002f;
    // threshold 0.9: only a loss below a tenth of the best counts, so the rate falls after epoch 2.
    o.schedule = LrSchedule::parse("plateau:patience=0,factor=0.5,threshold=0.9");
    o.early_stopping = 5;
    o.augment = AugmentOptions::parse("flip,translate=2,rotate=10,noise=0.05");
    o.seed = 7;
    o.micro_batches = 2;  // the gradients are sums over micro-batches, dropout seeds per part

    o.checkpoint = dir.file("straight.ckpt");
    ModelState straight = ModelState::initialised(g, o.seed);
    TrainReport a = train(straight, p, data, o);

    TrainOptions first = o;
    first.epochs = 1;
    first.checkpoint = dir.file("interrupted.ckpt");
    ModelState interrupted = ModelState::initialised(g, o.seed);
    train(interrupted, p, data, first);

    const Checkpoint ck = load_checkpoint(first.checkpoint, g);
    CHECK(ck.epochs_done == 1);
    CHECK(ck.options == train_options_json(o));
    TrainOptions rest = o;
    rest.checkpoint = dir.file("resumed.ckpt");
    // Resuming starts from whatever the state holds: the checkpoint must overwrite all of it.
    ModelState resumed = ModelState::initialised(g, 12345);
    TrainReport b = train(resumed, p, data, rest, &ck);

    CHECK(b.resumed_at == 1);
    CHECK(b.epochs_done == 3);
    CHECK(a.best_epoch == b.best_epoch);
    CHECK(same_bits(straight.params, resumed.params));
    REQUIRE(a.history.size() == b.history.size());
    for (size_t e = 0; e < a.history.size(); ++e) {
        CHECK(a.history[e].train_loss == b.history[e].train_loss);
        CHECK(a.history[e].validation_loss == b.history[e].validation_loss);
        CHECK(a.history[e].learning_rate == b.history[e].learning_rate);
    }
    // The last checkpoints agree too, optimizer state included.
    const Checkpoint ca = load_checkpoint(o.checkpoint, g),
                     cb = load_checkpoint(rest.checkpoint, g);
    CHECK(ca.optimizer_step == cb.optimizer_step);
    CHECK(same_bits(ca.params, cb.params));
    CHECK(same_bits(ca.best_params, cb.best_params));
    REQUIRE(ca.optimizer_tensors.size() == cb.optimizer_tensors.size());
    for (size_t i = 0; i < ca.optimizer_tensors.size(); ++i)
        CHECK(same_bits(ca.optimizer_tensors[i].second, cb.optimizer_tensors[i].second));
    CHECK(ca.schedule == cb.schedule);
    CHECK(ca.early_stopping == cb.early_stopping);
    // The plateau schedule did reduce the rate, so its state mattered.
    CHECK(a.history.back().learning_rate < a.history.front().learning_rate);
}

TEST_CASE(
    "early stopping stops after PATIENCE epochs without improvement and keeps the best weights") {
    // Random labels: validation accuracy only wanders, so some epoch is the best and training
    // stops.
    const ir::Graph& g = testing::lenet5_graph();
    const Pipelines p = testing::lenet5_pipelines();
    const Dataset data = testing::synthetic_data(400, 5, /*random_labels=*/true);
    TrainOptions o = testing::quick_options(10);
    o.validation = 150;
    o.early_stopping = 1;
    o.schedule = LrSchedule::parse("constant");
    ModelState s = ModelState::initialised(g, o.seed);
    TrainReport r = train(s, p, data, o);

    REQUIRE(r.stopped_early);
    CHECK(r.epochs_done == r.best_epoch + o.early_stopping);
    CHECK(r.epochs_done < o.epochs);
    double best = 0;
    for (const EpochRecord& e : r.history) best = std::max(best, e.validation_accuracy);
    CHECK(r.validation_accuracy == best);
    CHECK(r.history[size_t(r.best_epoch - 1)].validation_accuracy == best);

    // The same run cut at the best epoch (the trajectory does not depend on early stopping) ends
    // with the very weights early stopping kept.
    TrainOptions cut = o;
    cut.epochs = r.best_epoch;
    cut.early_stopping = 0;
    ModelState at_best = ModelState::initialised(g, o.seed);
    train(at_best, p, data, cut);
    CHECK(same_bits(s.params, at_best.params));
}

TEST_CASE("the schedule sets each epoch's learning rate") {
    const ir::Graph& g = testing::lenet5_graph();
    const Dataset data = testing::synthetic_data(200, 4);
    for (std::string spec :
         {"step:every=2,gamma=0.5", "exponential:gamma=0.7", "cosine:epochs=3", "constant"}) {
        CAPTURE(spec);
        TrainOptions o = testing::quick_options(3);
        o.schedule = LrSchedule::parse(spec);
        ModelState s = ModelState::initialised(g, 1);
        TrainReport r = train(s, testing::lenet5_pipelines(), data, o);
        REQUIRE(r.history.size() == 3);
        for (int e = 0; e < 3; ++e)
            CHECK(r.history[size_t(e)].learning_rate ==
                  double(float(o.schedule.rate(e, double(o.optimizer.lr)))));
    }
}

TEST_CASE("a frozen layer keeps every tensor; the others train") {
    const ir::Graph& g = testing::lenet5_graph();
    const Dataset data = testing::synthetic_data(300, 6);
    TrainOptions o = testing::quick_options(1);
    o.optimizer.frozen = {"conv2d", "dense_2"};
    ModelState s = ModelState::initialised(g, 1);
    const ModelState before = s;
    train(s, testing::lenet5_pipelines(), data, o);
    for (size_t i = 0; i < g.params.size(); ++i) {
        CAPTURE(g.params[i].name);
        CHECK(same_bits(s.params[i], before.params[i]) ==
              bool(o.optimizer.frozen.count(g.params[i].layer)));
    }
}

TEST_CASE("init_from copies parameters matched by name and extents and lists the others") {
    const ir::Graph& g = testing::lenet5_graph();
    ModelState trained = ModelState::initialised(g, 99);
    ParamFile file = trained.to_file("");
    file.model = "another_model";
    // A different head: dense_2's weight has another shape, its bias is missing.
    for (NamedTensor& t : file.tensors)
        if (t.name == "dense_2.weight") {
            t.extents = {84, 5};
            t.data.resize(84 * 5);
        }
    std::erase_if(file.tensors, [](const NamedTensor& t) { return t.name == "dense_2.bias"; });
    file.tensors.push_back({"extra.weight", {2}, {1, 2}});

    ModelState s = ModelState::initialised(g, 1);
    const ModelState fresh = s;
    TransferReport r = init_from(s, file, "source.cnnp");
    CHECK(r.loaded.size() == g.params.size() - 2);
    REQUIRE(r.fresh.size() == 2);
    CHECK_HAS(r.fresh[0], "dense_2.weight: extents [10x84] here, [84x5] in source.cnnp");
    CHECK_HAS(r.fresh[1], "dense_2.bias: not in source.cnnp");
    CHECK(r.unused == std::vector<std::string>{"extra.weight"});
    for (size_t i = 0; i < g.params.size(); ++i) {
        CAPTURE(g.params[i].name);
        const bool head = g.params[i].layer == "dense_2";
        CHECK(same_bits(s.params[i], head ? fresh.params[i] : trained.params[i]));
    }

    ParamFile unrelated;
    unrelated.model = "other";
    unrelated.tensors.push_back({"conv2d.weight", {3}, {1, 2, 3}});
    std::string message = testing::data_error_of([&] { init_from(s, unrelated, "other.cnnp"); });
    CHECK_HAS(message, "--init-from other.cnnp");
    CHECK_HAS(message, "matches a parameter of lenet5");
}

TEST_CASE("training measures the input normalisation, which travels with the weights") {
    const ir::Graph& g = testing::lenet5_graph();
    const Pipelines p = testing::lenet5_pipelines();
    const Dataset data = testing::synthetic_data(300, 8);
    for (Normalisation mode :
         {Normalisation::scale, Normalisation::center, Normalisation::standardise}) {
        CAPTURE(normalisation_name(mode));
        TrainOptions o = testing::quick_options(1);
        o.normalisation = mode;
        ModelState s = ModelState::initialised(g, 1);
        train(s, p, data, o);
        CHECK(s.normalisation.mode == mode);
        REQUIRE(s.normalisation.stats.mean.size() == 1);
        CHECK(s.normalisation.stats.mean[0] > 0.1f);  // the synthetic images' mean is about 0.17
        CHECK(s.normalisation.stats.mean[0] < 0.3f);

        ModelState loaded = ModelState::from_file(g, s.to_file("{}"), "w.cnnp");
        CHECK(loaded.normalisation.to_json() == s.normalisation.to_json());
        const std::vector<int64_t> all = all_indices(data.images.count);
        Evaluation e1 = evaluate(s, p, data, all), e2 = evaluate(loaded, p, data, all);
        CHECK(e1.accuracy == e2.accuracy);
        CHECK(e1.loss == e2.loss);
    }
}

TEST_CASE("a parameter file of the old format (\"preprocessing\": mean, std) still loads") {
    const ir::Graph& g = testing::lenet5_graph();
    ParamFile f = ModelState::initialised(g, 1).to_file("");
    f.meta_json = R"({"preprocessing": {"mean": 0.25, "std": 0.5}})";
    ModelState s = ModelState::from_file(g, f, "old.cnnp");
    CHECK(s.normalisation.mode == Normalisation::standardise);
    CHECK(s.normalisation.stats.mean == std::vector<float>{0.25f});
    CHECK(s.normalisation.stats.std == std::vector<float>{0.5f});
}

TEST_CASE("the validation loss is the mean cross-entropy of the inference probabilities") {
    const ir::Graph& g = testing::lenet5_graph();
    const Pipelines p = testing::lenet5_pipelines();
    const Dataset data = testing::synthetic_data(37, 9);
    ModelState s = ModelState::initialised(g, 1);
    // An untrained network is nearly uniform: about ln 10.
    Evaluation e = evaluate(s, p, data, all_indices(37), 16);
    CHECK(e.loss == doctest::Approx(std::log(10.0)).epsilon(0.05));
    // Image by image (batch 1, a different batching) gives the same mean.
    double sum = 0;
    int correct = 0;
    for (int64_t i = 0; i < 37; ++i) {
        Evaluation one = evaluate(s, p, data, {i}, 1);
        sum += one.loss;
        correct += one.accuracy == 1.0;
    }
    CHECK(e.loss == doctest::Approx(sum / 37).epsilon(1e-6));
    CHECK(e.accuracy == doctest::Approx(correct / 37.0));
    CHECK(std::isnan(evaluate(s, p, data, {}).loss));
}

TEST_CASE("options: JSON round trip, --layer-decay syntax, and checks against the model") {
    const ir::Graph& g = testing::lenet5_graph();
    TrainOptions o;
    o.optimizer.kind = "adam";
    o.optimizer.lr = 0.001f;
    o.optimizer.layer_decay["dense"] = {0.0f, 5e-4f};
    o.optimizer.frozen = {"conv2d"};
    o.schedule = LrSchedule::parse("cosine:epochs=10");
    o.augment = AugmentOptions::parse("crop=2,flip");
    o.normalisation = Normalisation::center;
    o.early_stopping = 3;
    o.min_delta = 0.001;
    TrainOptions back;
    apply_train_options_json(back, train_options_json(o));
    CHECK(train_options_json(back) == train_options_json(o));
    CHECK(back.optimizer.layer_decay == o.optimizer.layer_decay);

    auto [layer, decay] = parse_layer_decay("dense_1=1e-5,0.01");
    CHECK(layer == "dense_1");
    CHECK(decay == std::pair<float, float>{1e-5f, 0.01f});
    for (const char* bad :
         {"dense", "=0,1", "dense=1", "dense=a,1", "dense=1,", "dense=-1,0", "dense=1,2x"})
        CHECK_HAS(invalid_argument_of([&] { parse_layer_decay(bad); }),
                  std::string("--layer-decay \"") + bad + "\"");

    TrainOptions unknown;
    unknown.optimizer.frozen = {"conv9"};
    CHECK_HAS(invalid_argument_of([&] { check_train_options(g, unknown); }),
              "--freeze conv9: lenet5 has no layer 'conv9'");
    TrainOptions plateau;
    plateau.validation = 0;
    plateau.schedule = LrSchedule::parse("plateau");
    CHECK_HAS(invalid_argument_of([&] { check_train_options(g, plateau); }),
              "needs a validation split");
    TrainOptions stopping;
    stopping.validation = 0;
    stopping.early_stopping = 2;
    CHECK_HAS(invalid_argument_of([&] { check_train_options(g, stopping); }),
              "--early-stopping needs a validation split");
}

TEST_CASE("data of the wrong size is refused with both shapes named") {
    const ir::Graph& g = testing::lenet5_graph();
    Dataset data = testing::synthetic_data(10, 1);
    data.images.rows = 14;
    data.images.cols = 56;
    ModelState s = ModelState::initialised(g, 1);
    std::string message = testing::data_error_of(
        [&] { train(s, testing::lenet5_pipelines(), data, testing::quick_options(1)); });
    CHECK_HAS(message, "1x14x56");
    CHECK_HAS(message, "lenet5 expects inputs of");
}

}  // namespace
}  // namespace cnnc::runtime
