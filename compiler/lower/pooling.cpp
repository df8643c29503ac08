// Lowering of max pooling.
#include "compiler/lower/lower.h"
#include "compiler/lower/padding.h"

namespace cnnc::lower {

using namespace Halide;

Func max_pool(const ir::Node& node, const Shape& in_shape, const Func& in) {
    const Window& w = std::get<PoolAttrs>(node.attrs).window;
    bool padded = w.pads.top || w.pads.bottom || w.pads.left || w.pads.right;
    // The lowest finite float, not -inf: padding never wins and gradients stay finite.
    Func src = padded ? pad_spatial(in, in_shape, Float(32).min(), node.name + "_padded") : in;

    Var c("c"), x("x"), y("y"), n("n");
    // The window is unrolled into one pure max() expression rather than a max-reduction update:
    // Halide's autodiff cannot differentiate an update that reads the value it overwrites.
    Expr best;
    for (int ky = 0; ky < w.kernel_h; ++ky)
        for (int kx = 0; kx < w.kernel_w; ++kx) {
            Expr v = src(c, x * w.stride_w - w.pads.left + kx * w.dilation_w,
                         y * w.stride_h - w.pads.top + ky * w.dilation_h, n);
            best = best.defined() ? max(best, v) : v;
        }
    Func out(node.name);
    out(c, x, y, n) = best;
    return out;
}

}  // namespace cnnc::lower
