// Tests for the progress display: the pure helpers and both output modes with a fake clock.
#include <doctest/doctest.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <string>

#include "runtime/progress.h"
#include "test_util.h"

namespace cnnc::runtime {
namespace {

using namespace std::chrono_literals;

// A clock the test moves by hand.
struct FakeClock {
    Progress::Clock::time_point t{};
    Progress::Now now() {
        return [this] { return t; };
    }
};

// Everything written to a tmpfile() so far.
std::string contents(std::FILE* f) {
    std::fflush(f);
    std::rewind(f);
    std::string out;
    char buf[4096];
    size_t got;
    while ((got = std::fread(buf, 1, sizeof buf, f)) > 0) out.append(buf, got);
    return out;
}

TEST_CASE("items_per_second divides by elapsed time and is 0 before any time has passed") {
    CHECK(items_per_second(600, 2.0) == doctest::Approx(300.0));
    CHECK(items_per_second(600, 0.0) == 0.0);
    CHECK(items_per_second(0, 1.0) == 0.0);
}

TEST_CASE("progress_bar fills in proportion and clamps") {
    CHECK(progress_bar(0, 10) == std::string(30, '.'));
    CHECK(progress_bar(5, 10) == std::string(15, '#') + std::string(15, '.'));
    CHECK(progress_bar(10, 10) == std::string(30, '#'));
    CHECK(progress_bar(25, 10) == std::string(30, '#'));
    CHECK(progress_bar(-1, 10) == std::string(30, '.'));
    CHECK(progress_bar(0, 0) == std::string(30, '#'));
    CHECK(progress_bar(1, 4, 8) == "##......");
}

TEST_CASE("progress_line shows label, counts, rate and loss") {
    std::string line = progress_line("epoch 1", 1200, 60000, 2.0, 0.12345);
    CHECK_HAS(line, "epoch 1 [");
    CHECK_HAS(line, " 1200/60000");
    CHECK_HAS(line, "600 img/s");
    CHECK_HAS(line, "loss 0.1235");
}

TEST_CASE("plain output prints at most one line per quarter plus the final one") {
    std::FILE* f = std::tmpfile();
    REQUIRE(f != nullptr);
    FakeClock clock;
    {
        Progress p("train", 1000, f, false, clock.now());
        for (int i = 1; i <= 1000; ++i) {
            clock.t += 10ms;
            p.update(i, 2.0 - i / 1000.0);
        }
        p.finish(0.25);
        p.finish(0.5);  // ignored
    }
    std::string out = contents(f);
    std::fclose(f);
    CHECK(std::count(out.begin(), out.end(), '\n') == 4);
    CHECK(std::count(out.begin(), out.end(), '\r') == 0);
    CHECK_HAS(out, " 250/1000");
    CHECK_HAS(out, " 500/1000");
    CHECK_HAS(out, " 750/1000");
    CHECK_HAS(out, "loss 1.7500");
    std::string last = out.substr(out.rfind('\n', out.size() - 2) + 1);
    CHECK_HAS(last, "1000/1000");
    CHECK_HAS(last, "100 img/s");
    CHECK_HAS(last, "loss 0.2500");
    CHECK_HAS(last, "10.0 s");
}

TEST_CASE("the default constructor writes plain lines when the output is not a terminal") {
    std::FILE* f = std::tmpfile();
    REQUIRE(f != nullptr);
    {
        Progress p("eval", 10, f);
        for (int i = 1; i <= 10; ++i) p.update(i, 0.5);
        p.finish(0.375);
    }
    std::string out = contents(f);
    std::fclose(f);
    CHECK(std::count(out.begin(), out.end(), '\r') == 0);
    CHECK(std::count(out.begin(), out.end(), '\n') <= 4);
    CHECK_HAS(out, "loss 0.3750");
}

TEST_CASE("terminal output redraws one line at most every 100 ms") {
    std::FILE* f = std::tmpfile();
    REQUIRE(f != nullptr);
    FakeClock clock;
    {
        Progress p("train", 1000, f, true, clock.now());
        for (int i = 1; i <= 1000; ++i) {
            clock.t += 1ms;  // one second in all: ten redraws after the first
            p.update(i, 1.0);
        }
        p.finish(0.125);
    }
    std::string out = contents(f);
    std::fclose(f);
    auto redraws = std::count(out.begin(), out.end(), '\r');
    CHECK(redraws >= 10);
    CHECK(redraws <= 12);
    CHECK(std::count(out.begin(), out.end(), '\n') == 1);
    CHECK(out.back() == '\n');
    CHECK_HAS(out.substr(out.rfind('\r')), "1000/1000");
    CHECK_HAS(out.substr(out.rfind('\r')), "loss 0.1250");
}

TEST_CASE("a terminal line left unfinished is ended when the display goes away") {
    std::FILE* f = std::tmpfile();
    REQUIRE(f != nullptr);
    FakeClock clock;
    {
        Progress p("train", 100, f, true, clock.now());
        p.update(10, 1.0);
    }
    std::string out = contents(f);
    std::fclose(f);
    CHECK(std::count(out.begin(), out.end(), '\n') == 1);
    CHECK(out.back() == '\n');
}

}  // namespace
}  // namespace cnnc::runtime
