// Packed convolution weights (runtime/plan.h): their layout, the prepared parameters, and the
// refusal of weights of another shape, naming the parameter and both shapes.
#include <doctest/doctest.h>

#include <cstdlib>

#include "runtime/pipeline.h"
#include "runtime/plan.h"
#include "runtime/tensor.h"
#include "tests/runtime/test_util.h"

namespace cnnc::runtime {
namespace {

const cnnc_plan_packing packings[] = {{1, {32, 3, 2, 5}, "conv.weight"}};

// A plan of no steps that packs its second parameter: enough to prepare.
const cnnc_plan* packing_plan() {
    static cnnc_plan plan{};
    plan.num_params = 2;
    plan.num_packings = 1;
    plan.packings = packings;
    return &plan;
}

const halide_filter_metadata_t* packing_metadata() {
    static const halide_filter_metadata_t metadata{1, 0, nullptr, "host", "packing_infer"};
    return &metadata;
}

// (co, kx, ky, ci) = (32, 3, 2, 5), value i at flat index i.
Tensor numbered_weights() {
    Tensor w({32, 3, 2, 5});
    for (size_t i = 0; i < w.size(); ++i) w.data()[i] = float(i);
    return w;
}

TEST_CASE("packed weights: blocks of 16 output channels, each over (ci, kx, ky)") {
    const Tensor w = numbered_weights();
    Tensor bias({32});
    std::vector<halide_buffer_t*> params{bias.raw(), w.raw()};
    void* memory = std::aligned_alloc(64, (cnnc_plan_prepared_bytes(packing_plan()) + 63) / 64 * 64);
    halide_buffer_t** prepared = cnnc_plan_prepare(packing_plan(), params.data(), memory);
    REQUIRE(prepared != nullptr);
    CHECK(prepared[0] == bias.raw());
    CHECK(prepared[1] == w.raw());
    const halide_buffer_t* p = prepared[2];
    REQUIRE(p->dimensions == 5);
    const int extents[5] = {16, 5, 3, 2, 2};
    for (int d = 0; d < 5; ++d) CHECK(p->dim[d].extent == extents[d]);
    const float* packed = reinterpret_cast<const float*>(p->host);
    CHECK(reinterpret_cast<uintptr_t>(packed) % 64 == 0);
    int wrong = 0;
    for (int b = 0; b < 2; ++b)
        for (int ky = 0; ky < 2; ++ky)
            for (int kx = 0; kx < 3; ++kx)
                for (int ci = 0; ci < 5; ++ci)
                    for (int l = 0; l < 16; ++l) {
                        const int co = b * 16 + l;
                        const float want = w.data()[co + 32 * (kx + 3 * (ky + 2 * ci))];
                        wrong += packed[l + 16 * (ci + 5 * (kx + 3 * (ky + 2 * b)))] != want;
                    }
    CHECK(wrong == 0);
    std::free(memory);
}

TEST_CASE("must-fail: weights to pack of another shape are refused, naming both shapes") {
    Tensor bias({32}), other({32, 3, 3, 5});
    const PipelineEntry entry{nullptr, packing_metadata, packing_plan};
    try {
        PreparedParams prepared(entry, {bias.raw(), other.raw()});
        FAIL("no error");
    } catch (const std::runtime_error& e) {
        CHECK(testing::contains(e.what(), "pipeline packing_infer failed"));
        CHECK(testing::contains(e.what(),
                                "parameter conv.weight: packing needs dense float32 weights of "
                                "32x3x2x5 (co, kx, ky, ci), given 32x3x3x5"));
    }
    Tensor flat({960});
    try {
        PreparedParams prepared(entry, {bias.raw(), flat.raw()});
        FAIL("no error");
    } catch (const std::runtime_error& e) {
        CHECK(testing::contains(e.what(), "given 1 dimensions"));
    }
}

}  // namespace
}  // namespace cnnc::runtime
