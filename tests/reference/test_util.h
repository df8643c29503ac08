// Helpers shared by the reference tests: weighted sums, finite-difference checks, comparisons.
#pragma once

#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <functional>
#include <string>
#include <vector>

#include "tests/reference/naive_ops.h"

namespace cnnc::reference::test {

// L = sum(out * r): its gradient with respect to `out` is r, so backward(r) must equal dL/dinput.
inline double weighted_sum(const Act& out, const std::vector<double>& r) {
    REQUIRE(out.v.size() == r.size());
    double s = 0;
    for (size_t i = 0; i < r.size(); ++i) s += out.v[i] * r[i];
    return s;
}

// An Act shaped like `like` holding `values`.
inline Act act_like(const Act& like, std::vector<double> values) {
    Act a = like;
    REQUIRE(values.size() == a.v.size());
    a.v = std::move(values);
    return a;
}

// Checks every entry of `values` (or the given sample) and requires at least one smooth probe.
inline void check_all(const std::string& what, const std::function<double()>& f,
                      std::vector<double>& values, const std::vector<double>& analytic,
                      const FiniteDifferenceOptions& options = {},
                      const std::vector<size_t>& indices = {}) {
    GradientCheckReport report = check_gradient(f, values, analytic, indices, options);
    INFO(what << ": " << report.summary());
    CHECK(report.failed == 0);
    CHECK(report.checked > 0);
    // Random inputs almost never sit within eps of a kink; many skips would mean a broken probe.
    CHECK(report.skipped_kinks * 10 <= report.checked + report.skipped_kinks);
}

inline Window window(int64_t kh, int64_t kw, int64_t sh = 1, int64_t sw = 1, int64_t dh = 1,
                     int64_t dw = 1, Pads pads = {}) {
    Window w;
    w.kernel_h = kh, w.kernel_w = kw;
    w.stride_h = sh, w.stride_w = sw;
    w.dilation_h = dh, w.dilation_w = dw;
    w.pads = pads;
    return w;
}

inline int64_t product(const std::vector<int64_t>& extents) {
    int64_t n = 1;
    for (int64_t e : extents) n *= e;
    return n;
}

// ||a - b|| / ||b||: one number per tensor, insensitive to individual tiny entries.
inline double relative_difference(const std::vector<double>& a, const std::vector<double>& b) {
    REQUIRE(a.size() == b.size());
    double diff = 0, norm = 0;
    for (size_t i = 0; i < a.size(); ++i) {
        diff += (a[i] - b[i]) * (a[i] - b[i]);
        norm += b[i] * b[i];
    }
    if (norm == 0) return std::sqrt(diff);
    return std::sqrt(diff) / std::sqrt(norm);
}

}  // namespace cnnc::reference::test
