// Data augmentation: option parsing, counter-based random draws and the image transforms.
#include "runtime/augment.h"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <initializer_list>
#include <numbers>
#include <stdexcept>
#include <utility>
#include <vector>

namespace cnnc::runtime {
namespace {

constexpr uint64_t golden = 0x9e3779b97f4a7c15ULL;  // splitmix64's increment

// splitmix64's output function: a bijection whose every output bit depends on every input bit.
uint64_t mix64(uint64_t z) {
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

// One splitmix64 step from `state` after absorbing `value`: chaining these gives a key that
// depends on seed, epoch and sample id alike, and nothing else.
uint64_t absorb(uint64_t state, uint64_t value) { return mix64(state + value + golden); }

// The slot-th random word of the stream `key` (a counter-based generator: no state to advance).
uint64_t word(uint64_t key, uint64_t slot) { return mix64(key + (slot + 1) * golden); }

double uniform01(uint64_t bits) { return double(bits >> 11) * 0x1p-53; }  // [0, 1)

// An integer in [lo, hi] from 64 random bits (multiply-shift; bias below 2^-40 for our ranges).
int64_t uniform_int(uint64_t bits, int64_t lo, int64_t hi) {
    const uint64_t span = uint64_t(hi - lo) + 1;
    return lo + int64_t((static_cast<unsigned __int128>(bits) * span) >> 64);
}

double uniform(uint64_t bits, double lo, double hi) { return lo + (hi - lo) * uniform01(bits); }

// Each random choice has a fixed slot in an image's stream, whatever else is enabled.
enum Slot : uint64_t {
    slot_crop_x,
    slot_crop_y,
    slot_flip,
    slot_translate_x,
    slot_translate_y,
    slot_rotation,
    slot_brightness,
    slot_contrast,
    slot_noise,
};

// Why `v` is not acceptable for `key`, or "" when it is; shared by parse() and validate().
std::string rule_broken(std::string_view key, double v) {
    if (!std::isfinite(v)) return "a finite number";
    if (key == "rotate") return v >= 0 && v <= 180 ? "" : "in [0, 180]";
    if (key == "contrast") return v >= 0 && v <= 1 ? "" : "in [0, 1]";
    return v >= 0 ? "" : ">= 0";
}

std::string float_text(float v) {
    char buf[32];
    auto [end, ec] = std::to_chars(buf, buf + sizeof buf, v);
    return std::string(buf, ec == std::errc() ? end : buf);
}

std::string quoted(std::string_view v) {
    std::string out = "\"";  // appended: GCC 12 warns falsely (-Wrestrict) on "\"" + string
    out.append(v);
    out += '"';
    return out;
}

void check_image(const float* image, int channels, int width, int height, const char* what) {
    if (!image) throw std::invalid_argument(std::string(what) + ": image is null");
    const std::initializer_list<std::pair<const char*, int>> sizes{
        {"channels", channels}, {"width", width}, {"height", height}};
    for (auto [name, v] : sizes)
        if (v < 1)
            throw std::invalid_argument(std::string(what) + ": " + name + " must be >= 1, got " +
                                        std::to_string(v));
}

}  // namespace

AugmentOptions AugmentOptions::parse(std::string_view spec) {
    AugmentOptions o;
    if (spec.empty() || spec == "none") return o;
    auto fail = [&](const std::string& what) {
        throw std::invalid_argument("augmentation \"" + std::string(spec) + "\": " + what);
    };
    std::vector<std::string_view> seen;
    size_t start = 0;
    while (start <= spec.size()) {
        size_t comma = spec.find(',', start);
        if (comma == spec.npos) comma = spec.size();
        std::string_view item = spec.substr(start, comma - start);
        start = comma + 1;
        if (item.empty()) fail("empty option (stray ',')");
        size_t eq = item.find('=');
        std::string_view key = item.substr(0, eq);
        std::string_view text = eq == item.npos ? std::string_view() : item.substr(eq + 1);
        for (std::string_view k : seen)
            if (k == key) fail("option '" + std::string(key) + "' repeated");
        seen.push_back(key);

        if (key == "flip") {
            if (eq != item.npos) fail("option 'flip' takes no value, got " + quoted(text));
            o.horizontal_flip = true;
            continue;
        }
        const bool integral = key == "crop" || key == "translate";
        if (!integral && key != "rotate" && key != "brightness" && key != "contrast" &&
            key != "noise")
            fail("unknown option " + quoted(key) +
                 " (options: crop=P, flip, translate=T, rotate=DEGREES, brightness=B, "
                 "contrast=C, noise=STD)");
        if (eq == item.npos) fail("option '" + std::string(key) + "' needs a value");
        double v = 0;
        const char* end = text.data() + text.size();
        if (integral) {
            int i = 0;
            auto r = std::from_chars(text.data(), end, i);
            if (r.ec != std::errc() || r.ptr != end)
                fail(std::string(key) + " must be an integer, got " + quoted(text));
            v = i;
        } else {
            auto r = std::from_chars(text.data(), end, v);
            if (r.ec != std::errc() || r.ptr != end)
                fail(std::string(key) + " must be a number, got " + quoted(text));
        }
        std::string rule = rule_broken(key, v);
        if (!rule.empty()) fail(std::string(key) + " must be " + rule + ", got " + quoted(text));
        if (key == "crop") o.crop_padding = int(v);
        if (key == "translate") o.max_translation = int(v);
        if (key == "rotate") o.max_rotation_degrees = float(v);
        if (key == "brightness") o.brightness = float(v);
        if (key == "contrast") o.contrast = float(v);
        if (key == "noise") o.noise_std = float(v);
    }
    return o;
}

std::string AugmentOptions::spec() const {
    std::string s;
    auto add = [&](const std::string& item) { s += (s.empty() ? "" : ",") + item; };
    if (crop_padding) add("crop=" + std::to_string(crop_padding));
    if (horizontal_flip) add("flip");
    if (max_translation) add("translate=" + std::to_string(max_translation));
    if (max_rotation_degrees != 0) add("rotate=" + float_text(max_rotation_degrees));
    if (brightness != 0) add("brightness=" + float_text(brightness));
    if (contrast != 0) add("contrast=" + float_text(contrast));
    if (noise_std != 0) add("noise=" + float_text(noise_std));
    return s.empty() ? "none" : s;
}

bool AugmentOptions::any() const { return *this != AugmentOptions{}; }

void AugmentOptions::validate() const {
    auto check = [](const char* key, double v) {
        std::string rule = rule_broken(key, v);
        if (!rule.empty()) {
            char buf[32];
            std::snprintf(buf, sizeof buf, "%g", v);
            throw std::invalid_argument(std::string("augmentation: ") + key + " must be " + rule +
                                        ", got " + buf);
        }
    };
    check("crop", crop_padding);
    check("translate", max_translation);
    check("rotate", max_rotation_degrees);
    check("brightness", brightness);
    check("contrast", contrast);
    check("noise", noise_std);
}

Augmenter::Augmenter(AugmentOptions options, uint64_t seed) : options_(options), seed_(seed) {
    options_.validate();
}

AugmentDraws Augmenter::draws(uint64_t sample_id, uint64_t epoch) const {
    const uint64_t key = absorb(absorb(absorb(0, seed_), epoch), sample_id);
    const AugmentOptions& o = options_;
    AugmentDraws d;
    // torchvision's RandomCrop picks the offset in [0, 2P]; the content then moves by P - offset.
    const int64_t p = o.crop_padding, t = o.max_translation;
    d.crop_dx = int(p - uniform_int(word(key, slot_crop_x), 0, 2 * p));
    d.crop_dy = int(p - uniform_int(word(key, slot_crop_y), 0, 2 * p));
    d.flip = o.horizontal_flip && (word(key, slot_flip) >> 63) != 0;
    d.translate_dx = int(uniform_int(word(key, slot_translate_x), -t, t));
    d.translate_dy = int(uniform_int(word(key, slot_translate_y), -t, t));
    const double r = o.max_rotation_degrees;
    d.rotation_degrees = r > 0 ? uniform(word(key, slot_rotation), -r, r) : 0.0;
    const double b = o.brightness, c = o.contrast;
    d.brightness_delta = b > 0 ? float(uniform(word(key, slot_brightness), -b, b)) : 0.0f;
    d.contrast_factor = c > 0 ? float(uniform(word(key, slot_contrast), 1 - c, 1 + c)) : 1.0f;
    d.noise_key = word(key, slot_noise);
    return d;
}

void Augmenter::apply(float* image, int channels, int width, int height, uint64_t sample_id,
                      uint64_t epoch) const {
    check_image(image, channels, width, height, "augment");
    const AugmentDraws d = draws(sample_id, epoch);
    const int64_t n = int64_t(channels) * width * height;
    if (d.crop_dx || d.crop_dy) shift_image(image, channels, width, height, d.crop_dx, d.crop_dy);
    if (d.flip) flip_image_horizontally(image, channels, width, height);
    if (d.translate_dx || d.translate_dy)
        shift_image(image, channels, width, height, d.translate_dx, d.translate_dy);
    if (d.rotation_degrees != 0) rotate_image(image, channels, width, height, d.rotation_degrees);
    if (d.brightness_delta != 0)
        for (int64_t i = 0; i < n; ++i) image[i] += d.brightness_delta;
    if (d.contrast_factor != 1) {
        double sum = 0;
        for (int64_t i = 0; i < n; ++i) sum += image[i];
        const float mean = float(sum / double(n)), f = d.contrast_factor;
        for (int64_t i = 0; i < n; ++i) image[i] = mean + f * (image[i] - mean);
    }
    if (options_.noise_std > 0) {
        // Box-Muller on the words (2k, 2k + 1) of the noise stream gives values 2k and 2k + 1.
        const double s = options_.noise_std;
        for (int64_t i = 0; i < n; i += 2) {
            const double u1 = (double(word(d.noise_key, uint64_t(i)) >> 11) + 1) * 0x1p-53;
            const double u2 = uniform01(word(d.noise_key, uint64_t(i) + 1));
            const double radius = s * std::sqrt(-2 * std::log(u1));
            const double angle = 2 * std::numbers::pi * u2;
            image[i] += float(radius * std::cos(angle));
            if (i + 1 < n) image[i + 1] += float(radius * std::sin(angle));
        }
    }
}

void shift_image(float* image, int channels, int width, int height, int dx, int dy) {
    check_image(image, channels, width, height, "shift_image");
    const int64_t row = int64_t(width) * channels;
    const int64_t c = channels;
    // Rows are visited so that a source row is always read before it is overwritten.
    for (int64_t k = 0; k < height; ++k) {
        const int64_t y = dy >= 0 ? height - 1 - k : k;
        const int64_t from_y = y - dy;
        float* out = image + y * row;
        if (from_y < 0 || from_y >= height || dx >= width || dx <= -width) {
            std::fill(out, out + row, 0.0f);
            continue;
        }
        const float* in = image + from_y * row;
        // out[x] = in[x - dx] for x in [max(0, dx), width + min(0, dx)).
        const int64_t first = std::max(0, dx), count = width - std::abs(int64_t(dx));
        std::memmove(out + first * c, in + (first - dx) * c, size_t(count * c) * sizeof(float));
        std::fill(out, out + first * c, 0.0f);
        std::fill(out + (first + count) * c, out + row, 0.0f);
    }
}

void flip_image_horizontally(float* image, int channels, int width, int height) {
    check_image(image, channels, width, height, "flip_image_horizontally");
    for (int64_t y = 0; y < height; ++y) {
        float* row = image + y * int64_t(width) * channels;
        for (int64_t x = 0; x < width / 2; ++x)
            std::swap_ranges(row + x * channels, row + (x + 1) * channels,
                             row + (width - 1 - x) * channels);
    }
}

void rotate_image(float* image, int channels, int width, int height, double degrees) {
    check_image(image, channels, width, height, "rotate_image");
    if (!std::isfinite(degrees))
        throw std::invalid_argument("rotate_image: degrees must be finite, got " +
                                    std::to_string(degrees));
    if (degrees == 0) return;
    const int64_t c = channels, n = c * width * height;
    const std::vector<float> src(image, image + n);
    const double a = degrees * std::numbers::pi / 180, cos_a = std::cos(a), sin_a = std::sin(a);
    const double cx = (width - 1) / 2.0, cy = (height - 1) / 2.0;
    auto at = [&](int64_t x, int64_t y) { return src.data() + (y * width + x) * c; };
    for (int64_t y = 0; y < height; ++y) {
        for (int64_t x = 0; x < width; ++x) {
            // The inverse rotation takes each output pixel to where its value comes from.
            const double u = double(x) - cx, v = double(y) - cy;
            const double sx = cx + cos_a * u - sin_a * v, sy = cy + sin_a * u + cos_a * v;
            const double fx0 = std::floor(sx), fy0 = std::floor(sy);
            const double fx = sx - fx0, fy = sy - fy0;
            const int64_t x0 = int64_t(fx0), y0 = int64_t(fy0);
            float* out = image + (y * width + x) * c;
            std::fill(out, out + c, 0.0f);
            const double weights[4] = {(1 - fx) * (1 - fy), fx * (1 - fy), (1 - fx) * fy, fx * fy};
            for (int corner = 0; corner < 4; ++corner) {
                const int64_t px = x0 + (corner & 1), py = y0 + (corner >> 1);
                // Outside the image the value is 0 (zero fill), so the corner adds nothing.
                if (px < 0 || px >= width || py < 0 || py >= height || weights[corner] == 0)
                    continue;
                const float* p = at(px, py);
                for (int64_t k = 0; k < c; ++k) out[k] += float(weights[corner]) * p[k];
            }
        }
    }
}

}  // namespace cnnc::runtime
