// Lowering of pooling: max, average, L2 over windows, and global average and max.
#include "compiler/lower/lower.h"
#include "compiler/lower/padding.h"

namespace cnnc::lower {

using namespace Halide;

namespace {

// The window's taps for output (c, x, y, n), read from `src` (already padded where needed).
// Windows are unrolled into pure expressions rather than reduction updates: Halide's autodiff
// cannot differentiate an update that reads the value it overwrites (max), and small fixed windows
// gain nothing from a loop.
std::vector<Expr> window_taps(const Func& src, const Window& w, Expr c, Expr x, Expr y, Expr n) {
    std::vector<Expr> taps;
    for (int ky = 0; ky < w.kernel_h; ++ky)
        for (int kx = 0; kx < w.kernel_w; ++kx)
            taps.push_back(src(c, x * w.stride_w - w.pads.left + kx * w.dilation_w,
                               y * w.stride_h - w.pads.top + ky * w.dilation_h, n));
    return taps;
}

Func padded_input(const OpInputs& op, const Window& w, Expr fill) {
    return w.pads.any() ? pad_spatial(op.in(), op.shape(), fill, op.node.name + "_padded")
                        : op.in();
}

Expr sum_of(const std::vector<Expr>& values) {
    Expr total = values.at(0);
    for (size_t i = 1; i < values.size(); ++i) total += values[i];
    return total;
}

// Real (unpadded) pixels covered by a window starting at `start` along an axis of `extent`.
Expr covered(Expr start, int span, int dilation, int extent) {
    // Dilated windows cover every dilation-th pixel; count those inside [0, extent).
    Expr first = max(0, start), last = min(extent - 1, start + (span - 1) * dilation);
    Expr first_tap = (first - start + dilation - 1) / dilation;
    Expr last_tap = (last - start) / dilation;
    return max(last_tap - first_tap + 1, 0);
}

}  // namespace

Expr max_of(std::vector<Expr> values) {
    while (values.size() > 1) {
        std::vector<Expr> next;
        for (size_t i = 0; i + 1 < values.size(); i += 2) next.push_back(max(values[i], values[i + 1]));
        if (values.size() % 2) next.push_back(values.back());
        values = std::move(next);
    }
    return values.at(0);
}

Func max_pool(const OpInputs& op) {
    const Window& w = std::get<PoolAttrs>(op.node.attrs).window;
    // The lowest finite float, not -inf: padding never wins and gradients stay finite.
    Func src = padded_input(op, w, Float(32).min());
    Var c("c"), x("x"), y("y"), n("n");
    Func out(func_name(op.node));
    out(c, x, y, n) = max_of(window_taps(src, w, c, x, y, n));
    return out;
}

Func avg_pool(const OpInputs& op) {
    const auto& a = std::get<PoolAttrs>(op.node.attrs);
    const Window& w = a.window;
    Func src = padded_input(op, w, 0.0f);
    Var c("c"), x("x"), y("y"), n("n");
    Expr total = sum_of(window_taps(src, w, c, x, y, n));
    Expr count = float(w.kernel_h * w.kernel_w);
    if (!a.count_include_pad && w.pads.any())
        count = cast<float>(
            covered(y * w.stride_h - w.pads.top, w.kernel_h, w.dilation_h, int(op.shape().height())) *
            covered(x * w.stride_w - w.pads.left, w.kernel_w, w.dilation_w, int(op.shape().width())));
    Func out(func_name(op.node));
    out(c, x, y, n) = total / count;
    return out;
}

Func l2_pool(const OpInputs& op) {
    const Window& w = std::get<PoolAttrs>(op.node.attrs).window;
    Func src = padded_input(op, w, 0.0f);
    Var c("c"), x("x"), y("y"), n("n");
    std::vector<Expr> squares;
    for (const Expr& t : window_taps(src, w, c, x, y, n)) squares.push_back(t * t);
    Func out(func_name(op.node));
    // The tiny offset keeps the gradient finite for an all-zero window (e.g. after ReLU).
    out(c, x, y, n) = sqrt(sum_of(squares) + 1e-12f);
    return out;
}

Func global_avg_pool(const OpInputs& op) {
    const Shape& s = op.shape();
    Var c("c"), x("x"), y("y"), n("n");
    RDom r(0, int(s.width()), 0, int(s.height()), op.node.name + "_r");
    Func out(func_name(op.node));
    out(c, x, y, n) = sum(op.in()(c, r.x, r.y, n)) / float(s.width() * s.height());
    return out;
}

Func global_max_pool(const OpInputs& op) {
    const Shape& s = op.shape();
    Var c("c"), x("x"), y("y"), n("n");
    std::vector<Expr> pixels;
    for (int py = 0; py < int(s.height()); ++py)
        for (int px = 0; px < int(s.width()); ++px) pixels.push_back(op.in()(c, px, py, n));
    Func out(func_name(op.node));
    out(c, x, y, n) = max_of(pixels);
    return out;
}

}  // namespace cnnc::lower
