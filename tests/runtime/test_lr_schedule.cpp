// Tests for learning-rate schedules: torch's values, plateau state, checkpoints, parse errors.
#include <doctest/doctest.h>

#include <cmath>
#include <limits>
#include <string>
#include <vector>

#include "invalid_argument_util.h"
#include "runtime/lr_schedule.h"
#include "test_util.h"

namespace cnnc::runtime {
namespace {

using testing::invalid_argument_of;

// Rates of a plateau schedule after each observed loss, as torch's optimizer shows them after
// each scheduler.step(loss).
std::vector<double> plateau_rates(LrSchedule s, const std::vector<double>& losses, double base) {
    std::vector<double> out;
    for (size_t i = 0; i < losses.size(); ++i) {
        s.observe(losses[i]);
        out.push_back(s.rate(int(i) + 1, base));
    }
    return out;
}

void check_rates(const std::vector<double>& got, const std::vector<double>& want) {
    REQUIRE(got.size() == want.size());
    for (size_t i = 0; i < got.size(); ++i) {
        CAPTURE(i);
        CHECK(got[i] == doctest::Approx(want[i]).epsilon(1e-12));
    }
}

TEST_CASE("constant keeps the base rate and ignores observed losses") {
    LrSchedule s = LrSchedule::parse("constant");
    CHECK(s.kind == LrSchedule::Kind::constant);
    CHECK_FALSE(s.uses_validation_loss());
    s.observe(3.0);
    CHECK(s.rate(0, 0.02) == 0.02);
    CHECK(s.rate(100, 0.02) == 0.02);
}

TEST_CASE("step decays by gamma every S epochs (StepLR)") {
    LrSchedule s = LrSchedule::parse("step:every=10,gamma=0.1");
    CHECK(s.every == 10);
    CHECK(s.gamma == 0.1);
    CHECK(s.rate(0, 0.1) == doctest::Approx(0.1));
    CHECK(s.rate(9, 0.1) == doctest::Approx(0.1));
    CHECK(s.rate(10, 0.1) == doctest::Approx(0.01));
    CHECK(s.rate(19, 0.1) == doctest::Approx(0.01));
    CHECK(s.rate(25, 0.1) == doctest::Approx(0.001));
    // gamma defaults to torch's 0.1.
    CHECK(LrSchedule::parse("step:every=3").rate(3, 1.0) == doctest::Approx(0.1));
}

TEST_CASE("exponential multiplies by gamma every epoch (ExponentialLR)") {
    LrSchedule s = LrSchedule::parse("exponential:gamma=0.95");
    CHECK(s.rate(0, 0.1) == doctest::Approx(0.1));
    CHECK(s.rate(1, 0.1) == doctest::Approx(0.095));
    CHECK(s.rate(3, 0.1) == doctest::Approx(0.0857375));
}

TEST_CASE("cosine anneals from base to min over T epochs (CosineAnnealingLR)") {
    LrSchedule s = LrSchedule::parse("cosine:epochs=30,min=0.0001");
    // min + (base - min) * (1 + cos(pi * e / 30)) / 2 with base 0.1, min 1e-4.
    CHECK(s.rate(0, 0.1) == doctest::Approx(0.1));
    CHECK(s.rate(10, 0.1) == doctest::Approx(0.0001 + 0.0999 * 0.75));  // cos(pi/3) = 1/2
    CHECK(s.rate(15, 0.1) == doctest::Approx(0.05005));
    CHECK(s.rate(30, 0.1) == doctest::Approx(0.0001));
    // Past T torch's rate climbs again along the same cosine.
    CHECK(s.rate(45, 0.1) == doctest::Approx(0.05005));
    CHECK(LrSchedule::parse("cosine:epochs=4").rate(2, 1.0) == doctest::Approx(0.5));
}

TEST_CASE("plateau reduces after more than `patience` bad epochs (ReduceLROnPlateau)") {
    LrSchedule s = LrSchedule::parse("plateau:factor=0.5,patience=2,threshold=1e-4");
    CHECK(s.uses_validation_loss());
    CHECK(s.rate(0, 1.0) == 1.0);
    // 0.89995 is not below 0.9 * (1 - 1e-4) = 0.89991, so it is a bad epoch. Expected values are
    // torch 1.13's for the same losses.
    std::vector<double> losses{1.0, 0.9, 0.89995, 0.95, 0.95, 0.95, 0.7, 0.8, 0.8, 0.8, 0.8};
    check_rates(plateau_rates(s, losses, 1.0),
                {1.0, 1.0, 1.0, 1.0, 0.5, 0.5, 0.5, 0.5, 0.5, 0.25, 0.25});
}

TEST_CASE("plateau cooldown ignores bad epochs right after a reduction") {
    LrSchedule s = LrSchedule::parse("plateau:factor=0.5,patience=1,cooldown=2");
    std::vector<double> losses{1.0, 0.9, 0.89995, 0.95, 0.95, 0.95, 0.7, 0.8, 0.8, 0.8, 0.8};
    check_rates(plateau_rates(s, losses, 1.0),
                {1.0, 1.0, 1.0, 0.5, 0.5, 0.5, 0.5, 0.5, 0.25, 0.25, 0.25});
}

TEST_CASE("plateau stops at min and at torch's eps of 1e-8") {
    check_rates(plateau_rates(LrSchedule::parse("plateau:factor=0.5,patience=0,min=0.2"),
                              std::vector<double>(8, 1.0), 1.0),
                {1.0, 0.5, 0.25, 0.2, 0.2, 0.2, 0.2, 0.2});
    // Default factor 0.1: the reduction from 1e-8 to 1e-9 is below eps, so it never happens.
    std::vector<double> rates =
        plateau_rates(LrSchedule::parse("plateau:patience=0"), std::vector<double>(12, 1.0), 1.0);
    check_rates(rates, {1.0, 0.1, 1e-2, 1e-3, 1e-4, 1e-5, 1e-6, 1e-7, 1e-8, 1e-8, 1e-8, 1e-8});
}

TEST_CASE("plateau counts a NaN loss as an epoch without improvement") {
    LrSchedule s = LrSchedule::parse("plateau:factor=0.5,patience=1");
    double nan = std::numeric_limits<double>::quiet_NaN();
    check_rates(plateau_rates(s, {nan, 1.0, 1.0, 1.0}, 1.0), {1.0, 1.0, 1.0, 0.5});
}

TEST_CASE("plateau state round-trips so a resumed run takes the same rates") {
    const std::string spec = "plateau:factor=0.5,patience=1,cooldown=1";
    std::vector<double> losses{1.0, 0.9, 0.95, 0.95, 0.97, 0.8, 0.85, 0.85, 0.85, 0.9};
    LrSchedule whole = LrSchedule::parse(spec);
    std::vector<double> want = plateau_rates(whole, losses, 0.1);

    for (size_t cut = 0; cut <= losses.size(); ++cut) {
        CAPTURE(cut);
        LrSchedule first = LrSchedule::parse(spec);
        for (size_t i = 0; i < cut; ++i) first.observe(losses[i]);
        // Through text, as a checkpoint stores it.
        nlohmann::json saved = nlohmann::json::parse(first.state().dump());
        LrSchedule resumed = LrSchedule::parse(spec);
        resumed.restore(saved);
        for (size_t i = cut; i < losses.size(); ++i) {
            resumed.observe(losses[i]);
            CHECK(resumed.rate(int(i) + 1, 0.1) == want[i]);
        }
    }
    // Nothing observed yet: torch's best is infinity, which JSON stores as null.
    CHECK(LrSchedule::parse(spec).state()["best"].is_null());
}

TEST_CASE("epoch-based schedules restore a state that only names them") {
    LrSchedule s = LrSchedule::parse("step:every=2");
    nlohmann::json state = s.state();
    CHECK(state["schedule"] == "step:every=2,gamma=0.1");
    LrSchedule t = LrSchedule::parse("step:every=2,gamma=0.1");
    t.restore(state);
    CHECK(t.rate(2, 1.0) == doctest::Approx(0.1));
}

TEST_CASE("spec() is canonical and parses back to the same schedule") {
    for (const char* text :
         {"constant", "step:every=10,gamma=0.1", "exponential:gamma=0.95",
          "cosine:epochs=30,min=0.0001", "plateau:factor=0.5,patience=2,threshold=1e-4"}) {
        CAPTURE(text);
        LrSchedule s = LrSchedule::parse(text);
        LrSchedule again = LrSchedule::parse(s.spec());
        CHECK(again.spec() == s.spec());
        CHECK(again.kind == s.kind);
    }
    CHECK(LrSchedule::parse("plateau").spec() ==
          "plateau:factor=0.1,patience=10,threshold=1e-04,cooldown=0,min=0");
    CHECK(LrSchedule::parse("cosine:min=1e-5,epochs=3").spec() == "cosine:epochs=3,min=1e-05");
}

TEST_CASE("parse rejects bad specs, naming the part that is wrong") {
    struct Case {
        const char* spec;
        const char* says;
    };
    for (Case c : std::vector<Case>{
             {"", "unknown schedule \"\""},
             {"linear", "unknown schedule \"linear\""},
             {"Step:every=2", "unknown schedule \"Step\""},
             {"constant:gamma=0.5", "unknown option \"gamma\" for schedule 'constant' (it takes"},
             {"step", "schedule 'step' needs every=EPOCHS"},
             {"step:gamma=0.5", "needs every=EPOCHS"},
             {"step:every=0", "every must be an integer >= 1, got \"0\""},
             {"step:every=2.5", "every must be an integer, got \"2.5\""},
             {"step:every=", "every must be an integer, got \"\""},
             {"step:every", "option 'every' needs a value"},
             {"step:every=2,gamma=-1", "gamma must be > 0, got \"-1\""},
             {"step:every=2,gamma=abc", "gamma must be a number, got \"abc\""},
             {"step:every=2,gamma=0.1x", "gamma must be a number, got \"0.1x\""},
             {"step:every=2,gamma=inf", "gamma must be a number, got \"inf\""},
             {"step:every=2,every=3", "option 'every' repeated"},
             {"step:every=2,", "empty option"},
             {"step:", "empty option"},
             {"step:every=2,,gamma=1", "empty option"},
             {"step:every=2,step=3",
              "unknown option \"step\" for schedule 'step' (options: every, gamma)"},
             {"exponential", "schedule 'exponential' needs gamma=FACTOR"},
             {"exponential:every=3,gamma=0.9", "unknown option \"every\""},
             {"cosine", "schedule 'cosine' needs epochs=EPOCHS"},
             {"cosine:epochs=-3", "epochs must be an integer >= 1, got \"-3\""},
             {"cosine:epochs=3,min=-0.1", "min must be >= 0, got \"-0.1\""},
             {"plateau:factor=1", "factor must be in (0, 1), got \"1\""},
             {"plateau:factor=0", "factor must be in (0, 1), got \"0\""},
             {"plateau:patience=-1", "patience must be an integer >= 0, got \"-1\""},
             {"plateau:threshold=-1e-4", "threshold must be in [0, 1), got \"-1e-4\""},
             {"plateau:cooldown=x", "cooldown must be an integer, got \"x\""},
             {"plateau:mode=max", "unknown option \"mode\""},
         }) {
        CAPTURE(c.spec);
        std::string msg = invalid_argument_of([&] { LrSchedule::parse(c.spec); });
        CHECK_HAS(msg, std::string("learning-rate schedule \"") + c.spec + "\"");
        CHECK_HAS(msg, c.says);
    }
}

TEST_CASE("rate rejects a negative epoch") {
    std::string msg = invalid_argument_of([] { LrSchedule::parse("constant").rate(-1, 0.1); });
    CHECK_HAS(msg, "epoch must be >= 0, got -1");
}

TEST_CASE("rate rejects a period of 0 set directly in the fields") {
    LrSchedule step = LrSchedule::parse("step:every=2");
    step.every = 0;
    CHECK_HAS(invalid_argument_of([&] { step.rate(1, 0.1); }),
              "learning-rate schedule \"step:every=0,gamma=0.1\": every must be >= 1");
    LrSchedule cosine = LrSchedule::parse("cosine:epochs=2");
    cosine.epochs = -1;
    CHECK_HAS(invalid_argument_of([&] { cosine.rate(1, 0.1); }), "epochs must be >= 1");
}

TEST_CASE("restore rejects a state for another schedule or with bad fields, changing nothing") {
    LrSchedule s = LrSchedule::parse("plateau:factor=0.5,patience=0");
    s.observe(1.0);
    s.observe(1.0);  // one reduction
    const nlohmann::json good = s.state();

    LrSchedule other = LrSchedule::parse("plateau:factor=0.5,patience=3");
    CHECK_HAS(invalid_argument_of([&] { other.restore(good); }),
              "saved for schedule \"plateau:factor=0.5,patience=0,threshold=1e-04,cooldown=0,"
              "min=0\", not for \"plateau:factor=0.5,patience=3,");
    CHECK_HAS(invalid_argument_of([&] { LrSchedule::parse("constant").restore(good); }),
              "not for \"constant\"");
    CHECK_HAS(invalid_argument_of([&] { s.restore(nlohmann::json::array()); }),
              "expected a JSON object, got []");
    CHECK_HAS(invalid_argument_of([&] { s.restore(nlohmann::json::object()); }),
              "missing \"schedule\"");

    LrSchedule fresh = LrSchedule::parse("plateau:factor=0.5,patience=0");
    struct Case {
        const char* field;
        nlohmann::json value;
        const char* says;
    };
    for (const Case& c : std::vector<Case>{
             {"reductions", -1, "\"reductions\" must be a non-negative integer, got -1"},
             {"reductions", 1.5, "\"reductions\" must be a non-negative integer, got 1.5"},
             {"bad_epochs", "2", "\"bad_epochs\" must be a non-negative integer, got \"2\""},
             {"cooldown_left", nullptr, "\"cooldown_left\" must be a non-negative integer"},
             {"best", "low", "\"best\" must be a number or null, got \"low\""},
         }) {
        CAPTURE(c.field);
        nlohmann::json broken = good;
        broken[c.field] = c.value;
        CHECK_HAS(invalid_argument_of([&] { fresh.restore(broken); }), c.says);
        nlohmann::json missing = good;
        missing.erase(c.field);
        CHECK_HAS(invalid_argument_of([&] { fresh.restore(missing); }), "got nothing");
        CHECK(fresh.rate(5, 1.0) == 1.0);  // the failed restores changed nothing
    }
    fresh.restore(good);
    CHECK(fresh.rate(5, 1.0) == 0.5);
}

}  // namespace
}  // namespace cnnc::runtime
