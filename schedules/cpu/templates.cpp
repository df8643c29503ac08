// CPU schedule templates for convolution, transposed convolution, pooling and dense layers.
#include "schedules/cpu/templates.h"

#include <stdexcept>

namespace cnnc::schedules::cpu {

using namespace Halide;

int float_lanes(const Target& target) { return target.natural_vector_size<float>(); }

namespace {

// The vectorized dimension: channels when they fill a vector, else the row of pixels.
struct VectorChoice {
    bool over_channels;
    int lanes;
};

VectorChoice choose_vector(int64_t channels, int64_t width, const Target& target) {
    int lanes = float_lanes(target);
    if (channels >= lanes) return {true, lanes};
    if (channels >= 8 && lanes > 8) return {true, 8};
    return {false, int(std::min<int64_t>(lanes, std::max<int64_t>(width, 1)))};
}

// Every stage of a window op follows one loop order: vector lanes innermost, then the pixel
// tile, then the reduction (update only), then the remaining pixels, rows and images.
void tile_window_stage(Stage s, Func f, const VectorChoice& v, int pixel_tile,
                       const std::vector<RVar>& reduction) {
    std::vector<Var> a = f.args();  // c, x, y, n
    Var c = a[0], x = a[1], y = a[2], n = a[3];
    Var ci("ci"), co("co"), xi("xi"), xo("xo"), yn("yn");
    std::vector<VarOrRVar> order;
    if (v.over_channels) {
        s.split(c, co, ci, v.lanes, TailStrategy::GuardWithIf).vectorize(ci);
        if (pixel_tile > 1) {
            s.split(x, xo, xi, pixel_tile, TailStrategy::GuardWithIf).unroll(xi);
            order = {ci, xi};
        } else {
            order = {ci};
        }
        for (const RVar& r : reduction) order.push_back(r);
        order.insert(order.end(), {co, pixel_tile > 1 ? xo : x, y, n});
    } else {
        s.split(x, xo, xi, v.lanes, TailStrategy::GuardWithIf).vectorize(xi);
        order = {xi};
        for (const RVar& r : reduction) order.push_back(r);
        order.insert(order.end(), {c, xo, y, n});
    }
    s.reorder(order);
    s.fuse(y, n, yn).parallel(yn);
}

}  // namespace

void schedule_conv2d(Func conv, const ir::Node& node, const Target& target) {
    VectorChoice v = choose_vector(node.shape.channels(), node.shape.width(), target);
    // Pixel tile 4: with 4 vectors of output channels it keeps the accumulators in registers and
    // reuses each weight vector four times.
    conv.compute_root();
    tile_window_stage(conv, conv, v, 4, {});
    tile_window_stage(conv.update(), conv, v, 4, conv.rvars(0));
}

void schedule_transposed_conv2d(Func conv, const ir::Node& node, const Target& target) {
    const auto& a = std::get<Conv2dAttrs>(node.attrs);
    const int kw = a.window.kernel_w, kh = a.window.kernel_h;
    const int64_t channels = node.shape.channels();
    const int full = float_lanes(target);
    const int lanes = channels >= full ? full : channels >= 8 ? 8 : 4;
    // Scatter updates may only run in parallel over pure dimensions: different input pixels of
    // one update can land on the same output pixel (kernel wider than the stride). Channel blocks
    // are such a dimension; with fewer than 4 (2 per core here) rows share the work instead,
    // where that is legal, and the scatters run in parallel over images only.
    const bool over_blocks = (channels + lanes - 1) / lanes >= 4;

    // Halide renames a Func whose name is taken in the process (JIT tests): "<name>_taps$1".
    const std::string taps_name = node.name + "_taps";
    Func taps;
    for (const auto& [name, fn] : Internal::find_direct_calls(conv.function()))
        if (name == taps_name || name.rfind(taps_name + "$", 0) == 0) taps = Func(fn);
    if (!taps.defined()) throw std::logic_error("transposed_conv2d " + node.name + ": no taps");

    // Taps: a 1x1 convolution whose outputs are (c, kx, ky). Accumulators in registers across the
    // input-channel reduction: a vector of channels x the unrolled taps x a strip of pixels, about
    // half the vector registers (16 of 32 with AVX-512; 8 of 16 with AVX2). All taps of a small
    // kernel (U-Net's 2x2) share each input pixel's broadcast. With channel blocks outermost a
    // block's weights stay in L2 while every pixel streams past them.
    std::vector<Var> t = taps.args();  // c, kx, ky, x, y, n
    Var c = t[0], kx = t[1], ky = t[2], x = t[3], y = t[4], n = t[5];
    Var co("co"), ci("ci"), xo("xo"), xi("xi"), yn("yn"), cn("cn");
    taps.compute_root().bound(kx, 0, kw).bound(ky, 0, kh);
    taps.split(c, co, ci, lanes, TailStrategy::GuardWithIf).vectorize(ci);
    taps.fuse(y, n, yn).parallel(yn);
    const bool unroll_both = kw * kh <= 4, unroll_x = !unroll_both && kw <= 4;
    const int unrolled = unroll_both ? kw * kh : unroll_x ? kw : 1;
    const int tile = std::max(1, (full >= 16 ? 16 : 8) / unrolled);
    for (int u = 0; u < taps.num_update_definitions(); ++u) {
        Stage s = taps.update(u);
        s.split(c, co, ci, lanes, TailStrategy::GuardWithIf).vectorize(ci);
        s.split(x, xo, xi, tile, TailStrategy::GuardWithIf).unroll(xi);
        std::vector<VarOrRVar> order{ci};
        if (unroll_both || unroll_x) s.unroll(kx), order.push_back(kx);
        if (unroll_both) s.unroll(ky), order.push_back(ky);
        order.push_back(xi);
        order.push_back(taps.rvars(u).at(0));
        if (!unroll_both && !unroll_x) order.push_back(kx);
        if (!unroll_both) order.push_back(ky);
        if (over_blocks) {
            order.insert(order.end(), {xo, y, co, n});
            s.reorder(order).fuse(co, n, cn).parallel(cn);
        } else {
            order.insert(order.end(), {co, xo, y, n});
            s.reorder(order).fuse(y, n, yn).parallel(yn);
        }
    }

    // The output: the bias, then the scatter of every tap, a streaming add of the taps planes
    // with the kernel column innermost (neighbouring output pixels at stride 1).
    std::vector<Var> o = conv.args();  // c, x, y, n
    Var oc = o[0], oy = o[2], on = o[3];
    conv.compute_root();
    conv.split(oc, co, ci, lanes, TailStrategy::GuardWithIf).vectorize(ci);
    conv.fuse(oy, on, yn).parallel(yn);
    for (int u = 0; u < conv.num_update_definitions(); ++u) {
        Stage s = conv.update(u);
        s.split(oc, co, ci, lanes, TailStrategy::GuardWithIf).vectorize(ci);
        std::vector<VarOrRVar> order{ci};
        for (const RVar& r : conv.rvars(u)) order.push_back(r);  // kx, ky, input x, input y
        order.insert(order.end(), {co, on});
        s.reorder(order);
        if (over_blocks)
            s.fuse(co, on, cn).parallel(cn);
        else
            s.parallel(on);
    }
}

void schedule_pool(Func pool, const ir::Node& node, const Target& target) {
    VectorChoice v = choose_vector(node.shape.channels(), node.shape.width(), target);
    pool.compute_root();
    tile_window_stage(pool, pool, v, 1, {});
}

void schedule_elementwise(Func f, const ir::Node& node, const Target& target) {
    f.compute_root();
    if (node.shape.rank == 3) {
        tile_window_stage(f, f, choose_vector(node.shape.channels(), node.shape.width(), target), 1,
                          {});
        return;
    }
    std::vector<Var> a = f.args();  // f, n
    f.vectorize(a[0], float_lanes(target), TailStrategy::GuardWithIf).parallel(a[1]);
}

void schedule_dense(Func dense, const ir::Node& node, const Target& target) {
    std::vector<Var> a = dense.args();  // o, n
    Var o = a[0], n = a[1], oi("oi"), oo("oo");
    int lanes = float_lanes(target);
    (void)node;
    dense.compute_root();
    dense.split(o, oo, oi, lanes, TailStrategy::GuardWithIf).vectorize(oi).parallel(n);
    RVar r = dense.rvars(0).at(0);
    dense.update()
        .split(o, oo, oi, lanes, TailStrategy::GuardWithIf)
        .vectorize(oi)
        .reorder(oi, r, oo, n)
        .parallel(n);
}

}  // namespace cnnc::schedules::cpu
