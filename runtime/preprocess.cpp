// Input normalisation: exact per-channel statistics, table-driven conversion, JSON round trip.
#include "runtime/preprocess.h"

#include <cmath>
#include <cstdio>
#include <limits>
#include <stdexcept>
#include <string>

namespace cnnc::runtime {
namespace {

[[noreturn]] void fail(const std::string& what) { throw std::invalid_argument(what); }

std::string number_text(double v) {
    char buf[32];
    std::snprintf(buf, sizeof buf, "%.9g", v);
    return buf;
}

// Reads a JSON list of numbers that must fit a float; `key` names it in errors.
std::vector<float> float_list(const nlohmann::json& j, const char* key) {
    auto it = j.find(key);
    if (it == j.end()) fail(std::string("input normalisation: missing \"") + key + "\"");
    if (!it->is_array())
        fail(std::string("input normalisation: \"") + key + "\" must be a list of numbers, got " +
             it->dump());
    std::vector<float> out;
    for (size_t i = 0; i < it->size(); ++i) {
        const nlohmann::json& v = (*it)[i];
        // A double beyond float's range cannot be narrowed (undefined behaviour, infinity here).
        if (!v.is_number() || !(std::fabs(v.get<double>()) <= std::numeric_limits<float>::max()))
            fail(std::string("input normalisation: \"") + key + "\"[" + std::to_string(i) +
                 "] must be a finite number, got " + v.dump());
        out.push_back(v.get<float>());
    }
    return out;
}

}  // namespace

std::string_view normalisation_name(Normalisation mode) {
    switch (mode) {
        case Normalisation::scale:
            return "scale";
        case Normalisation::center:
            return "center";
        case Normalisation::standardise:
            return "standardise";
    }
    return "?";
}

Normalisation parse_normalisation(std::string_view name) {
    for (Normalisation m :
         {Normalisation::scale, Normalisation::center, Normalisation::standardise})
        if (name == normalisation_name(m)) return m;
    fail("normalisation: unknown mode \"" + std::string(name) +
         "\" (expected scale, center or standardise)");
}

ChannelStats measure(const uint8_t* pixels, int64_t images, int64_t pixels_per_image,
                     int channels) {
    if (images < 0) fail("measure: images must be >= 0, got " + std::to_string(images));
    if (pixels_per_image < 0)
        fail("measure: pixels_per_image must be >= 0, got " + std::to_string(pixels_per_image));
    if (channels < 1) fail("measure: channels must be >= 1, got " + std::to_string(channels));
    const int64_t n = images * pixels_per_image;  // values per channel
    if (n == 0)
        fail("measure: no pixels to measure (images " + std::to_string(images) +
             ", pixels_per_image " + std::to_string(pixels_per_image) + ")");
    if (!pixels) fail("measure: pixels is null");

    // Integer sums are exact (the squares of 2^40 values per channel still fit in 64 bits), so
    // no ordering or cancellation error can creep in before the final division.
    std::vector<uint64_t> sum(size_t(channels), 0), sum_sq(size_t(channels), 0);
    const uint8_t* p = pixels;
    for (int64_t i = 0; i < n; ++i) {
        for (int c = 0; c < channels; ++c, ++p) {
            sum[size_t(c)] += *p;
            sum_sq[size_t(c)] += uint64_t(*p) * *p;
        }
    }
    ChannelStats stats;
    for (int c = 0; c < channels; ++c) {
        const uint64_t s = sum[size_t(c)], q = sum_sq[size_t(c)];
        // n^2 * variance * 255^2 = n * sum_sq - sum^2, exactly, in 128 bits; never negative.
        const unsigned __int128 spread =
            (unsigned __int128)(uint64_t(n)) * q - (unsigned __int128)s * s;
        const double mean = double(s) / double(n) / 255.0;
        const double std = std::sqrt(double(spread)) / double(n) / 255.0;
        stats.mean.push_back(float(mean));
        stats.std.push_back(spread == 0 ? 1.0f : float(std));
    }
    return stats;
}

Normaliser::Normaliser(Normalisation mode, const ChannelStats& stats, int channels)
    : channels_(channels) {
    if (channels < 1) fail("normalise: channels must be >= 1, got " + std::to_string(channels));
    const std::string mode_name(normalisation_name(mode));
    if (mode != Normalisation::scale && stats.mean.size() != size_t(channels))
        fail("normalise (" + mode_name + "): " + std::to_string(stats.mean.size()) +
             " channel means for " + std::to_string(channels) + " channels");
    if (mode == Normalisation::standardise && stats.std.size() != size_t(channels))
        fail("normalise (" + mode_name + "): " + std::to_string(stats.std.size()) +
             " channel standard deviations for " + std::to_string(channels) + " channels");
    for (int c = 0; c < channels; ++c) {
        if (mode != Normalisation::scale && !std::isfinite(stats.mean[size_t(c)]))
            fail("normalise: mean of channel " + std::to_string(c) + " must be finite, got " +
                 number_text(stats.mean[size_t(c)]));
        if (mode == Normalisation::standardise &&
            !(stats.std[size_t(c)] > 0 && std::isfinite(stats.std[size_t(c)])))
            fail("normalise: std of channel " + std::to_string(c) + " must be > 0, got " +
                 number_text(stats.std[size_t(c)]));
    }
    table_.resize(size_t(channels) * 256);
    for (int c = 0; c < channels; ++c) {
        const double mean = mode == Normalisation::scale ? 0.0 : stats.mean[size_t(c)];
        const double std = mode == Normalisation::standardise ? stats.std[size_t(c)] : 1.0;
        for (int v = 0; v < 256; ++v)
            table_[size_t(c) * 256 + size_t(v)] = float((v / 255.0 - mean) / std);
    }
}

void Normaliser::operator()(const uint8_t* src, float* dst, int64_t pixel_count) const {
    if (pixel_count < 0)
        fail("normalise: pixel count must be >= 0, got " + std::to_string(pixel_count));
    if (pixel_count > 0 && (!src || !dst)) fail("normalise: null source or destination");
    if (channels_ == 1) {
        for (int64_t i = 0; i < pixel_count; ++i) dst[i] = table_[src[i]];
        return;
    }
    for (int64_t i = 0; i < pixel_count; ++i)
        for (int c = 0; c < channels_; ++c, ++src, ++dst) *dst = table_[size_t(c) * 256 + *src];
}

void normalise(const uint8_t* src, float* dst, int64_t pixel_count_per_image, int channels,
               Normalisation mode, const ChannelStats& stats) {
    Normaliser(mode, stats, channels)(src, dst, pixel_count_per_image);
}

nlohmann::json InputNormalisation::to_json() const {
    // Floats widen to doubles exactly and JSON prints doubles so they read back exactly.
    nlohmann::json j;
    j["mode"] = normalisation_name(mode);
    j["mean"] = nlohmann::json::array();
    j["std"] = nlohmann::json::array();
    for (float m : stats.mean) j["mean"].push_back(double(m));
    for (float s : stats.std) j["std"].push_back(double(s));
    return j;
}

InputNormalisation InputNormalisation::from_json(const nlohmann::json& j) {
    if (!j.is_object()) fail("input normalisation: expected a JSON object, got " + j.dump());
    auto m = j.find("mode");
    if (m == j.end()) fail("input normalisation: missing \"mode\"");
    if (!m->is_string()) fail("input normalisation: \"mode\" must be a string, got " + m->dump());
    InputNormalisation out;
    out.mode = parse_normalisation(m->get<std::string>());
    out.stats.mean = float_list(j, "mean");
    out.stats.std = float_list(j, "std");
    if (out.stats.mean.size() != out.stats.std.size())
        fail("input normalisation: " + std::to_string(out.stats.mean.size()) + " means but " +
             std::to_string(out.stats.std.size()) + " standard deviations");
    if (out.mode != Normalisation::scale && out.stats.mean.empty())
        fail("input normalisation: mode \"" + m->get<std::string>() +
             "\" needs one mean per channel, got none");
    for (size_t c = 0; c < out.stats.std.size(); ++c)
        if (!(out.stats.std[c] > 0))
            fail("input normalisation: \"std\"[" + std::to_string(c) + "] must be > 0, got " +
                 number_text(out.stats.std[c]));
    return out;
}

}  // namespace cnnc::runtime
