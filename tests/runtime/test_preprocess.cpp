// Tests for input normalisation: channel statistics, the three modes, the JSON form and errors.
#include <doctest/doctest.h>

#include <cmath>
#include <cstdint>
#include <cstring>
#include <random>
#include <string>
#include <vector>

#include "invalid_argument_util.h"
#include "runtime/preprocess.h"
#include "test_util.h"

namespace cnnc::runtime {
namespace {

using testing::invalid_argument_of;

std::vector<uint8_t> random_pixels(size_t n, uint64_t seed) {
    std::mt19937_64 rng(seed);
    std::vector<uint8_t> v(n);
    for (uint8_t& p : v) p = uint8_t(rng() % 256);
    return v;
}

TEST_CASE("measure gives each interleaved channel its own mean and population std") {
    // Two images of two pixels, channels (c0, c1, c2) innermost: c0 is {0, 255, 0, 255},
    // c1 is constant 51, c2 is {0, 0, 0, 255}.
    const std::vector<uint8_t> pixels{0, 51, 0, 255, 51, 0, 0, 51, 0, 255, 51, 255};
    ChannelStats s = measure(pixels.data(), 2, 2, 3);
    REQUIRE(s.mean.size() == 3);
    REQUIRE(s.std.size() == 3);
    CHECK(s.mean[0] == doctest::Approx(0.5));
    CHECK(s.std[0] == doctest::Approx(0.5));
    CHECK(s.mean[1] == doctest::Approx(0.2));
    CHECK(s.std[1] == 1.0f);  // zero variance: std 1, so standardising only centres
    CHECK(s.mean[2] == doctest::Approx(0.25));
    CHECK(s.std[2] == doctest::Approx(std::sqrt(0.25 * 0.75)));
}

TEST_CASE("measure matches a two-pass double computation on random data") {
    const int channels = 3;
    const int64_t images = 7, pixels_per_image = 50;
    std::vector<uint8_t> pixels = random_pixels(size_t(images * pixels_per_image * channels), 5);
    ChannelStats s = measure(pixels.data(), images, pixels_per_image, channels);
    for (int c = 0; c < channels; ++c) {
        double sum = 0, n = double(images * pixels_per_image);
        for (size_t i = size_t(c); i < pixels.size(); i += channels) sum += pixels[i] / 255.0;
        double mean = sum / n, sq = 0;
        for (size_t i = size_t(c); i < pixels.size(); i += channels)
            sq += (pixels[i] / 255.0 - mean) * (pixels[i] / 255.0 - mean);
        CHECK(s.mean[size_t(c)] == doctest::Approx(mean).epsilon(1e-7));
        CHECK(s.std[size_t(c)] == doctest::Approx(std::sqrt(sq / n)).epsilon(1e-6));
    }
}

TEST_CASE("normalise applies each mode's formula per channel") {
    const ChannelStats stats{{0.5f, 0.25f}, {0.2f, 0.5f}};
    const std::vector<uint8_t> src{0, 255, 128, 64, 255, 0};  // three pixels of two channels
    std::vector<float> dst(src.size());
    auto expect = [&](Normalisation mode, auto formula) {
        normalise(src.data(), dst.data(), 3, 2, mode, stats);
        for (size_t i = 0; i < src.size(); ++i) {
            CAPTURE(i);
            CHECK(dst[i] == float(formula(src[i] / 255.0, i % 2)));
        }
    };
    expect(Normalisation::scale, [](double x, size_t) { return x; });
    expect(Normalisation::center, [&](double x, size_t c) { return x - double(stats.mean[c]); });
    expect(Normalisation::standardise,
           [&](double x, size_t c) { return (x - double(stats.mean[c])) / double(stats.std[c]); });
    // scale needs no statistics at all.
    normalise(src.data(), dst.data(), 3, 2, Normalisation::scale, ChannelStats{});
    CHECK(dst[1] == 1.0f);
}

TEST_CASE("standardising with measured statistics gives mean 0 and std 1 per channel") {
    const int channels = 2;
    const int64_t images = 4, pixels_per_image = 64;
    std::vector<uint8_t> pixels = random_pixels(size_t(images * pixels_per_image * channels), 9);
    ChannelStats s = measure(pixels.data(), images, pixels_per_image, channels);
    Normaliser normaliser(Normalisation::standardise, s, channels);
    std::vector<float> out(pixels.size());
    for (int64_t i = 0; i < images; ++i) {
        const int64_t offset = i * pixels_per_image * channels;
        normaliser(pixels.data() + offset, out.data() + offset, pixels_per_image);
    }
    for (int c = 0; c < channels; ++c) {
        double sum = 0, sq = 0, n = double(images * pixels_per_image);
        for (size_t i = size_t(c); i < out.size(); i += channels) {
            sum += out[i];
            sq += double(out[i]) * out[i];
        }
        CHECK(sum / n == doctest::Approx(0.0).epsilon(1e-6));
        CHECK(sq / n == doctest::Approx(1.0).epsilon(1e-5));
    }
}

TEST_CASE("mode names parse back") {
    for (Normalisation m :
         {Normalisation::scale, Normalisation::center, Normalisation::standardise})
        CHECK(parse_normalisation(normalisation_name(m)) == m);
    CHECK_HAS(invalid_argument_of([] { parse_normalisation("standardize"); }),
              "normalisation: unknown mode \"standardize\" (expected scale, center or "
              "standardise)");
}

TEST_CASE("the JSON form round-trips mode and statistics exactly") {
    std::vector<uint8_t> pixels = random_pixels(3 * 100, 3);
    InputNormalisation n{Normalisation::center, measure(pixels.data(), 1, 100, 3)};
    nlohmann::json j = n.to_json();
    CHECK(j["mode"] == "center");
    InputNormalisation back = InputNormalisation::from_json(nlohmann::json::parse(j.dump()));
    CHECK(back.mode == n.mode);
    CHECK(std::memcmp(back.stats.mean.data(), n.stats.mean.data(), 3 * sizeof(float)) == 0);
    CHECK(std::memcmp(back.stats.std.data(), n.stats.std.data(), 3 * sizeof(float)) == 0);

    InputNormalisation scale_only{Normalisation::scale, {}};
    InputNormalisation scale_back = InputNormalisation::from_json(scale_only.to_json());
    CHECK(scale_back.mode == Normalisation::scale);
    CHECK(scale_back.stats.mean.empty());
}

TEST_CASE("measure rejects bad arguments, naming them") {
    const uint8_t px[4] = {1, 2, 3, 4};
    CHECK_HAS(invalid_argument_of([&] { measure(px, -1, 4, 1); }),
              "measure: images must be >= 0, got -1");
    CHECK_HAS(invalid_argument_of([&] { measure(px, 1, -4, 1); }),
              "measure: pixels_per_image must be >= 0, got -4");
    CHECK_HAS(invalid_argument_of([&] { measure(px, 1, 4, 0); }),
              "measure: channels must be >= 1, got 0");
    CHECK_HAS(invalid_argument_of([&] { measure(px, 0, 4, 1); }),
              "measure: no pixels to measure (images 0, pixels_per_image 4)");
    CHECK_HAS(invalid_argument_of([&] { measure(nullptr, 1, 4, 1); }), "measure: pixels is null");
}

TEST_CASE("normalise rejects statistics that do not fit the channels") {
    const uint8_t px[3] = {1, 2, 3};
    float out[3];
    auto run = [&](Normalisation mode, ChannelStats stats, int channels) {
        return invalid_argument_of([&] { normalise(px, out, 1, channels, mode, stats); });
    };
    CHECK_HAS(run(Normalisation::scale, {}, 0), "normalise: channels must be >= 1, got 0");
    CHECK_HAS(run(Normalisation::center, {{0.5f}, {1.0f}}, 3),
              "normalise (center): 1 channel means for 3 channels");
    CHECK_HAS(run(Normalisation::standardise, {{0.5f, 0.5f, 0.5f}, {1.0f}}, 3),
              "normalise (standardise): 1 channel standard deviations for 3 channels");
    CHECK_HAS(run(Normalisation::standardise, {{0.5f}, {0.0f}}, 1),
              "normalise: std of channel 0 must be > 0, got 0");
    CHECK_HAS(run(Normalisation::standardise, {{0.5f, 0.5f}, {1.0f, -2.0f}}, 2),
              "normalise: std of channel 1 must be > 0, got -2");
    CHECK_HAS(run(Normalisation::center, {{NAN}, {}}, 1),
              "normalise: mean of channel 0 must be finite, got nan");
    Normaliser n(Normalisation::scale, {}, 1);
    CHECK_HAS(invalid_argument_of([&] { n(px, out, -1); }),
              "normalise: pixel count must be >= 0, got -1");
    CHECK_HAS(invalid_argument_of([&] { n(nullptr, out, 1); }),
              "normalise: null source or destination");
}

TEST_CASE("from_json rejects malformed input normalisation, naming the field") {
    const nlohmann::json good =
        InputNormalisation{Normalisation::standardise, {{0.5f}, {0.25f}}}.to_json();
    struct Case {
        const char* field;
        nlohmann::json value;  // null: erase the field
        const char* says;
    };
    for (const Case& c : std::vector<Case>{
             {"mode", nullptr, "input normalisation: missing \"mode\""},
             {"mode", 3, "\"mode\" must be a string, got 3"},
             {"mode", "whiten", "unknown mode \"whiten\""},
             {"mean", nullptr, "input normalisation: missing \"mean\""},
             {"std", nullptr, "input normalisation: missing \"std\""},
             {"mean", 0.5, "\"mean\" must be a list of numbers, got 0.5"},
             {"std", {1.0, "x"}, "\"std\"[1] must be a finite number, got \"x\""},
             {"mean", {1e300}, "\"mean\"[0] must be a finite number, got 1e+300"},
             {"mean", {0.1, 0.2}, "2 means but 1 standard deviations"},
             {"std", {0.0}, "\"std\"[0] must be > 0, got 0"},
             {"std", {-1.0}, "\"std\"[0] must be > 0, got -1"},
         }) {
        CAPTURE(c.field);
        CAPTURE(c.says);
        nlohmann::json broken = good;
        if (c.value.is_null())
            broken.erase(c.field);
        else
            broken[c.field] = c.value;
        CHECK_HAS(invalid_argument_of([&] { InputNormalisation::from_json(broken); }), c.says);
    }
    nlohmann::json empty = good;
    empty["mean"] = nlohmann::json::array();
    empty["std"] = nlohmann::json::array();
    CHECK_HAS(invalid_argument_of([&] { InputNormalisation::from_json(empty); }),
              "mode \"standardise\" needs one mean per channel, got none");
    CHECK_HAS(invalid_argument_of([] { InputNormalisation::from_json(nlohmann::json("x")); }),
              "input normalisation: expected a JSON object, got \"x\"");
}

}  // namespace
}  // namespace cnnc::runtime
