// Lowering of 2-D convolution (stride, dilation, padding, groups, optional bias).
#include "compiler/lower/lower.h"
#include "compiler/lower/padding.h"

namespace cnnc::lower {

using namespace Halide;

Func conv2d(const ir::Node& node, const Shape& in_shape, const Func& in, const Func& weight,
            const std::optional<Func>& bias) {
    const auto& a = std::get<Conv2dAttrs>(node.attrs);
    const Window& w = a.window;
    const int cin_per_group = int(in_shape.channels()) / a.groups;
    const int cout_per_group = a.filters / a.groups;

    bool padded = w.pads.top || w.pads.bottom || w.pads.left || w.pads.right;
    Func src = padded ? pad_spatial(in, in_shape, 0.0f, node.name + "_padded") : in;

    Var co("c"), x("x"), y("y"), n("n");
    RDom r(0, cin_per_group, 0, w.kernel_w, 0, w.kernel_h, node.name + "_r");
    Expr ci = (co / cout_per_group) * cin_per_group + r.x;
    Expr ix = x * w.stride_w - w.pads.left + r.y * w.dilation_w;
    Expr iy = y * w.stride_h - w.pads.top + r.z * w.dilation_h;

    Func out(node.name);
    out(co, x, y, n) = bias ? Expr((*bias)(co)) : Expr(0.0f);
    out(co, x, y, n) += weight(co, r.y, r.z, r.x) * src(ci, ix, iy, n);
    return out;
}

}  // namespace cnnc::lower
