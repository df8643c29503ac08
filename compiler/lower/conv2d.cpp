// Lowering of 2-D convolution and transposed convolution (stride, dilation, padding, groups, bias).
#include "compiler/lower/lower.h"
#include "compiler/lower/padding.h"

#include <algorithm>
#include <utility>

namespace cnnc::lower {

using namespace Halide;

namespace {

// One group's convolution: output channels [0, cout_g) reading input channels starting at
// `in_offset` and weights starting at output channel `w_offset`. Every index stays affine in the
// pure and reduction variables, which keeps the generated gradients exact.
Expr group_sum(const Func& src, const Func& weight, const Window& w, int cin_g, Expr co,
               int in_offset, Expr x, Expr y, Expr n, const std::string& name) {
    RDom r(0, cin_g, 0, w.kernel_w, 0, w.kernel_h, name);
    Expr ix = x * w.stride_w - w.pads.left + r.y * w.dilation_w;
    Expr iy = y * w.stride_h - w.pads.top + r.z * w.dilation_h;
    return sum(weight(co, r.y, r.z, r.x) * src(in_offset + r.x, ix, iy, n));
}

}  // namespace

Func conv2d(const OpInputs& op) {
    const auto& a = std::get<Conv2dAttrs>(op.node.attrs);
    const Window& w = a.window;
    const std::string& name = op.node.name;
    const int cin_g = int(op.shape().channels()) / a.groups, cout_g = a.filters / a.groups;
    Func src = w.pads.any() ? pad_spatial(op.in(), op.shape(), 0.0f, name + "_padded") : op.in();
    const Func& weight = op.params.at(0);

    Var co("c"), x("x"), y("y"), n("n");
    Func out(func_name(op.node));
    out(co, x, y, n) = op.bias() ? Expr((*op.bias())(co)) : Expr(0.0f);
    if (a.groups == 1) {
        RDom r(0, cin_g, 0, w.kernel_w, 0, w.kernel_h, name + "_r");
        Expr ix = x * w.stride_w - w.pads.left + r.y * w.dilation_w;
        Expr iy = y * w.stride_h - w.pads.top + r.z * w.dilation_h;
        out(co, x, y, n) += weight(co, r.y, r.z, r.x) * src(r.x, ix, iy, n);
    } else if (cin_g == 1 && cout_g == 1) {
        // Depthwise: output channel c reads input channel c.
        RDom r(0, w.kernel_w, 0, w.kernel_h, name + "_r");
        Expr ix = x * w.stride_w - w.pads.left + r.x * w.dilation_w;
        Expr iy = y * w.stride_h - w.pads.top + r.y * w.dilation_h;
        out(co, x, y, n) += weight(co, r.x, r.y, 0) * src(co, ix, iy, n);
    } else {
        // General groups: one affine sum per group, selected by the output channel's group.
        Expr value = 0.0f;
        for (int g = a.groups - 1; g >= 0; --g) {
            Expr s = group_sum(src, weight, w, cin_g, co, g * cin_g, x, y, n,
                               name + "_g" + std::to_string(g));
            value = g == a.groups - 1 ? s : select(co < (g + 1) * cout_g, s, value);
        }
        out(co, x, y, n) += value;
    }
    return out;
}

namespace {

// The input pixels [first, last] whose tap at `offset` (kernel index x dilation - pad before)
// lands inside an output axis of `out` pixels: 0 <= i * stride + offset < out.
std::pair<int, int> landing_range(int in, int out, int stride, int offset) {
    auto floor_div = [](int a, int b) { return a >= 0 ? a / b : -((-a + b - 1) / b); };
    int first = std::max(0, -floor_div(offset, stride));  // ceil(-offset / stride)
    int last = std::min(in - 1, floor_div(out - 1 - offset, stride));
    return {first, last};
}

}  // namespace

// Transposed convolution in two steps. First what every input pixel gives each kernel tap,
// <name>_taps(c, kx, ky, x, y, n) = sum over the group's input channels of weight x input: a 1x1
// convolution with Cout x KW x KH outputs, a dense reduction that tiles like one. Then the output
// starts as the bias and one update per tap adds that tap's plane where it lands (a scatter).
// Each update's input range is cut at compile time to the pixels that land inside the output, so
// padding and output padding need no cropped copy and every store is in bounds. All indices stay
// affine in the pure and reduction variables: the gradients are exact gathers and scatters.
Func transposed_conv2d(const OpInputs& op) {
    const auto& a = std::get<Conv2dAttrs>(op.node.attrs);
    const Window& w = a.window;
    const std::string& name = op.node.name;
    const Shape& in = op.shape();
    const int cin_g = int(in.channels()) / a.groups, cout_g = a.filters / a.groups;
    const Func& weight = op.params.at(0);

    Var c("c"), kx("kx"), ky("ky"), x("x"), y("y"), n("n");
    Func taps(name + "_taps");
    taps(c, kx, ky, x, y, n) = 0.0f;
    for (int g = 0; g < a.groups; ++g) {
        RDom r(0, cin_g, name + "_r" + std::to_string(g));
        Expr pixel = op.in()(g * cin_g + r, x, y, n);
        if (a.groups == 1) {
            taps(c, kx, ky, x, y, n) += weight(c, kx, ky, r) * pixel;
        } else {
            // Output channel c of group g uses weight column c - g * cout_g.
            Expr in_group = c >= g * cout_g && c < (g + 1) * cout_g;
            Expr local = clamp(c - g * cout_g, 0, cout_g - 1);
            taps(c, kx, ky, x, y, n) +=
                select(in_group, weight(local, kx, ky, g * cin_g + r) * pixel, 0.0f);
        }
    }

    Func out(func_name(op.node));
    out(c, x, y, n) = op.bias() ? Expr((*op.bias())(c)) : Expr(0.0f);
    const int out_w = int(op.node.shape.width()), out_h = int(op.node.shape.height());
    for (int ty = 0; ty < w.kernel_h; ++ty) {
        for (int tx = 0; tx < w.kernel_w; ++tx) {
            int off_x = tx * w.dilation_w - w.pads.left, off_y = ty * w.dilation_h - w.pads.top;
            auto [x0, x1] = landing_range(int(in.width()), out_w, w.stride_w, off_x);
            auto [y0, y1] = landing_range(int(in.height()), out_h, w.stride_h, off_y);
            if (x1 < x0 || y1 < y0) continue;  // this tap falls wholly in the padding
            RDom r(x0, x1 - x0 + 1, y0, y1 - y0 + 1,
                   name + "_t" + std::to_string(tx) + "_" + std::to_string(ty));
            out(c, r.x * w.stride_w + off_x, r.y * w.stride_h + off_y, n) +=
                taps(c, tx, ty, r.x, r.y, n);
        }
    }
    return out;
}

}  // namespace cnnc::lower
