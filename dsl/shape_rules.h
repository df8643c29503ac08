// Shape rules of every op: output shapes, resolved padding and parameter shapes, in one place.
#pragma once

#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include "dsl/ops.h"
#include "dsl/shape.h"

namespace cnnc {

// A model that cannot be built: the message names the layer and the shapes involved.
class ShapeError : public std::runtime_error {
public:
    using std::runtime_error::runtime_error;
};

namespace detail {

[[noreturn]] inline void shape_fail(std::string_view layer, Op op, const std::string& what) {
    throw ShapeError("layer '" + std::string(layer) + "' (" + std::string(op_name(op)) +
                     "): " + what);
}

constexpr void require(bool ok, std::string_view layer, Op op, const char* what) {
    if (!ok) shape_fail(layer, op, what);
}

constexpr int64_t ceil_div(int64_t a, int64_t b) { return (a + b - 1) / b; }

// The classic formula o = floor((i + p - d(k-1) - 1) / s) + 1.
constexpr int64_t window_output(int64_t in, int pad_total, int kernel, int stride, int dilation) {
    int64_t span = int64_t(dilation) * (kernel - 1) + 1;
    int64_t padded = in + pad_total;
    if (padded < span) return 0;
    return (padded - span) / stride + 1;
}

// Resolve one axis of padding; SAME splits odd totals with the extra row at the end.
constexpr void resolve_axis(Padding mode, int64_t in, int kernel, int stride, int dilation,
                            int& before, int& after) {
    int span = dilation * (kernel - 1) + 1;
    switch (mode) {
        case Padding::valid: before = after = 0; break;
        case Padding::full: before = after = span - 1; break;
        case Padding::same: {
            int64_t out = ceil_div(in, stride);
            int64_t total = (out - 1) * stride + span - in;
            if (total < 0) total = 0;
            before = int(total / 2);
            after = int(total - total / 2);
            break;
        }
        case Padding::explicit_sides: break;
    }
}

constexpr void check_window(const Window& w, std::string_view layer, Op op) {
    require(w.kernel_h > 0 && w.kernel_w > 0, layer, op, "kernel size must be positive");
    require(w.stride_h > 0 && w.stride_w > 0, layer, op, "stride must be positive");
    require(w.dilation_h > 0 && w.dilation_w > 0, layer, op, "dilation must be positive");
    require(w.pads.top >= 0 && w.pads.bottom >= 0 && w.pads.left >= 0 && w.pads.right >= 0,
            layer, op, "padding must not be negative");
}

inline std::string window_text(const Window& w) {
    return std::to_string(w.kernel_h) + "x" + std::to_string(w.kernel_w) + " stride " +
           std::to_string(w.stride_h) + "x" + std::to_string(w.stride_w) + " dilation " +
           std::to_string(w.dilation_h) + "x" + std::to_string(w.dilation_w) + " padding " +
           std::string(padding_name(w.padding));
}

// Resolves w.pads in place and returns the spatial output shape {C unchanged by caller}.
constexpr Shape window_shape(int64_t channels_out, const Shape& in, Window& w,
                             std::string_view layer, Op op) {
    if (in.rank != 3)
        shape_fail(layer, op, "expects a CxHxW input, got " + to_string(in));
    check_window(w, layer, op);
    resolve_axis(w.padding, in.height(), w.kernel_h, w.stride_h, w.dilation_h, w.pads.top,
                 w.pads.bottom);
    resolve_axis(w.padding, in.width(), w.kernel_w, w.stride_w, w.dilation_w, w.pads.left,
                 w.pads.right);
    int64_t oh = window_output(in.height(), w.pads.top + w.pads.bottom, w.kernel_h, w.stride_h,
                               w.dilation_h);
    int64_t ow = window_output(in.width(), w.pads.left + w.pads.right, w.kernel_w, w.stride_w,
                               w.dilation_w);
    if (oh <= 0 || ow <= 0)
        shape_fail(layer, op,
                   "window " + window_text(w) + " is larger than the padded input " +
                       to_string(in) + " (output would be " + std::to_string(oh) + "x" +
                       std::to_string(ow) + ")");
    return Shape{channels_out, oh, ow};
}

}  // namespace detail

// Output shape of a node given its input shapes; resolves padding inside attrs.
constexpr Shape infer_shape(Op op, Attrs& attrs, const std::vector<Shape>& in,
                            std::string_view layer) {
    using detail::require;
    using detail::shape_fail;
    switch (op) {
        case Op::input: return in.at(0);
        case Op::relu: return in.at(0);
        case Op::flatten: return Shape{in.at(0).elements()};
        case Op::conv2d: {
            auto& a = std::get<Conv2dAttrs>(attrs);
            require(a.filters > 0, layer, op, "filters must be positive");
            require(a.groups > 0, layer, op, "groups must be positive");
            if (in.at(0).rank == 3 && in[0].channels() % a.groups != 0)
                shape_fail(layer, op,
                           "groups " + std::to_string(a.groups) +
                               " do not divide the input channels of " + to_string(in[0]));
            if (a.filters % a.groups != 0)
                shape_fail(layer, op,
                           "groups " + std::to_string(a.groups) + " do not divide filters " +
                               std::to_string(a.filters));
            return detail::window_shape(a.filters, in[0], a.window, layer, op);
        }
        case Op::max_pool: {
            auto& a = std::get<PoolAttrs>(attrs);
            return detail::window_shape(in.at(0).channels(), in[0], a.window, layer, op);
        }
        case Op::dense: {
            auto& a = std::get<DenseAttrs>(attrs);
            require(a.units > 0, layer, op, "units must be positive");
            if (in.at(0).rank != 1)
                shape_fail(layer, op,
                           "expects a flat input, got " + to_string(in[0]) +
                               " (insert flatten before it)");
            if (a.inputs > 0 && a.inputs != in[0].elements())
                shape_fail(layer, op,
                           "expects " + to_string(Shape{a.inputs}) + " inputs, got " +
                               to_string(in[0]));
            return Shape{a.units};
        }
        case Op::softmax_cross_entropy: {
            if (in.at(0).rank != 1)
                shape_fail(layer, op, "expects flat class scores, got " + to_string(in[0]));
            return Shape{1};
        }
    }
    shape_fail(layer, op, "unknown op");
}

// A learnable tensor of a layer. Extents are in storage order, innermost first, matching the
// Halide layout: conv weights (co, kx, ky, ci/groups), dense weights (out, in), biases (c).
struct ParamShape {
    std::string_view role;  // "weight" or "bias"
    Shape extents;
    int64_t fan_in = 1;  // inputs feeding one output: sets the initialisation scale
};

constexpr std::vector<ParamShape> param_shapes(Op op, const Attrs& attrs, const Shape& in) {
    std::vector<ParamShape> out;
    if (op == Op::conv2d) {
        const auto& a = std::get<Conv2dAttrs>(attrs);
        int64_t cin = in.channels() / a.groups;
        int64_t fan_in = cin * a.window.kernel_h * a.window.kernel_w;
        out.push_back({"weight", Shape{a.filters, a.window.kernel_w, a.window.kernel_h, cin},
                       fan_in});
        if (a.bias) out.push_back({"bias", Shape{a.filters}, fan_in});
    } else if (op == Op::dense) {
        const auto& a = std::get<DenseAttrs>(attrs);
        out.push_back({"weight", Shape{a.units, in.elements()}, in.elements()});
        if (a.bias) out.push_back({"bias", Shape{a.units}, in.elements()});
    }
    return out;
}

}  // namespace cnnc
