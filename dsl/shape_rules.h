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

namespace detail {

constexpr void require_rank(const Shape& s, int rank, std::string_view layer, Op op) {
    if (s.rank != rank)
        shape_fail(layer, op,
                   std::string(rank == 3 ? "expects a CxHxW input" : "expects a flat input") +
                       ", got " + to_string(s));
}

constexpr Shape conv_shape(Conv2dAttrs& a, const Shape& in, std::string_view layer, Op op) {
    require(a.filters > 0, layer, op, "filters must be positive");
    require(a.groups > 0, layer, op, "groups must be positive");
    require_rank(in, 3, layer, op);
    if (in.channels() % a.groups != 0)
        shape_fail(layer, op,
                   "groups " + std::to_string(a.groups) + " do not divide the input channels of " +
                       to_string(in));
    if (a.filters % a.groups != 0)
        shape_fail(layer, op,
                   "groups " + std::to_string(a.groups) + " do not divide filters " +
                       std::to_string(a.filters));
    return window_shape(a.filters, in, a.window, layer, op);
}

// Output size (i - 1) s - pads + d (k - 1) + output_padding + 1; SAME gives i * s.
constexpr int64_t transposed_axis(int64_t in, int kernel, int stride, int dilation, int out_pad,
                                  Padding mode, int& before, int& after) {
    int span = dilation * (kernel - 1) + 1;
    if (mode == Padding::valid) before = after = 0;
    if (mode == Padding::same) {
        int total = span - stride > 0 ? span - stride : 0;
        before = total / 2;
        after = total - total / 2;
    }
    return (in - 1) * stride - before - after + span + out_pad;
}

constexpr Shape transposed_conv_shape(Conv2dAttrs& a, const Shape& in, std::string_view layer,
                                      Op op) {
    require(a.filters > 0, layer, op, "filters must be positive");
    require(a.groups > 0, layer, op, "groups must be positive");
    require_rank(in, 3, layer, op);
    Window& w = a.window;
    check_window(w, layer, op);
    require(w.padding != Padding::full, layer, op,
            "FULL padding is not defined for transposed convolution");
    if (in.channels() % a.groups != 0 || a.filters % a.groups != 0)
        shape_fail(layer, op,
                   "groups " + std::to_string(a.groups) + " must divide the input channels of " +
                       to_string(in) + " and filters " + std::to_string(a.filters));
    if (a.output_padding_h < 0 || a.output_padding_w < 0 ||
        (a.output_padding_h >= w.stride_h && a.output_padding_h >= w.dilation_h) ||
        (a.output_padding_w >= w.stride_w && a.output_padding_w >= w.dilation_w))
        shape_fail(layer, op, "output padding must be smaller than the stride or the dilation");
    int64_t oh = transposed_axis(in.height(), w.kernel_h, w.stride_h, w.dilation_h,
                                 a.output_padding_h, w.padding, w.pads.top, w.pads.bottom);
    int64_t ow = transposed_axis(in.width(), w.kernel_w, w.stride_w, w.dilation_w,
                                 a.output_padding_w, w.padding, w.pads.left, w.pads.right);
    if (oh <= 0 || ow <= 0)
        shape_fail(layer, op, "padding leaves no output for input " + to_string(in));
    return Shape{a.filters, oh, ow};
}

constexpr Shape same_shapes(const std::vector<Shape>& in, std::string_view layer, Op op) {
    require(in.size() >= 2, layer, op, "needs at least two inputs");
    for (size_t i = 1; i < in.size(); ++i)
        if (!(in[i] == in[0]))
            shape_fail(layer, op,
                       "inputs must have equal shapes, got " + to_string(in[0]) + " and " +
                           to_string(in[i]));
    return in[0];
}

constexpr Shape concat_shape(const std::vector<Shape>& in, std::string_view layer, Op op) {
    require(in.size() >= 2, layer, op, "needs at least two inputs");
    Shape out = in[0];
    for (size_t i = 1; i < in.size(); ++i) {
        bool fits = in[i].rank == out.rank;
        for (int d = 1; fits && d < out.rank; ++d) fits = in[i][d] == out[d];
        if (!fits)
            shape_fail(layer, op,
                       "inputs must agree in every dimension but channels, got " +
                           to_string(in[0]) + " and " + to_string(in[i]));
        out.dims[0] += in[i][0];
    }
    return out;
}

}  // namespace detail

