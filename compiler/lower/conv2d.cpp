// Lowering of 2-D convolution (stride, dilation, padding, groups, optional bias).
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

// Transposed convolution as a scatter: every input pixel adds a weighted kernel patch into the
// output. The output index is affine in the reduction, so its gradient is a plain gather.
Func transposed_conv2d(const OpInputs& op) {
    const auto& a = std::get<Conv2dAttrs>(op.node.attrs);
    const Window& w = a.window;
    const std::string& name = op.node.name;
    const Shape& in = op.shape();
    const int cin_g = int(in.channels()) / a.groups, cout_g = a.filters / a.groups;
    const Func& weight = op.params.at(0);

    Var co("c"), x("x"), y("y"), n("n");
    Func scattered(name + "_scatter");
    scattered(co, x, y, n) = 0.0f;
    for (int g = 0; g < a.groups; ++g) {
        RDom r(0, cin_g, 0, w.kernel_w, 0, w.kernel_h, 0, int(in.width()), 0, int(in.height()),
               name + "_r" + std::to_string(g));
        Expr ox = r[3] * w.stride_w - w.pads.left + r[1] * w.dilation_w;
        Expr oy = r[4] * w.stride_h - w.pads.top + r[2] * w.dilation_h;
        // Output channel co of group g uses weight column co - g * cout_g.
        Expr local = co - g * cout_g;
        Expr in_group = co >= g * cout_g && co < (g + 1) * cout_g;
        Expr pixel = op.in()(g * cin_g + r[0], r[3], r[4], n);
        if (a.groups == 1)
            scattered(co, ox, oy, n) += weight(co, r[1], r[2], r[0]) * pixel;
        else
            scattered(co, ox, oy, n) += select(
                in_group, weight(clamp(local, 0, cout_g - 1), r[1], r[2], g * cin_g + r[0]) * pixel,
                0.0f);
    }
    Func out(func_name(op.node));
    out(co, x, y, n) = scattered(co, x, y, n) + (op.bias() ? Expr((*op.bias())(co)) : Expr(0.0f));
    return out;
}

}  // namespace cnnc::lower
