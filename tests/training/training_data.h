// Test helpers for any 28x28 grey model: small synthetic data sets, bitwise tensor comparison.
#pragma once

#include <cstring>
#include <random>
#include <vector>

#include "runtime/trainer.h"

namespace cnnc::runtime::testing {

// 28x28 grey images whose class k shows a bright bar at rows 2k + 4 .. 2k + 6 over noise: easy
// enough that a few epochs learn it. With random_labels the labels carry no information at all,
// so validation accuracy only wanders (what early stopping needs to stop).
inline Dataset synthetic_data(int64_t count, uint64_t seed, bool random_labels = false) {
    Dataset d;
    d.images = {count, 28, 28, std::vector<uint8_t>(size_t(count) * 784)};
    std::mt19937_64 rng(seed);
    for (int64_t i = 0; i < count; ++i) {
        const int label = int(rng() % 10);
        uint8_t* img = &d.images.pixels[size_t(i) * 784];
        for (int k = 0; k < 784; ++k) img[k] = uint8_t(rng() % 64);
        for (int y = 2 * label + 4; y < 2 * label + 7; ++y)
            for (int x = 4; x < 24; ++x) img[y * 28 + x] = uint8_t(192 + rng() % 64);
        d.labels.push_back(uint8_t(random_labels ? int(rng() % 10) : label));
    }
    return d;
}

inline bool same_bits(const Tensor& a, const Tensor& b) {
    return a.extents() == b.extents() &&
           std::memcmp(a.data(), b.data(), a.size() * sizeof(float)) == 0;
}

inline bool same_bits(const std::vector<Tensor>& a, const std::vector<Tensor>& b) {
    if (a.size() != b.size()) return false;
    for (size_t i = 0; i < a.size(); ++i)
        if (!same_bits(a[i], b[i])) return false;
    return true;
}

// Options for quick runs: small validation split, quiet.
inline TrainOptions quick_options(int epochs) {
    TrainOptions o;
    o.epochs = epochs;
    o.validation = 100;
    o.verbose = false;
    return o;
}

}  // namespace cnnc::runtime::testing
