// Name: a fixed-capacity layer name, so that models can be built in constant expressions.
#pragma once

#include <array>
#include <cstdint>
#include <stdexcept>
#include <string>
#include <string_view>

namespace cnnc {

// GCC 12 cannot copy a short std::string during constant evaluation (its small-string buffer), so
// names that live in nodes use this plain array instead.
class Name {
public:
    static constexpr int capacity = 63;

    constexpr Name() = default;
    constexpr Name(std::string_view s) { append(s); }

    constexpr Name& append(std::string_view s) {
        if (size_ + int(s.size()) > capacity)
            throw std::length_error("layer name longer than 63 characters: " + std::string(s));
        for (char c : s) chars_[size_++] = c;
        return *this;
    }
    constexpr Name& append(int64_t v) {
        char digits[24] = {};
        int n = 0;
        uint64_t u = v < 0 ? uint64_t(0) - uint64_t(v) : uint64_t(v);
        do {
            digits[n++] = char('0' + u % 10);
            u /= 10;
        } while (u);
        if (v < 0) append("-");
        while (n) {
            char c[1] = {digits[--n]};
            append(std::string_view(c, 1));
        }
        return *this;
    }

    constexpr std::string_view view() const { return {chars_.data(), size_t(size_)}; }
    std::string str() const { return std::string(view()); }
    constexpr bool empty() const { return size_ == 0; }
    friend constexpr bool operator==(const Name& a, const Name& b) { return a.view() == b.view(); }

private:
    std::array<char, capacity + 1> chars_{};
    int size_ = 0;
};

}  // namespace cnnc