// Output shape of a node given its input shapes; resolves padding inside attrs.
constexpr Shape infer_shape(Op op, Attrs& attrs, const std::vector<Shape>& in,
                            std::string_view layer) {
    using detail::require;
    using detail::shape_fail;
    if (op != Op::input && in.empty()) shape_fail(layer, op, "has no input");
    switch (op) {
        case Op::input: return in.at(0);
        case Op::relu:
        case Op::relu6:
        case Op::sigmoid:
        case Op::tanh:
        case Op::softmax:
        case Op::log_softmax: return in[0];
        case Op::leaky_relu:
        case Op::elu:
            require(std::get<ActivationAttrs>(attrs).alpha >= 0, layer, op,
                    "alpha must not be negative");
            return in[0];
        case Op::flatten: return Shape{in[0].elements()};
        case Op::reshape: {
            const Shape& to = std::get<ReshapeAttrs>(attrs).shape;
            if (to.elements() != in[0].elements() || to.rank == 0)
                shape_fail(layer, op, "cannot reshape " + to_string(in[0]) + " to " + to_string(to));
            return to;
        }
        case Op::conv2d: return detail::conv_shape(std::get<Conv2dAttrs>(attrs), in[0], layer, op);
        case Op::transposed_conv2d:
            return detail::transposed_conv_shape(std::get<Conv2dAttrs>(attrs), in[0], layer, op);
        case Op::max_pool:
        case Op::avg_pool:
        case Op::l2_pool: {
            auto& a = std::get<PoolAttrs>(attrs);
            detail::require_rank(in[0], 3, layer, op);
            return detail::window_shape(in[0].channels(), in[0], a.window, layer, op);
        }
        case Op::global_avg_pool:
        case Op::global_max_pool:
            detail::require_rank(in[0], 3, layer, op);
            return Shape{in[0].channels(), 1, 1};
        case Op::dense: {
            auto& a = std::get<DenseAttrs>(attrs);
            require(a.units > 0, layer, op, "units must be positive");
            if (in[0].rank != 1)
                shape_fail(layer, op,
                           "expects a flat input, got " + to_string(in[0]) +
                               " (insert flatten before it)");
            if (a.inputs > 0 && a.inputs != in[0].elements())
                shape_fail(layer, op,
                           "expects " + to_string(Shape{a.inputs}) + " inputs, got " +
                               to_string(in[0]));
            return Shape{a.units};
        }
        case Op::add: return detail::same_shapes(in, layer, op);
        case Op::concat: return detail::concat_shape(in, layer, op);
        case Op::zero_pad: {
            const Pads& p = std::get<PadAttrs>(attrs).pads;
            detail::require_rank(in[0], 3, layer, op);
            require(p.top >= 0 && p.bottom >= 0 && p.left >= 0 && p.right >= 0, layer, op,
                    "padding must not be negative");
            return Shape{in[0].channels(), in[0].height() + p.top + p.bottom,
                         in[0].width() + p.left + p.right};
        }
        case Op::batch_norm: {
            const auto& a = std::get<BatchNormAttrs>(attrs);
            require(a.epsilon > 0, layer, op, "epsilon must be positive");
            require(a.momentum >= 0 && a.momentum <= 1, layer, op, "momentum must be in [0, 1]");
            require(in[0].rank == 3 || in[0].rank == 1, layer, op,
                    "expects a CxHxW or flat input");
            return in[0];
        }
        case Op::dropout: {
            float rate = std::get<DropoutAttrs>(attrs).rate;
            require(rate >= 0 && rate < 1, layer, op, "rate must be in [0, 1)");
            return in[0];
        }
        case Op::softmax_cross_entropy: {
            float ls = std::get<LossAttrs>(attrs).label_smoothing;
            require(ls >= 0 && ls < 1, layer, op, "label smoothing must be in [0, 1)");
            if (in[0].rank != 1 && in[0].rank != 3)
                shape_fail(layer, op,
                           "expects flat class scores or per-pixel scores CxHxW, got " +
                               to_string(in[0]));
            return Shape{1};
        }
        case Op::mse: return Shape{1};
    }
    shape_fail(layer, op, "unknown op");
}

// How a parameter starts: PyTorch's defaults (uniform in +-1/sqrt(fan_in) for convolution and
// dense layers, ones and zeros for batch normalisation).
enum class Init { fan_in_uniform, zeros, ones };

// A tensor of a layer. Extents are in storage order, innermost first, matching the Halide
// layout: conv weights (co, kx, ky, ci/groups), transposed conv weights (co/groups, kx, ky, ci),
// dense weights (out, in), per-channel vectors (c). Batch norm's running statistics are state,
// not learnable: the optimizer never touches them.
struct ParamShape {
    std::string_view role;  // "weight", "bias", "running_mean", "running_var"
    Shape extents;
    int64_t fan_in = 1;
    Init init = Init::fan_in_uniform;
    bool learnable = true;
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
    } else if (op == Op::transposed_conv2d) {
        const auto& a = std::get<Conv2dAttrs>(attrs);
        int64_t cout = a.filters / a.groups;
        int64_t fan_in = cout * a.window.kernel_h * a.window.kernel_w;  // as PyTorch computes it
        out.push_back({"weight", Shape{cout, a.window.kernel_w, a.window.kernel_h, in.channels()},
                       fan_in});
        if (a.bias) out.push_back({"bias", Shape{a.filters}, fan_in});
    } else if (op == Op::dense) {
        const auto& a = std::get<DenseAttrs>(attrs);
        out.push_back({"weight", Shape{a.units, in.elements()}, in.elements()});
        if (a.bias) out.push_back({"bias", Shape{a.units}, in.elements()});
    } else if (op == Op::batch_norm) {
        Shape c{in.channels()};
        out.push_back({"weight", c, 1, Init::ones});
        out.push_back({"bias", c, 1, Init::zeros});
        out.push_back({"running_mean", c, 1, Init::zeros, false});
        out.push_back({"running_var", c, 1, Init::ones, false});
    }
    return out;
}

}  // namespace cnnc
