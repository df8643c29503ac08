// Shape: the per-sample extents of a tensor (batch excluded), in logical C, H, W order.
#pragma once

#include <array>
#include <cstdint>
#include <initializer_list>
#include <stdexcept>
#include <string>

namespace cnnc {

// A fixed-capacity shape keeps the DSL usable in constant expressions (no allocation needed).
struct Shape {
    static constexpr int max_rank = 4;
    int rank = 0;
    std::array<int64_t, max_rank> dims{};

    constexpr Shape() = default;
    constexpr Shape(std::initializer_list<int64_t> extents) {
        for (int64_t e : extents) {
            if (rank == max_rank) throw std::length_error("Shape: more than 4 dimensions");
            dims[rank++] = e;
        }
    }

    constexpr int64_t operator[](int i) const { return dims[i]; }
    constexpr int64_t elements() const {
        int64_t n = 1;
        for (int i = 0; i < rank; ++i) n *= dims[i];
        return n;
    }
    // Image-like shapes are C x H x W.
    constexpr int64_t channels() const { return dims[0]; }
    constexpr int64_t height() const { return dims[1]; }
    constexpr int64_t width() const { return dims[2]; }

    friend constexpr bool operator==(const Shape& a, const Shape& b) {
        if (a.rank != b.rank) return false;
        for (int i = 0; i < a.rank; ++i)
            if (a.dims[i] != b.dims[i]) return false;
        return true;
    }
};

// "[6x28x28]": the form every diagnostic and dump uses.
inline std::string to_string(const Shape& s) {
    std::string out = "[";
    for (int i = 0; i < s.rank; ++i) {
        if (i) out += "x";
        out += std::to_string(s.dims[i]);
    }
    return out + "]";
}

}  // namespace cnnc
