// The operations of the DSL and their typed attributes: plain data, no Halide types.
#pragma once

#include <string_view>
#include <variant>

#include "dsl/shape.h"

namespace cnnc {

// The X-macro keeps the enum and its names in one list.
#define CNNC_OPS(X)                                                                        \
    X(input) X(conv2d) X(transposed_conv2d) X(max_pool) X(avg_pool) X(l2_pool)             \
    X(global_avg_pool) X(global_max_pool) X(relu) X(relu6) X(leaky_relu) X(elu) X(sigmoid) \
    X(tanh) X(softmax) X(log_softmax) X(dense) X(flatten) X(reshape) X(add) X(concat)      \
    X(zero_pad) X(batch_norm) X(dropout) X(softmax_cross_entropy) X(mse)

enum class Op {
#define CNNC_OP_ENUM(name) name,
    CNNC_OPS(CNNC_OP_ENUM)
#undef CNNC_OP_ENUM
};

constexpr std::string_view op_name(Op op) {
    switch (op) {
#define CNNC_OP_NAME(name) \
    case Op::name: return #name;
        CNNC_OPS(CNNC_OP_NAME)
#undef CNNC_OP_NAME
    }
    return "?";
}

constexpr bool is_loss(Op op) { return op == Op::softmax_cross_entropy || op == Op::mse; }

// Ops whose every output value is a few operations on one value of each input (element-wise
// maps, and the copies and offsets of concat and zero padding): cheap enough to recompute inside
// the loops of whatever reads them, so inference fuses them into their consumers.
constexpr bool is_pointwise(Op op) {
    switch (op) {
        case Op::relu:
        case Op::relu6:
        case Op::leaky_relu:
        case Op::elu:
        case Op::sigmoid:
        case Op::tanh:
        case Op::add:
        case Op::concat:
        case Op::zero_pad:
        case Op::dropout:
        case Op::batch_norm: return true;
        default: return false;
    }
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
    constexpr bool any() const { return top || bottom || left || right; }
};

// Window geometry shared by convolution and pooling.
struct Window {
    int kernel_h = 1, kernel_w = 1;
    int stride_h = 1, stride_w = 1;
    int dilation_h = 1, dilation_w = 1;
    Padding padding = Padding::valid;
    Pads pads{};  // input for Padding::explicit_sides, resolved for the other modes
};

// Convolution and transposed convolution (output_padding only for the latter).
struct Conv2dAttrs {
    int filters = 0;
    Window window{};
    int groups = 1;
    bool bias = true;
    int output_padding_h = 0, output_padding_w = 0;
};

struct PoolAttrs {
    Window window{};
    bool count_include_pad = true;  // average pooling: divide by the full window or real pixels
};

struct DenseAttrs {
    int units = 0;
    int inputs = 0;  // expected input features; 0 accepts whatever the input provides
    bool bias = true;
};

// leaky_relu's negative slope, elu's alpha.
struct ActivationAttrs {
    float alpha = 0.01f;
};

struct ReshapeAttrs {
    Shape shape{};
};

struct PadAttrs {
    Pads pads{};
};

struct BatchNormAttrs {
    float epsilon = 1e-5f;
    float momentum = 0.1f;  // weight of the batch in the running averages, as in PyTorch
};

struct DropoutAttrs {
    float rate = 0.5f;
};

struct LossAttrs {
    float label_smoothing = 0.0f;
};

using Attrs = std::variant<std::monostate, Conv2dAttrs, PoolAttrs, DenseAttrs, ActivationAttrs,
                           ReshapeAttrs, PadAttrs, BatchNormAttrs, DropoutAttrs, LossAttrs>;

}  // namespace cnnc
