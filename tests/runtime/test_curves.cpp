// Tests for training history output: CSV content, SVG structure, NaN and single-epoch cases, I/O.
#include <doctest/doctest.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <limits>
#include <sstream>
#include <string>
#include <vector>

#include "runtime/curves.h"
#include "test_util.h"

namespace cnnc::runtime {
namespace {

using testing::data_error_of;
using testing::TempDir;

constexpr double nan = std::numeric_limits<double>::quiet_NaN();

std::vector<EpochRecord> history(int epochs) {
    std::vector<EpochRecord> r;
    for (int e = 1; e <= epochs; ++e)
        r.push_back({e, 1.0 / e, 0.6 + 0.3 * (1 - 1.0 / e), 1.1 / e + 0.02 * e,
                     0.58 + 0.25 * (1 - 1.0 / e), 0.02 * std::pow(0.7, e - 1), 2.5});
    return r;
}

std::string read(const std::string& path) {
    std::ifstream f(path, std::ios::binary);
    std::stringstream s;
    s << f.rdbuf();
    return s.str();
}

size_t count(const std::string& text, const std::string& part) {
    size_t n = 0;
    for (size_t at = text.find(part); at != text.npos; at = text.find(part, at + 1)) ++n;
    return n;
}

// The text of the <g id="..."> panel.
std::string panel_of(const std::string& svg, const std::string& id) {
    size_t start = svg.find("<g id=\"" + id + "\">");
    REQUIRE(start != svg.npos);
    size_t end = svg.find("</g>", start);
    REQUIRE(end != svg.npos);
    return svg.substr(start, end - start);
}

// Every '<' opens a tag that closes with '>' before the next '<', and open/close tags pair up:
// a cheap well-formedness check that catches broken escaping and unterminated elements.
void check_balanced(const std::string& svg) {
    std::vector<std::string> open;
    for (size_t at = svg.find('<'); at != svg.npos; at = svg.find('<', at + 1)) {
        size_t close = svg.find('>', at);
        REQUIRE(close != svg.npos);
        CHECK(svg.find('<', at + 1) > close);
        std::string tag = svg.substr(at + 1, close - at - 1);
        if (tag.ends_with("/")) continue;
        std::string name = tag.substr(0, tag.find(' '));
        if (name.starts_with("/")) {
            REQUIRE(!open.empty());
            CHECK(open.back() == name.substr(1));
            open.pop_back();
        } else {
            open.push_back(name);
        }
    }
    CHECK(open.empty());
}

TEST_CASE("csv_text has a header and one row per epoch, NaN as an empty field") {
    std::vector<EpochRecord> r{{1, 0.5, 0.8, 0.6, 0.75, 0.02, 3.25},
                               {2, 0.25, 0.9, nan, nan, 0.014, 3.5}};
    CHECK(csv_text(r) ==
          "epoch,train_loss,train_accuracy,validation_loss,validation_accuracy,learning_rate,"
          "seconds\n"
          "1,0.5,0.8,0.6,0.75,0.02,3.25\n"
          "2,0.25,0.9,,,0.014,3.5\n");
    CHECK(csv_text({}) ==
          "epoch,train_loss,train_accuracy,validation_loss,validation_accuracy,learning_rate,"
          "seconds\n");
    EpochRecord odd{3, std::numeric_limits<double>::infinity(), 1.0 / 3, 0, 0, 1e-7, 0};
    CHECK(csv_text({odd}).ends_with("3,inf,0.333333333,0,0,1e-07,0\n"));
}

TEST_CASE("write_csv writes the file through a temporary and replaces an old one") {
    TempDir dir;
    const std::string path = dir.file("history.csv");
    write_csv(path, history(2));
    write_csv(path, history(3));
    CHECK(read(path) == csv_text(history(3)));
    CHECK_FALSE(std::filesystem::exists(path + ".tmp"));
    CHECK(std::distance(std::filesystem::directory_iterator(dir.path()),
                        std::filesystem::directory_iterator()) == 1);
}

TEST_CASE("svg_text draws two curves in each of two panels, with axes, ticks and legend") {
    const std::string svg = svg_text(history(12), "lenet5 on fashion-mnist");
    CHECK(svg.starts_with("<svg xmlns=\"http://www.w3.org/2000/svg\""));
    CHECK(svg.ends_with("</svg>\n"));
    check_balanced(svg);
    CHECK_HAS(svg, ">lenet5 on fashion-mnist</text>");
    for (const char* id : {"loss", "accuracy"}) {
        CAPTURE(id);
        const std::string p = panel_of(svg, id);
        CHECK(count(p, "<polyline") == 2);
        CHECK(count(p, "stroke-dasharray") == 2);  // validation curve and its legend line
        CHECK(count(p, ">train</text>") == 1);
        CHECK(count(p, ">validation</text>") == 1);
        CHECK_HAS(p, ">epoch</text>");
        CHECK(count(p, "text-anchor=\"end\" font-size=\"11\"") >= 3);  // y tick labels
        CHECK(count(p, "<circle") == 24);                              // 12 markers per curve
    }
    CHECK_HAS(panel_of(svg, "accuracy"), ">accuracy (%)</text>");
    CHECK_HAS(panel_of(svg, "accuracy"), ">90</text>");  // percent, not fractions
    CHECK_HAS(panel_of(svg, "loss"), ">12</text>");      // last epoch on the x axis
    CHECK(svg.find("nan") == svg.npos);
    CHECK(svg.find("inf") == svg.npos);
}

TEST_CASE("svg_text escapes the title") {
    const std::string svg = svg_text(history(2), "a<b & \"c\"\x01");
    CHECK_HAS(svg, "<title>a&lt;b &amp; &quot;c&quot;</title>");
    check_balanced(svg);
}

TEST_CASE("a single epoch shows as dots on sensible axes") {
    const std::string svg = svg_text(history(1), "one");
    check_balanced(svg);
    for (const char* id : {"loss", "accuracy"}) {
        const std::string p = panel_of(svg, id);
        CHECK(count(p, "<polyline") == 0);
        CHECK(count(p, "<circle") == 2);
        CHECK_HAS(p, ">1</text>");
    }
    CHECK(svg.find("nan") == svg.npos);
}

TEST_CASE("NaN values split a curve and leave no NaN in the drawing") {
    std::vector<EpochRecord> r = history(60);  // beyond the marker limit: lines only
    for (int e : {10, 11, 40}) r[size_t(e)].validation_loss = nan;
    for (EpochRecord& x : r) x.validation_accuracy = nan;  // never measured
    r[0].train_loss = std::numeric_limits<double>::infinity();
    const std::string svg = svg_text(r, "gaps");
    check_balanced(svg);
    CHECK(svg.find("nan") == svg.npos);
    CHECK(svg.find("inf") == svg.npos);
    const std::string loss = panel_of(svg, "loss");
    CHECK(count(loss, "<polyline") == 4);  // train, validation in three pieces
    CHECK(count(loss, "<circle") == 0);
    const std::string accuracy = panel_of(svg, "accuracy");
    CHECK(count(accuracy, "<polyline") == 1);           // validation accuracy is absent
    CHECK(count(accuracy, ">validation</text>") == 1);  // still in the legend

    // Nothing finite at all, and no records at all, still give a complete chart.
    for (EpochRecord& x : r) x = {x.epoch, nan, nan, nan, nan, nan, nan};
    check_balanced(svg_text(r, "empty"));
    const std::string none = svg_text({}, "none");
    check_balanced(none);
    CHECK_HAS(none, "no epochs yet");
}

TEST_CASE("write_svg writes the chart atomically") {
    TempDir dir;
    const std::string path = dir.file("curves.svg");
    write_svg(path, history(5), "five");
    CHECK(read(path) == svg_text(history(5), "five"));
    CHECK_FALSE(std::filesystem::exists(path + ".tmp"));
}

TEST_CASE("write errors name the path and leave no temporary behind") {
    TempDir dir;
    const std::string missing = dir.file("no/such/dir/h.csv");
    CHECK_HAS(
        data_error_of([&] { write_csv(missing, history(1)); }),
        "cannot write training history to " + missing + ": cannot create " + missing + ".tmp");
    // A directory where the file should go: the rename fails, the temporary is removed.
    const std::string occupied = dir.file("taken.svg");
    std::filesystem::create_directory(occupied);
    std::filesystem::create_directory(occupied + "/inside");
    CHECK_HAS(data_error_of([&] { write_svg(occupied, history(1), "t"); }),
              "cannot write training curves to " + occupied + ": cannot rename " + occupied +
                  ".tmp over it");
    CHECK_FALSE(std::filesystem::exists(occupied + ".tmp"));
    CHECK(std::filesystem::is_directory(occupied + "/inside"));
}

}  // namespace
}  // namespace cnnc::runtime
