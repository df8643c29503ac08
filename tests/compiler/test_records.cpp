// Tuned schedule records: the text format both ways, errors, layer keys, lookup by target.
#include <doctest/doctest.h>

#include <filesystem>
#include <fstream>

#include "compiler/passes/shape_inference.h"
#include "dsl/dsl.h"
#include "schedules/records.h"

using namespace cnnc;
namespace fs = std::filesystem;

namespace {

schedules::Record sample(const std::string& target) {
    schedules::Record r;
    r.key = {"conv2d 6x14x14 -> 16x10x10 k5x5 s1x1 d1x1 p0,0,0,0 g1", target,
             schedules::cnnc_version(), schedules::halide_version(), schedules::template_revision};
    r.params.values = {{"pixels", 3}, {"vectors", 2}};
    r.default_ms = 1.5;
    r.tuned_ms = 1.25;
    r.candidates = 12;
    return r;
}

void write(const fs::path& path, const std::string& text) {
    fs::create_directories(path.parent_path());
    std::ofstream(path) << text;
}

}  // namespace

TEST_CASE("a record prints and parses back to itself") {
    const schedules::Record r = sample("x86-64-linux-avx2");
    const schedules::Record back = schedules::parse_record(schedules::print_record(r), "r.txt");
    CHECK(back.key.layer == r.key.layer);
    CHECK(back.key.target == r.key.target);
    CHECK(back.key.revision == r.key.revision);
    CHECK(back.params == r.params);
    CHECK(back.params.text() == "pixels=3 vectors=2");
    CHECK(back.tuned_ms == doctest::Approx(1.25));
    CHECK(schedules::ScheduleParams{}.text() == "default");
}

TEST_CASE("malformed records are refused with the file and line") {
    auto refused = [](const std::string& text) {
        try {
            schedules::parse_record(text, "bad.txt");
        } catch (const std::runtime_error& e) {
            return std::string(e.what());
        }
        FAIL("accepted: " << text);
        return std::string();
    };
    const std::string good = schedules::print_record(sample("t"));
    CHECK(refused("layer conv2d\n").find("bad.txt:1: no 'name: value'") != std::string::npos);
    CHECK(refused("layer: x\n").find("bad.txt: the record has no 'target' line") !=
          std::string::npos);
    std::string bad_params = good;
    bad_params.replace(bad_params.find("pixels=3"), 8, "pixels=a");
    CHECK(refused(bad_params).find("parameter 'pixels=a' has no integer value") !=
          std::string::npos);
}

TEST_CASE("layer keys name the op, both shapes and the window; untuned ops have none") {
    Model m("keys");
    Tensor x = m.input({3, 32, 32});
    x = conv2d(x, {.filters = 8, .kernel = 3, .stride = 2, .padding = same, .name = "c"});
    x = relu(x, "r");
    softmax_cross_entropy(dense(flatten(x), {.units = 4, .name = "fc"}));
    ir::Graph g = passes::build_graph(m);
    auto node = [&](const std::string& name) -> const ir::Node& {
        for (const ir::Node& n : g.nodes)
            if (n.name == name) return n;
        throw std::logic_error(name);
    };
    CHECK(schedules::layer_key(g, node("c")) == "conv2d 3x32x32 -> 8x16x16 k3x3 s2x2 d1x1 p0,1,0,1 g1");
    CHECK(schedules::layer_key(g, node("fc")) == "dense 2048 -> 4");
    CHECK(schedules::layer_key(g, node("r")).empty());
}

TEST_CASE("records apply to their target and versions only; the others are ignored with a warning") {
    const fs::path dir = fs::temp_directory_path() / "cnnc_test_records";
    fs::remove_all(dir);
    const schedules::Record mine = sample("x86-64-linux-avx2");
    schedules::Record other = sample("x86-64-linux-sse41");
    other.params.values = {{"pixels", 8}};
    schedules::Record old = mine;
    old.key.halide_version = "13.0.0";
    write(schedules::record_path(dir.string(), mine.key), schedules::print_record(mine));
    write(schedules::record_path(dir.string(), other.key), schedules::print_record(other));
    write(dir / "old" / "conv2d-old.txt", schedules::print_record(old));

    const schedules::RecordSet set(dir.string(), "x86-64-linux-avx2");
    CHECK(set.size() == 3);
    auto found = set.find(mine.key.layer);
    REQUIRE(found.has_value());
    CHECK(*found == mine.params);
    REQUIRE(set.warnings().size() == 2);
    CHECK(set.warnings()[0].find("made for Halide 13.0.0") != std::string::npos);
    CHECK(set.warnings()[1].find("made for target x86-64-linux-sse41") != std::string::npos);
    CHECK_FALSE(set.find("dense 84 -> 10").has_value());

    // No record for this target: the default, and a warning naming the other target.
    const schedules::RecordSet sse(dir.string(), "x86-64-linux-avx512_skylake");
    CHECK_FALSE(sse.find(mine.key.layer).has_value());
    CHECK(sse.warnings().size() == 3);
    // A missing folder is no records at all.
    CHECK(schedules::RecordSet((dir / "none").string(), "t").size() == 0);
    fs::remove_all(dir);
}
