// Checkpoint files: what a save holds comes back, and every file that is not a usable checkpoint
// of this model is refused with a message naming it.
#include <doctest/doctest.h>

#include <filesystem>
#include <fstream>

#include "runtime/checkpoint.h"
#include "runtime/early_stopping.h"
#include "runtime/param_file.h"
#include "tests/runtime/invalid_argument_util.h"
#include "tests/runtime/test_util.h"
#include "training_fixture.h"

namespace cnnc::runtime {
namespace {

using testing::same_bits;

Checkpoint sample_checkpoint(const ir::Graph& g, bool with_best) {
    Checkpoint c;
    c.epochs_done = 2;
    c.options = train_options_json(TrainOptions{});
    c.params = ModelState::initialised(g, 1).params;
    c.normalisation = {Normalisation::standardise, {{0.25f}, {0.5f}}};
    c.optimizer_step = 17;
    int k = 0;
    for (const ir::Param& p : g.params)
        if (p.learnable)
            for (const char* s : {".state0", ".state1"}) {
                Tensor t(storage_extents(p));
                for (float& v : t.values()) v = float(k++) * 0.5f;
                c.optimizer_tensors.emplace_back(p.name + s, t);
            }
    c.schedule = LrSchedule::parse("plateau").state();
    if (with_best) {
        EarlyStopping early(3, 0);
        early.improved(0.5);
        c.early_stopping = early.state();
        c.best_params = ModelState::initialised(g, 2).params;
    }
    c.history = {{1, 2.0, 0.3, 1.9, 0.35, 0.02, 1.5},
                 {2, 1.5, 0.5, std::numeric_limits<double>::quiet_NaN(), 0.55, 0.014, 1.4}};
    c.images_seen = 1000;
    c.train_seconds = 2.5;
    return c;
}

TEST_CASE("a checkpoint comes back as it was saved") {
    const ir::Graph& g = testing::lenet5_graph();
    testing::TempDir dir;
    for (bool with_best : {false, true}) {
        CAPTURE(with_best);
        const Checkpoint c = sample_checkpoint(g, with_best);
        save_checkpoint(dir.file("c.ckpt"), g, c);
        const Checkpoint back = load_checkpoint(dir.file("c.ckpt"), g);
        CHECK(back.epochs_done == 2);
        CHECK(back.options == c.options);
        CHECK(same_bits(back.params, c.params));
        CHECK(back.normalisation.to_json() == c.normalisation.to_json());
        CHECK(back.optimizer_step == 17);
        REQUIRE(back.optimizer_tensors.size() == c.optimizer_tensors.size());
        for (size_t i = 0; i < c.optimizer_tensors.size(); ++i) {
            CHECK(back.optimizer_tensors[i].first == c.optimizer_tensors[i].first);
            CHECK(same_bits(back.optimizer_tensors[i].second, c.optimizer_tensors[i].second));
        }
        CHECK(back.schedule == c.schedule);
        CHECK(back.early_stopping == c.early_stopping);
        CHECK(same_bits(back.best_params, c.best_params));
        REQUIRE(back.history.size() == 2);
        CHECK(back.history[1].train_loss == 1.5);
        CHECK(std::isnan(back.history[1].validation_loss));
        CHECK(back.images_seen == 1000);
        CHECK(back.train_seconds == 2.5);
    }
}

TEST_CASE("must-fail: files that are not a checkpoint of this model") {
    const ir::Graph& g = testing::lenet5_graph();
    testing::TempDir dir;
    const Checkpoint c = sample_checkpoint(g, false);
    save_checkpoint(dir.file("c.ckpt"), g, c);

    SUBCASE("a parameter file given as a checkpoint") {
        save_params(dir.file("w.cnnp"), ModelState::initialised(g, 1).to_file(""));
        std::string m = testing::data_error_of([&] { load_checkpoint(dir.file("w.cnnp"), g); });
        CHECK_HAS(m, dir.file("w.cnnp"));
        CHECK_HAS(m, "is a parameter file, not a training checkpoint");
    }
    SUBCASE("a checkpoint given as a parameter file") {
        std::string m = testing::data_error_of(
            [&] { ModelState::from_file(g, load_params(dir.file("c.ckpt")), dir.file("c.ckpt")); });
        CHECK_HAS(m, "is a training checkpoint, not a parameter file");
        CHECK_HAS(m, "train --resume");
    }
    SUBCASE("a truncated checkpoint") {
        std::filesystem::resize_file(dir.file("c.ckpt"), 5000);
        std::string m = testing::data_error_of([&] { load_checkpoint(dir.file("c.ckpt"), g); });
        CHECK_HAS(m, dir.file("c.ckpt"));
        CHECK_HAS(m, "truncated");
    }
    SUBCASE("a checkpoint with a tensor missing") {
        ParamFile f = load_params(dir.file("c.ckpt"));
        std::erase_if(f.tensors, [](const NamedTensor& t) {
            return t.name == "optimizer/dense.weight.state1";
        });
        save_params(dir.file("d.ckpt"), f);
        std::string m = testing::data_error_of([&] { load_checkpoint(dir.file("d.ckpt"), g); });
        CHECK_HAS(m, "optimizer/dense.weight.state1");
    }
    SUBCASE("another model's checkpoint") {
        ParamFile f = load_params(dir.file("c.ckpt"));
        f.model = "resnet";
        save_params(dir.file("r.ckpt"), f);
        std::string m = testing::data_error_of([&] { load_checkpoint(dir.file("r.ckpt"), g); });
        CHECK_HAS(m, "resnet");
    }
    SUBCASE("malformed metadata") {
        ParamFile f = load_params(dir.file("c.ckpt"));
        f.meta_json = R"({"checkpoint_version": 1, "epochs_done": -1})";
        save_params(dir.file("m.ckpt"), f);
        std::string m = testing::data_error_of([&] { load_checkpoint(dir.file("m.ckpt"), g); });
        CHECK_HAS(m, "epochs_done");
    }
}

TEST_CASE("a failed checkpoint save leaves the previous checkpoint intact") {
    const ir::Graph& g = testing::lenet5_graph();
    testing::TempDir dir;
    save_checkpoint(dir.file("c.ckpt"), g, sample_checkpoint(g, false));
    // The temporary file cannot be created when a folder of its name is in the way.
    std::filesystem::create_directory(dir.file("c.ckpt.tmp"));
    Checkpoint newer = sample_checkpoint(g, true);
    newer.epochs_done = 3;
    std::string m = testing::data_error_of([&] { save_checkpoint(dir.file("c.ckpt"), g, newer); });
    CHECK_HAS(m, "c.ckpt");
    CHECK(load_checkpoint(dir.file("c.ckpt"), g).epochs_done == 2);
}

TEST_CASE(
    "a resumed run refuses a checkpoint made with another schedule or without early stopping") {
    const ir::Graph& g = testing::lenet5_graph();
    const Dataset data = testing::synthetic_data(200, 2);
    const Pipelines p = testing::lenet5_pipelines();
    testing::TempDir dir;
    TrainOptions o = testing::quick_options(1);
    o.checkpoint = dir.file("c.ckpt");
    ModelState s = ModelState::initialised(g, 1);
    train(s, p, data, o);
    const Checkpoint ck = load_checkpoint(o.checkpoint, g);

    TrainOptions other = o;
    other.epochs = 2;
    other.schedule = LrSchedule::parse("step:every=1");
    CHECK_HAS(testing::invalid_argument_of([&] { train(s, p, data, other, &ck); }),
              "saved for schedule");
    TrainOptions stopping = o;
    stopping.epochs = 2;
    stopping.early_stopping = 2;
    CHECK_HAS(testing::invalid_argument_of([&] { train(s, p, data, stopping, &ck); }),
              "made without early stopping");
    TrainOptions fewer = o;
    fewer.epochs = 1;
    fewer.checkpoint.clear();
    CHECK_NOTHROW(train(s, p, data, fewer, &ck));  // nothing left to train: the weights as saved
    CHECK(same_bits(s.params, ck.params));
}

}  // namespace
}  // namespace cnnc::runtime
