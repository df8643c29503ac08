// Tests for the NCHW -> channels-innermost copy: every value lands where the index says.
#include <doctest/doctest.h>

#include <cstddef>
#include <cstdint>
#include <vector>

#include "runtime/layout.h"

namespace cnnc::runtime {
namespace {

// Shapes around the copy's 16 x 16 blocks: smaller, not a multiple, several blocks, n > 1.
struct Case {
    int64_t n, channels, pixels;
};
const Case cases[] = {{1, 1, 1}, {1, 3, 35}, {2, 17, 9}, {3, 16, 48}, {1, 40, 33}, {2, 64, 784}};

std::vector<float> numbered(int64_t count) {
    std::vector<float> v(size_t(count), 0.0f);
    for (int64_t i = 0; i < count; ++i) v[size_t(i)] = float(i);
    return v;
}

// Whether `to` holds `from` (NCHW) in channels-innermost order: channel k of pixel p at p * C + k.
bool channels_last_of(const std::vector<float>& from, const float* to, const Case& c) {
    const int64_t image = c.channels * c.pixels;
    for (int64_t i = 0; i < c.n; ++i)
        for (int64_t k = 0; k < c.channels; ++k)
            for (int64_t p = 0; p < c.pixels; ++p)
                if (to[i * image + p * c.channels + k] !=
                    from[size_t(i * image + k * c.pixels + p)])
                    return false;
    return true;
}

TEST_CASE("nchw_to_channels_last puts channel k of pixel p at p * C + k") {
    for (const Case& c : cases) {
        std::vector<float> from = numbered(c.n * c.channels * c.pixels), to(from.size(), -1.0f);
        nchw_to_channels_last(from.data(), to.data(), c.n, c.channels, c.pixels);
        CHECK_MESSAGE(channels_last_of(from, to.data(), c), c.channels << " x " << c.pixels);
    }
}

TEST_CASE("copies of 256 KB and more stream into place at any alignment and channel count") {
    // Streaming stores need whole 4-channel groups on 16-byte boundaries (the others fall back),
    // or fewer than 16 channels, whose blocks are one contiguous run each.
    const Case large[] = {{1, 100, 700}, {1, 18, 4000}, {2, 64, 3136}, {1, 3, 30000}};
    for (const Case& c : large)
        for (size_t offset : {0, 1}) {
            std::vector<float> from = numbered(c.n * c.channels * c.pixels);
            std::vector<float> to(from.size() + offset, -1.0f);
            nchw_to_channels_last(from.data(), to.data() + offset, c.n, c.channels, c.pixels);
            CHECK_MESSAGE(channels_last_of(from, to.data() + offset, c),
                          c.channels << " x " << c.pixels << ", offset " << offset);
        }
}

TEST_CASE("the copies split into tasks that cover every block once, in any order") {
    // Tasks run last to first, each counted: a task that copied another's blocks, or a block no
    // task copied, leaves a value out of place.
    int64_t tasks = 0;
    const ParallelFor backwards = [&](int64_t count, const TaskBody& body) {
        tasks += count;
        for (int64_t i = count - 1; i >= 0; --i) body(i);
    };
    const Case large[] = {{2, 64, 784}, {1, 3, 50176}, {1, 512, 49}, {3, 17, 1000}};
    for (const Case& c : large) {
        std::vector<float> from = numbered(c.n * c.channels * c.pixels);
        std::vector<float> serial(from.size(), -1.0f), split(from.size(), -2.0f);
        nchw_to_channels_last(from.data(), serial.data(), c.n, c.channels, c.pixels);
        tasks = 0;
        nchw_to_channels_last(from.data(), split.data(), c.n, c.channels, c.pixels, backwards);
        CHECK(tasks > c.n);  // more than one task per image
        CHECK(split == serial);
        CHECK(channels_last_of(from, split.data(), c));
    }
}

}  // namespace
}  // namespace cnnc::runtime
