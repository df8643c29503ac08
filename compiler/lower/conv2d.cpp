// Lowering of 2-D convolution and transposed convolution (stride, dilation, padding, groups, bias).
#include "compiler/lower/lower.h"
#include "compiler/lower/padding.h"

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
    // With a folded batch norm the sums are a Func of their own, scaled and biased per channel
    // by the output (schedules compute them per tile of it: cpu::accumulation).
    Func out(op.output_scale ? name + "_sums" : func_name(op.node));
    if (op.output_scale)
        out(co, x, y, n) = 0.0f;
    else
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
    if (!op.output_scale) return out;
    Func scaled(func_name(op.node));
    scaled(co, x, y, n) = out(co, x, y, n) * (*op.output_scale)(co) + (*op.bias())(co);
    return scaled;
}

// Transposed convolution in two steps. First what every input pixel gives each kernel tap,
// <name>_taps(c, kx, ky, x, y, n) = sum over the group's input channels of weight x input: a 1x1
// convolution with Cout x KW x KH outputs, a dense reduction that tiles like one. Then the output
// starts as the bias and one update adds every tap where it lands (a scatter). One update rather
// than one per tap: autodiff turns a chain of updates into a chain of pure adjoint Funcs, which,
// left inline (unscheduled, as in the tests), took minutes to compile for a 3x3 kernel. Indices
// are affine in the pure and reduction variables (clamped only where padding crops the output),
// so the gradients are plain gathers and scatters.
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
    RDom r(0, w.kernel_w, 0, w.kernel_h, 0, int(in.width()), 0, int(in.height()), name + "_t");
    Expr ox = r[2] * w.stride_w - w.pads.left + r[0] * w.dilation_w;
    Expr oy = r[3] * w.stride_h - w.pads.top + r[1] * w.dilation_h;
    const int out_w = int(op.node.shape.width()), out_h = int(op.node.shape.height());
    Expr value = taps(c, r[0], r[1], r[2], r[3], n);
    // Padding crops the full output. A tap landing outside adds zero at the nearest edge: the
    // clamp keeps the update's footprint (what bounds inference allocates and checks) inside
    // the output, where RDom::where would not, and the select keeps its gradient zero.
    if (w.pads.left > 0 || w.pads.right > a.output_padding_w) {
        value = select(ox >= 0 && ox < out_w, value, 0.0f);
        ox = clamp(ox, 0, out_w - 1);
    }
    if (w.pads.top > 0 || w.pads.bottom > a.output_padding_h) {
        value = select(oy >= 0 && oy < out_h, value, 0.0f);
        oy = clamp(oy, 0, out_h - 1);
    }
    out(c, ox, oy, n) += value;
    return out;
}

}  // namespace cnnc::lower
