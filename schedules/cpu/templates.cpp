// CPU schedule templates for convolution, pooling and dense layers.
#include "schedules/cpu/templates.h"

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
