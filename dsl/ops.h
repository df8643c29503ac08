// The operations of the DSL and their typed attributes: plain data, no Halide types.
#pragma once

#include <string_view>
#include <variant>

namespace cnnc {

enum class Op {
    input,
    conv2d,
    relu,
    max_pool,
    flatten,
    dense,
    softmax_cross_entropy,
};

constexpr std::string_view op_name(Op op) {
    switch (op) {
        case Op::input: return "input";
        case Op::conv2d: return "conv2d";
        case Op::relu: return "relu";
        case Op::max_pool: return "max_pool";
        case Op::flatten: return "flatten";
        case Op::dense: return "dense";
        case Op::softmax_cross_entropy: return "softmax_cross_entropy";
    }
    return "?";
}

// SAME keeps ceil(i / s) outputs, VALID uses no padding, FULL pads by the dilated kernel minus one,
// explicit takes the four sides as given.
enum class Padding { same, valid, full, explicit_sides };

constexpr std::string_view padding_name(Padding p) {
    switch (p) {
        case Padding::same: return "same";
        case Padding::valid: return "valid";
        case Padding::full: return "full";
        case Padding::explicit_sides: return "explicit";
    }
    return "?";
}

// Padding actually applied on each side, resolved by shape inference.
struct Pads {
    int top = 0, bottom = 0, left = 0, right = 0;
    friend constexpr bool operator==(const Pads&, const Pads&) = default;
};

// Window geometry shared by convolution and pooling.
struct Window {
    int kernel_h = 1, kernel_w = 1;
    int stride_h = 1, stride_w = 1;
    int dilation_h = 1, dilation_w = 1;
    Padding padding = Padding::valid;
    Pads pads{};  // input for Padding::explicit_sides, resolved for the other modes
};

struct Conv2dAttrs {
    int filters = 0;
    Window window{};
    int groups = 1;
    bool bias = true;
};

struct PoolAttrs {
    Window window{};
};

struct DenseAttrs {
    int units = 0;
    int inputs = 0;  // expected input features; 0 accepts whatever the input provides
    bool bias = true;
};

using Attrs = std::variant<std::monostate, Conv2dAttrs, PoolAttrs, DenseAttrs>;

}  // namespace cnnc
