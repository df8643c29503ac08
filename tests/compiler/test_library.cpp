// Exported libraries: the weights fingerprint, the header's promises, and every refused request.
#include <doctest/doctest.h>

#include <filesystem>
#include <fstream>

#include "compiler/emit/c_api.h"
#include "compiler/emit/library.h"
#include "compiler/emit/plan.h"
#include "compiler/ir/fingerprint.h"
#include "compiler/passes/partition.h"
#include "compiler/passes/shape_inference.h"
#include "dsl/dsl.h"

using namespace cnnc;
namespace fs = std::filesystem;

namespace {

ir::Graph small(const std::string& name = "small", int filters = 4) {
    Model m(name);
    Tensor x = m.input({1, 8, 8});
    x = relu(conv2d(x, {.filters = filters, .kernel = 3, .padding = same, .name = "conv"}));
    softmax_cross_entropy(dense(flatten(x), {.units = 3, .name = "fc"}));
    return passes::build_graph(m);
}

// An export that must be refused before anything is compiled; out_dir must stay absent.
std::string refusal(const emit::LibraryRequest& request) {
    try {
        emit::export_library(small(), request, emit::Toolchain{});
    } catch (const std::runtime_error& e) {
        CHECK_FALSE(fs::exists(request.out_dir));
        return e.what();
    }
    FAIL("the export was accepted");
    return "";
}

}  // namespace

TEST_CASE("the weights fingerprint changes with the model's name and any parameter's shape") {
    const uint64_t base = ir::weights_fingerprint(small());
    CHECK(ir::weights_fingerprint(small()) == base);
    CHECK(ir::weights_fingerprint(small("other")) != base);
    CHECK(ir::weights_fingerprint(small("small", 5)) != base);
}

TEST_CASE("the header states shapes, sizes, batches and the context API") {
    emit::LibraryInterface li;
    li.variants.push_back({"x86-64-linux-avx2", "_v0", {}, 0});
    li.fixed_batch = 0;
    li.max_batch = 32;
    li.embedded_weights = false;
    li.arena_floats = 256;
    const std::string h = emit::library_header(small(), li);
    for (const char* line :
         {"#define SMALL_INPUT_SIZE 64", "#define SMALL_OUTPUT_SIZE 3", "#define SMALL_MAX_BATCH 32",
          "#define SMALL_FIXED_BATCH 0", "#define SMALL_EXTERNAL_WEIGHTS 1",
          "#define SMALL_ACTIVATION_BYTES 1024", "#define SMALL_PARAMETERS 811",
          "#define SMALL_WEIGHTS_BYTES 3372", "int small_create(small_context **context",
          "int small_run(small_context *context", "const char *small_error(",
          "void small_destroy(small_context *context)", "size_t small_context_bytes(int max_batch)",
          "Targets: x86-64-linux-avx2", "extern \"C\""}) {
        INFO(line);
        CHECK(h.find(line) != std::string::npos);
    }
    CHECK(h.find("halide_") == std::string::npos);  // the header exposes no Halide type
}

TEST_CASE("export refuses requests it cannot build, naming the target or value at fault") {
    const fs::path dir = fs::temp_directory_path() / "cnnc_test_library";
    fs::remove_all(dir);
    fs::create_directories(dir);
    const std::string weights = (dir / "w.weights").string();
    std::ofstream(weights) << "x";
    emit::LibraryRequest r;
    r.out_dir = (dir / "out").string();
    r.weights_file = weights;

    r.targets = {"x86-64-linux-bogus"};
    CHECK(refusal(r).find("'x86-64-linux-bogus' is not a Halide target") != std::string::npos);
    r.targets = {"host-opencl"};
    CHECK(refusal(r).find("target host-opencl asks for a GPU API other than CUDA") !=
          std::string::npos);
    r.targets = {"x86-64-linux", "x86-64-linux-cuda"};
    CHECK(refusal(r).find("a CUDA library has CUDA variants only") != std::string::npos);
    r.targets = {"x86-64-linux", "arm-64-linux"};
    CHECK(refusal(r).find("targets x86-64-linux and arm-64-linux differ") != std::string::npos);
    r.targets = {"x86-64-linux-avx2", "x86-64-linux-avx2"};
    CHECK(refusal(r).find("target x86-64-linux-avx2 is given twice") != std::string::npos);
    r.targets = {"x86-64-windows"};
    CHECK(refusal(r).find("Linux and WebAssembly") != std::string::npos);
    r.targets = {};
    CHECK(refusal(r).find("no --target") != std::string::npos);
    r.targets = {"host"};
    r.max_batch = 0;
    CHECK(refusal(r).find("the batch must be positive") != std::string::npos);
    r.max_batch = 64;
    r.weights_file = (dir / "missing.weights").string();
    CHECK(refusal(r).find("missing.weights does not exist") != std::string::npos);
    fs::remove_all(dir);
}

TEST_CASE("the plan names a packed parameter in a C string, whatever its layer's name holds") {
    // 256 -> 256 3x3: 2.25 MB of weights, read packed, so the plan's packing table names them.
    Model m("quoted");
    Tensor x = m.input({256, 4, 4});
    x = conv2d(x, {.filters = 256, .kernel = 3, .padding = same, .name = "a\"b\\c\n"});
    softmax_cross_entropy(dense(flatten(x), {.units = 3}));
    const ir::Graph g = passes::build_graph(m);
    const std::string c = emit::plan_source(g, passes::partition_inference(g), "host");
    CHECK(c.find("\"a\\\"b\\\\c\\012.weight\"") != std::string::npos);
}
