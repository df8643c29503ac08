// Tests for early stopping: improvement with min_delta, the stop rule, NaN metrics, state, errors.
#include <doctest/doctest.h>

#include <cmath>
#include <limits>
#include <string>
#include <vector>

#include "invalid_argument_util.h"
#include "runtime/early_stopping.h"
#include "test_util.h"

namespace cnnc::runtime {
namespace {

using testing::invalid_argument_of;

TEST_CASE("the first metric improves; later ones must beat the best by more than min_delta") {
    EarlyStopping e(2, 0.01);
    CHECK(e.best_epoch() == -1);
    CHECK(std::isnan(e.best()));
    CHECK_FALSE(e.should_stop());

    CHECK(e.improved(0.50));
    CHECK(e.best() == 0.50);
    CHECK(e.best_epoch() == 0);
    CHECK_FALSE(e.improved(0.505));  // within min_delta
    CHECK(e.epochs_without_improvement() == 1);
    CHECK_FALSE(e.should_stop());
    CHECK(e.improved(0.52));
    CHECK(e.best_epoch() == 2);
    CHECK(e.epochs_without_improvement() == 0);
    CHECK_FALSE(e.improved(0.40));
    CHECK_FALSE(e.should_stop());
    CHECK_FALSE(e.improved(0.52));  // equal is not better
    CHECK(e.should_stop());
    CHECK(e.best() == 0.52);
    CHECK(e.best_epoch() == 2);
    CHECK(e.epochs_seen() == 5);
}

TEST_CASE("with min_delta 0 any strict increase improves; patience 1 stops at the first miss") {
    EarlyStopping e(1, 0.0);
    CHECK(e.improved(0.1));
    CHECK(e.improved(0.1000001));
    CHECK_FALSE(e.should_stop());
    CHECK_FALSE(e.improved(0.1000001));
    CHECK(e.should_stop());
}

TEST_CASE("a NaN metric never improves and never becomes the best") {
    const double nan = std::numeric_limits<double>::quiet_NaN();
    EarlyStopping e(2, 0.0);
    CHECK_FALSE(e.improved(nan));
    CHECK(e.best_epoch() == -1);
    CHECK(e.improved(0.3));
    CHECK(e.best_epoch() == 1);
    CHECK_FALSE(e.improved(nan));
    CHECK_FALSE(e.improved(std::numeric_limits<double>::infinity()));
    CHECK(e.should_stop());
    CHECK(e.best() == 0.3);
}

TEST_CASE("state round-trips, so a resumed run stops where an uninterrupted one would") {
    const std::vector<double> metrics{0.5, 0.6, 0.55, 0.65, 0.64, 0.63, 0.62, 0.7};
    EarlyStopping whole(3, 0.0);
    std::vector<bool> want_improved, want_stop;
    for (double m : metrics) {
        want_improved.push_back(whole.improved(m));
        want_stop.push_back(whole.should_stop());
    }
    CHECK(want_stop[6]);  // 0.64, 0.63, 0.62 after the best 0.65

    for (size_t cut = 0; cut <= metrics.size(); ++cut) {
        CAPTURE(cut);
        EarlyStopping first(3, 0.0);
        for (size_t i = 0; i < cut; ++i) first.improved(metrics[i]);
        EarlyStopping resumed(3, 0.0);
        resumed.restore(nlohmann::json::parse(first.state().dump()));
        CHECK(resumed.best_epoch() == first.best_epoch());
        for (size_t i = cut; i < metrics.size(); ++i) {
            CHECK(resumed.improved(metrics[i]) == want_improved[i]);
            CHECK(resumed.should_stop() == want_stop[i]);
        }
        CHECK(resumed.best() == whole.best());
    }
}

TEST_CASE("restore keeps the new patience, so a resumed run may wait longer") {
    EarlyStopping first(1, 0.0);
    first.improved(0.5);
    first.improved(0.4);
    CHECK(first.should_stop());
    EarlyStopping patient(3, 0.0);
    patient.restore(first.state());
    CHECK_FALSE(patient.should_stop());
    CHECK(patient.epochs_without_improvement() == 1);
}

TEST_CASE("the constructor rejects a patience below 1 and a bad min_delta") {
    CHECK_HAS(invalid_argument_of([] { EarlyStopping(0, 0.0); }),
              "early stopping: patience must be >= 1, got 0");
    CHECK_HAS(invalid_argument_of([] { EarlyStopping(-2, 0.0); }), "patience must be >= 1, got -2");
    CHECK_HAS(invalid_argument_of([] { EarlyStopping(1, -0.5); }),
              "early stopping: min_delta must be a finite number >= 0, got -0.5");
    CHECK_HAS(
        invalid_argument_of([] { EarlyStopping(1, std::numeric_limits<double>::quiet_NaN()); }),
        "min_delta must be a finite number >= 0, got nan");
    CHECK_HAS(
        invalid_argument_of([] { EarlyStopping(1, std::numeric_limits<double>::infinity()); }),
        "min_delta must be a finite number >= 0, got inf");
}

TEST_CASE("restore rejects missing, malformed and inconsistent fields, changing nothing") {
    EarlyStopping source(2, 0.0);
    source.improved(0.5);
    source.improved(0.4);
    const nlohmann::json good = source.state();

    EarlyStopping e(2, 0.0);
    e.improved(0.9);
    CHECK_HAS(invalid_argument_of([&] { e.restore(nlohmann::json(3)); }),
              "early stopping state: expected a JSON object, got 3");
    struct Case {
        const char* field;
        nlohmann::json value;
        const char* says;
    };
    for (const Case& c : std::vector<Case>{
             {"best_epoch", -2, "\"best_epoch\" must be an integer >= -1, got -2"},
             {"epochs_seen", "2", "\"epochs_seen\" must be an integer >= 0, got \"2\""},
             {"epochs_without_improvement", 0.5,
              "\"epochs_without_improvement\" must be an integer >= 0, got 0.5"},
             {"best", true, "\"best\" must be a number or null, got true"},
             {"best", nullptr, "\"best\" is null but \"best_epoch\" is 0"},
             {"best_epoch", 2, "inconsistent counts: best_epoch 2, epochs_seen 2"},
             {"epochs_without_improvement", 0, "epochs_without_improvement 0"},
         }) {
        CAPTURE(c.field);
        nlohmann::json broken = good;
        broken[c.field] = c.value;
        CHECK_HAS(invalid_argument_of([&] { e.restore(broken); }), c.says);
        nlohmann::json missing = good;
        missing.erase(c.field);
        CHECK_HAS(invalid_argument_of([&] { e.restore(missing); }), "got nothing");
        CHECK(e.best() == 0.9);  // unchanged
        CHECK(e.epochs_seen() == 1);
    }
}

}  // namespace
}  // namespace cnnc::runtime
