// Tests for data augmentation: determinism, each transform's geometry and statistics, parsing.
#include <doctest/doctest.h>

#include <cmath>
#include <cstdint>
#include <limits>
#include <random>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "invalid_argument_util.h"
#include "runtime/augment.h"
#include "test_util.h"

namespace cnnc::runtime {
namespace {

using testing::invalid_argument_of;

// A W x H x C image in (c, x, y) layout.
struct Image {
    int c, w, h;
    std::vector<float> v;
    Image(int channels, int width, int height)
        : c(channels), w(width), h(height), v(size_t(channels * width * height), 0.0f) {}
    float& at(int ch, int x, int y) { return v[size_t((y * w + x) * c + ch)]; }
    float* data() { return v.data(); }
};

Image random_image(int c, int w, int h, uint64_t seed) {
    Image im(c, w, h);
    std::mt19937 rng{uint32_t(seed)};
    std::uniform_real_distribution<float> u(-1, 1);
    for (float& x : im.v) x = u(rng);
    return im;
}

Image augmented(const Augmenter& a, Image im, uint64_t id, uint64_t epoch) {
    a.apply(im.data(), im.c, im.w, im.h, id, epoch);
    return im;
}

// Where the single non-zero value of a one-channel image is; (-1, -1) when there is none.
std::pair<int, int> bright_pixel(Image& im) {
    for (int y = 0; y < im.h; ++y)
        for (int x = 0; x < im.w; ++x)
            if (im.at(0, x, y) != 0) return {x, y};
    return {-1, -1};
}

TEST_CASE("with every option off apply leaves the image untouched") {
    Augmenter a(AugmentOptions{}, 7);
    Image im = random_image(3, 9, 5, 1);
    CHECK(augmented(a, im, 12, 3).v == im.v);
    CHECK_FALSE(AugmentOptions{}.any());
    CHECK(AugmentOptions::parse("none") == AugmentOptions{});
    CHECK(AugmentOptions::parse("") == AugmentOptions{});
}

TEST_CASE("draws depend on seed, epoch and sample id only") {
    const AugmentOptions all = AugmentOptions::parse(
        "crop=4,flip,translate=2,rotate=10,brightness=0.1,contrast=0.1,noise=0.05");
    Augmenter a(all, 42), same(all, 42), other_seed(all, 43);
    const Image im = random_image(3, 16, 12, 2);

    CHECK(augmented(a, im, 5, 1).v == augmented(same, im, 5, 1).v);
    CHECK(augmented(a, im, 5, 1).v != augmented(a, im, 5, 2).v);
    CHECK(augmented(a, im, 5, 1).v != augmented(a, im, 6, 1).v);
    CHECK(augmented(a, im, 5, 1).v != augmented(other_seed, im, 5, 1).v);

    // Any order and any thread give each sample the same image.
    const int samples = 32;
    std::vector<std::vector<float>> forward(samples), threaded(samples);
    for (int i = 0; i < samples; ++i) forward[size_t(i)] = augmented(a, im, uint64_t(i), 3).v;
    std::vector<std::thread> threads;
    for (int t = 0; t < 4; ++t)
        threads.emplace_back([&, t] {
            for (int i = samples - 1 - t; i >= 0; i -= 4)
                threaded[size_t(i)] = augmented(a, im, uint64_t(i), 3).v;
        });
    for (std::thread& t : threads) t.join();
    CHECK(threaded == forward);
}

TEST_CASE("each option keeps its own draws whatever else is enabled") {
    Augmenter crop_only(AugmentOptions::parse("crop=3"), 9);
    Augmenter everything(AugmentOptions::parse("crop=3,flip,translate=2,rotate=5,noise=0.1"), 9);
    for (uint64_t id = 0; id < 20; ++id) {
        AugmentDraws a = crop_only.draws(id, 0), b = everything.draws(id, 0);
        CHECK(a.crop_dx == b.crop_dx);
        CHECK(a.crop_dy == b.crop_dy);
    }
}

TEST_CASE("draws stay in their ranges and cover them") {
    Augmenter a(AugmentOptions::parse("crop=2,flip,translate=1,rotate=15,brightness=0.2,"
                                      "contrast=0.3"),
                1);
    std::set<int> crops, translations;
    int flips = 0;
    const int n = 2000;
    for (uint64_t id = 0; id < n; ++id) {
        AugmentDraws d = a.draws(id, 0);
        crops.insert(d.crop_dx);
        crops.insert(d.crop_dy);
        translations.insert(d.translate_dx);
        translations.insert(d.translate_dy);
        flips += d.flip;
        CHECK(std::abs(d.rotation_degrees) <= 15);
        CHECK(std::abs(d.brightness_delta) <= 0.2f);
        CHECK(d.contrast_factor >= 0.7f);
        CHECK(d.contrast_factor <= 1.3f);
    }
    CHECK(crops == std::set<int>{-2, -1, 0, 1, 2});
    CHECK(translations == std::set<int>{-1, 0, 1});
    CHECK(flips > n * 0.45);
    CHECK(flips < n * 0.55);
}

TEST_CASE("flip mirrors x; twice is the identity; apply flips exactly when drawn") {
    Image im = random_image(2, 5, 3, 4);
    Image once = im;
    flip_image_horizontally(once.data(), 2, 5, 3);
    for (int y = 0; y < 3; ++y)
        for (int x = 0; x < 5; ++x)
            for (int c = 0; c < 2; ++c) CHECK(once.at(c, x, y) == im.at(c, 4 - x, y));
    Image twice = once;
    flip_image_horizontally(twice.data(), 2, 5, 3);
    CHECK(twice.v == im.v);

    Augmenter a(AugmentOptions::parse("flip"), 3);
    int flipped = 0;
    for (uint64_t id = 0; id < 16; ++id) {
        const bool drawn = a.draws(id, 0).flip;
        flipped += drawn;
        CHECK(augmented(a, im, id, 0).v == (drawn ? once.v : im.v));
    }
    CHECK(flipped > 0);
    CHECK(flipped < 16);
}

TEST_CASE("shift_image moves content with zero fill, any direction") {
    for (auto [dx, dy] : std::vector<std::pair<int, int>>{
             {0, 0}, {1, 0}, {-2, 0}, {0, 1}, {0, -3}, {2, -1}, {-1, 2}, {6, 0}, {0, -4}}) {
        CAPTURE(dx);
        CAPTURE(dy);
        const Image im = random_image(2, 6, 4, 5);
        Image out = im;
        shift_image(out.data(), 2, 6, 4, dx, dy);
        for (int y = 0; y < 4; ++y)
            for (int x = 0; x < 6; ++x)
                for (int c = 0; c < 2; ++c) {
                    const int sx = x - dx, sy = y - dy;
                    const bool inside = sx >= 0 && sx < 6 && sy >= 0 && sy < 4;
                    Image& src = const_cast<Image&>(im);
                    CHECK(out.at(c, x, y) == (inside ? src.at(c, sx, sy) : 0.0f));
                }
    }
}

TEST_CASE("translation and crop move a single bright pixel by the drawn offset") {
    for (const char* spec : {"translate=3", "crop=2"}) {
        CAPTURE(spec);
        Augmenter a(AugmentOptions::parse(spec), 11);
        std::set<std::pair<int, int>> offsets;
        for (uint64_t id = 0; id < 40; ++id) {
            Image im(1, 12, 10);
            im.at(0, 5, 4) = 1.0f;
            a.apply(im.data(), 1, 12, 10, id, 0);
            AugmentDraws d = a.draws(id, 0);
            const int dx = d.translate_dx + d.crop_dx, dy = d.translate_dy + d.crop_dy;
            offsets.insert({dx, dy});
            CHECK(bright_pixel(im) == std::pair{5 + dx, 4 + dy});
            CHECK(im.at(0, 5 + dx, 4 + dy) == 1.0f);
        }
        CHECK(offsets.size() > 5);  // the offsets really vary
    }
}

TEST_CASE("rotation: 0 degrees is the identity, 90 degrees permutes, 360 returns") {
    const Image im = random_image(2, 7, 7, 6);
    Image zero = im;
    rotate_image(zero.data(), 2, 7, 7, 0.0);
    CHECK(zero.v == im.v);

    // +90 degrees turns counter-clockwise as displayed: a pixel right of the centre goes up.
    Image dot(1, 7, 7);
    dot.at(0, 5, 3) = 1.0f;
    rotate_image(dot.data(), 1, 7, 7, 90.0);
    CHECK(dot.at(0, 3, 1) == doctest::Approx(1.0f).epsilon(1e-5));

    Image quarter = im;
    rotate_image(quarter.data(), 2, 7, 7, 90.0);
    Image& src = const_cast<Image&>(im);
    for (int y = 0; y < 7; ++y)
        for (int x = 0; x < 7; ++x)
            for (int c = 0; c < 2; ++c)  // out(x, y) = in(cx - (y - cy), cy + (x - cx))
                CHECK(quarter.at(c, x, y) == doctest::Approx(src.at(c, 6 - y, x)).epsilon(1e-5));

    Image full = im;
    rotate_image(full.data(), 2, 7, 7, 360.0);
    for (size_t i = 0; i < im.v.size(); ++i) CHECK(full.v[i] == doctest::Approx(im.v[i]));
}

TEST_CASE("rotation preserves a centred symmetric blob and zero-fills the corners") {
    const int w = 21, h = 21;
    Image blob(1, w, h);
    for (int y = 0; y < h; ++y)
        for (int x = 0; x < w; ++x)
            blob.at(0, x, y) = std::exp(-((x - 10) * (x - 10) + (y - 10) * (y - 10)) / 18.0f);
    Augmenter a(AugmentOptions::parse("rotate=30"), 5);
    for (uint64_t id = 0; id < 8; ++id) {
        CAPTURE(a.draws(id, 0).rotation_degrees);
        Image out = augmented(a, blob, id, 0);
        double worst = 0;
        for (size_t i = 0; i < blob.v.size(); ++i)
            worst = std::max(worst, double(std::abs(out.v[i] - blob.v[i])));
        CHECK(worst < 0.03);  // bilinear sampling of a smooth blob
    }
    // A constant image keeps its value in the middle and loses the corners to the zero fill.
    Image flat(1, w, h);
    for (float& v : flat.v) v = 1.0f;
    rotate_image(flat.data(), 1, w, h, 45.0);
    CHECK(flat.at(0, 10, 10) == doctest::Approx(1.0f));
    CHECK(flat.at(0, 0, 0) == 0.0f);
}

TEST_CASE("brightness adds the drawn delta; contrast scales about the image mean") {
    const Image im = random_image(3, 8, 8, 7);
    Augmenter bright(AugmentOptions::parse("brightness=0.5"), 2);
    for (uint64_t id = 0; id < 5; ++id) {
        const float delta = bright.draws(id, 1).brightness_delta;
        Image out = augmented(bright, im, id, 1);
        for (size_t i = 0; i < im.v.size(); ++i) CHECK(out.v[i] == im.v[i] + delta);
    }
    Augmenter contrast(AugmentOptions::parse("contrast=0.5"), 2);
    double mean = 0;
    for (float v : im.v) mean += v;
    mean /= double(im.v.size());
    for (uint64_t id = 0; id < 5; ++id) {
        const float f = contrast.draws(id, 1).contrast_factor;
        Image out = augmented(contrast, im, id, 1);
        double out_mean = 0;
        for (size_t i = 0; i < im.v.size(); ++i) {
            out_mean += out.v[i];
            CHECK(std::abs((out.v[i] - mean) - f * (im.v[i] - mean)) < 1e-5);
        }
        CHECK(out_mean / double(im.v.size()) == doctest::Approx(mean).epsilon(1e-5));
    }
}

TEST_CASE("noise has mean 0 and the requested std, independently per image") {
    Augmenter a(AugmentOptions::parse("noise=0.5"), 8);
    const Image zero(3, 64, 64);
    Image one = augmented(a, zero, 1, 0), two = augmented(a, zero, 2, 0);
    const double n = double(one.v.size());
    double sum = 0, sq = 0, cross = 0;
    for (size_t i = 0; i < one.v.size(); ++i) {
        sum += one.v[i];
        sq += double(one.v[i]) * one.v[i];
        cross += double(one.v[i]) * two.v[i];
    }
    CHECK(std::abs(sum / n) < 0.02);  // 4 standard errors of 0.5 / sqrt(12288)
    CHECK(std::sqrt(sq / n) == doctest::Approx(0.5).epsilon(0.03));
    CHECK(std::abs(cross / n / 0.25) < 0.05);  // correlation between two images
    // An odd number of values still gets noise on the last one.
    Image odd(1, 3, 3);
    a.apply(odd.data(), 1, 3, 3, 1, 0);
    CHECK(odd.at(0, 2, 2) != 0.0f);
}

TEST_CASE("parse reads every option and spec() round-trips") {
    AugmentOptions o = AugmentOptions::parse(
        "crop=4,flip,translate=2,rotate=10,brightness=0.1,contrast=0.1,noise=0.05");
    CHECK(o.crop_padding == 4);
    CHECK(o.horizontal_flip);
    CHECK(o.max_translation == 2);
    CHECK(o.max_rotation_degrees == 10.0f);
    CHECK(o.brightness == 0.1f);
    CHECK(o.contrast == 0.1f);
    CHECK(o.noise_std == 0.05f);
    CHECK(o.any());
    CHECK(o.spec() == "crop=4,flip,translate=2,rotate=10,brightness=0.1,contrast=0.1,noise=0.05");
    CHECK(AugmentOptions::parse(o.spec()) == o);
    CHECK(AugmentOptions::parse("noise=0.2,flip").spec() == "flip,noise=0.2");
    CHECK(AugmentOptions{}.spec() == "none");
}

TEST_CASE("parse rejects bad specs, naming the option and the value") {
    struct Case {
        const char* spec;
        const char* says;
    };
    for (Case c : std::vector<Case>{
             {"zoom=2", "unknown option \"zoom\" (options: crop=P, flip, translate=T"},
             {"crop=4,Flip", "unknown option \"Flip\""},
             {"none,flip", "unknown option \"none\""},
             {"flip,flip", "option 'flip' repeated"},
             {"crop=1,crop=2", "option 'crop' repeated"},
             {"flip=1", "option 'flip' takes no value, got \"1\""},
             {"crop", "option 'crop' needs a value"},
             {"crop=", "crop must be an integer, got \"\""},
             {"crop=1.5", "crop must be an integer, got \"1.5\""},
             {"crop=-1", "crop must be >= 0, got \"-1\""},
             {"translate=x", "translate must be an integer, got \"x\""},
             {"rotate=200", "rotate must be in [0, 180], got \"200\""},
             {"rotate=-5", "rotate must be in [0, 180], got \"-5\""},
             {"rotate=nan", "rotate must be a finite number, got \"nan\""},
             {"brightness=abc", "brightness must be a number, got \"abc\""},
             {"brightness=-0.1", "brightness must be >= 0, got \"-0.1\""},
             {"contrast=1.5", "contrast must be in [0, 1], got \"1.5\""},
             {"noise=-0.05", "noise must be >= 0, got \"-0.05\""},
             {"noise=0.1x", "noise must be a number, got \"0.1x\""},
             {"crop=4,", "empty option"},
             {",flip", "empty option"},
             {"crop=4,,flip", "empty option"},
         }) {
        CAPTURE(c.spec);
        std::string msg = invalid_argument_of([&] { AugmentOptions::parse(c.spec); });
        CHECK_HAS(msg, std::string("augmentation \"") + c.spec + "\": ");
        CHECK_HAS(msg, c.says);
    }
}

TEST_CASE("the Augmenter rejects options set out of range directly") {
    auto with = [](auto set) {
        AugmentOptions o;
        set(o);
        return invalid_argument_of([&] { Augmenter(o, 1); });
    };
    CHECK_HAS(with([](AugmentOptions& o) { o.crop_padding = -1; }),
              "augmentation: crop must be >= 0, got -1");
    CHECK_HAS(with([](AugmentOptions& o) { o.max_translation = -3; }),
              "augmentation: translate must be >= 0, got -3");
    CHECK_HAS(with([](AugmentOptions& o) { o.max_rotation_degrees = 181; }),
              "augmentation: rotate must be in [0, 180], got 181");
    CHECK_HAS(with([](AugmentOptions& o) { o.brightness = -1; }),
              "augmentation: brightness must be >= 0, got -1");
    CHECK_HAS(with([](AugmentOptions& o) { o.contrast = 2; }),
              "augmentation: contrast must be in [0, 1], got 2");
    CHECK_HAS(with([](AugmentOptions& o) { o.noise_std = std::numeric_limits<float>::infinity(); }),
              "augmentation: noise must be a finite number, got inf");
}

TEST_CASE("apply and the building blocks reject a null image and sizes below 1") {
    Augmenter a(AugmentOptions::parse("flip"), 1);
    float px[4] = {};
    CHECK_HAS(invalid_argument_of([&] { a.apply(nullptr, 1, 2, 2, 0, 0); }),
              "augment: image is null");
    CHECK_HAS(invalid_argument_of([&] { a.apply(px, 0, 2, 2, 0, 0); }),
              "augment: channels must be >= 1, got 0");
    CHECK_HAS(invalid_argument_of([&] { a.apply(px, 1, -2, 2, 0, 0); }),
              "augment: width must be >= 1, got -2");
    CHECK_HAS(invalid_argument_of([&] { a.apply(px, 1, 2, 0, 0, 0); }),
              "augment: height must be >= 1, got 0");
    CHECK_HAS(invalid_argument_of([&] { shift_image(px, 1, 0, 2, 1, 1); }),
              "shift_image: width must be >= 1, got 0");
    CHECK_HAS(invalid_argument_of([&] { flip_image_horizontally(nullptr, 1, 2, 2); }),
              "flip_image_horizontally: image is null");
    CHECK_HAS(invalid_argument_of([&] { rotate_image(px, 1, 2, 0, 10); }),
              "rotate_image: height must be >= 1, got 0");
    CHECK_HAS(invalid_argument_of(
                  [&] { rotate_image(px, 1, 2, 2, std::numeric_limits<double>::quiet_NaN()); }),
              "rotate_image: degrees must be finite, got nan");
}

}  // namespace
}  // namespace cnnc::runtime
