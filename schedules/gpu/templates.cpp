// GPU (CUDA) schedule templates per op family, and their dispatch over an inference kernel.
#include "schedules/gpu/templates.h"

#include <algorithm>
#include <optional>
#include <stdexcept>

#include "schedules/called_funcs.h"

namespace cnnc::schedules::gpu {

using namespace Halide;

namespace {

// Output channels (features) are the innermost dimension of activations and of weights
// ((co, kx, ky, ci), (o, i)): a warp over 32 consecutive channels reads one 128-byte line of
// weights and writes one of outputs, while all its threads read the same input value (a
// broadcast). Fewer channels (LeNet's 6 and 16) get as many threads as they have.
constexpr int warp = 32;
// Threads per block: 4 warps, enough for the scheduler to hide load latency while keeping blocks
// small enough that narrow layers (7 pixels wide) still fill them.
constexpr int block_threads = 128;
// Pixels (images, for dense) one thread accumulates at once: 4 registers of partial sums that
// share each weight load; more would cost registers (occupancy) for little further reuse.
constexpr int register_tile = 4;
// A transposed convolution's thread holds all taps of its kernel in registers up to this many.
constexpr int taps_in_registers = 16;

int threads_over(int64_t extent, int most) { return int(std::clamp<int64_t>(extent, 1, most)); }

// The loops of one stage, innermost first: `serial` inside each thread (a register tile, then the
// reduction), then `threads` (at most 3), then `blocks` fused into one grid dimension: CUDA's
// second and third grid dimensions stop at 65535, which rows x images can exceed. Without a GPU
// (see templates.h) the blocks run in parallel on the host and the threads serially.
void gpu_loop_nest(Stage s, const Target& target, const std::vector<VarOrRVar>& serial,
                   const std::vector<Var>& threads, const std::vector<Var>& blocks) {
    std::vector<VarOrRVar> order = serial;
    order.insert(order.end(), threads.begin(), threads.end());
    order.insert(order.end(), blocks.begin(), blocks.end());
    s.reorder(order);
    Var grid = blocks.at(0);
    for (size_t i = 1; i < blocks.size(); ++i) {
        Var fused("grid" + std::to_string(i));
        s.fuse(grid, blocks[i], fused);
        grid = fused;
    }
    if (!target.has_gpu_feature()) {
        s.parallel(grid);
        return;
    }
    s.gpu_blocks(grid);
    if (threads.size() == 1) s.gpu_threads(threads[0]);
    if (threads.size() == 2) s.gpu_threads(threads[0], threads[1]);
    if (threads.size() == 3) s.gpu_threads(threads[0], threads[1], threads[2]);
    if (threads.size() > 3) throw std::logic_error("gpu_loop_nest: at most 3 thread dimensions");
}

// Partial sums in registers. An update that reads and writes its Func in global memory costs a
// load and a store per term unless LLVM keeps the value in a register, which it does for one
// accumulator per thread but not for a tile of them (it cannot tell their addresses apart: the
// PTX of a 4-pixel convolution tile loaded and stored all 4 at every term). So the update is
// rfactored along its outermost reduction variable, split by its whole extent: the intermediate
// sums all terms in the original order, from zero, computed per thread at the loop `at` in
// registers, the `tile` dimensions unrolled; the update then adds it to the bias. Returns the
// RVar the update keeps (extent 1), to schedule with the update's serial loops; nothing (the
// update accumulates in place) when the reduction's outermost extent is not constant, or the
// Func has several updates (compute_at(f, var) names a loop of f's last stage; Halide 14
// refused a LoopLevel naming another stage).
std::optional<RVar> accumulate_in_registers(Func f, const Var& at, const std::vector<Var>& tile) {
    const int update = 0;
    if (f.num_update_definitions() != 1) return std::nullopt;
    const std::vector<RVar> r = f.rvars(update);
    if (r.empty()) return std::nullopt;
    // Func::rvars names the variables only; their extents are in the definition's schedule.
    const int64_t* extent =
        Internal::as_const_int(f.function().update(update).schedule().rvars().back().extent);
    if (!extent) return std::nullopt;
    RVar once("r_once"), whole("r_whole");
    Var v("r_v");
    Func partial = f.update(update).split(r.back(), once, whole, int(*extent)).rfactor(once, v);
    partial.compute_at(f, at).store_in(MemoryType::Register);
    std::vector<VarOrRVar> order(tile.begin(), tile.end());
    for (size_t i = 0; i + 1 < r.size(); ++i) order.push_back(r[i]);
    order.push_back(whole);
    Stage sums = partial.update();
    sums.reorder(order);
    for (const Var& t : tile) {
        partial.unroll(t);
        sums.unroll(t);
    }
    return once;
}

// How a window op's stage (c, x, y, n) is tiled: channel_threads x pixel_threads threads per
// block, each thread `pixels` neighbouring pixels of a row.
struct WindowTile {
    int channel_threads = 1, pixel_threads = 1, pixels = 1;
};

WindowTile window_tile(const ir::Node& node, int pixels) {
    const int64_t width = node.shape.width();
    WindowTile t;
    t.channel_threads = threads_over(node.shape.channels(), warp);
    t.pixels = threads_over(width, pixels);
    const int64_t tiles = (width + t.pixels - 1) / t.pixels;
    t.pixel_threads = threads_over(tiles, std::max(1, block_threads / t.channel_threads));
    return t;
}

// Every stage of a window op follows one loop order: the unrolled pixel tile innermost, then the
// reduction (update only), then the threads (channels "ci", pixel tiles), then the blocks.
void tile_window_stage(Stage s, const Func& f, const Target& target, const WindowTile& t,
                       const std::vector<RVar>& reduction) {
    std::vector<Var> a = f.args();  // c, x, y, n
    Var c = a[0], x = a[1], y = a[2], n = a[3];
    Var co("co"), ci("ci"), xq("xq"), xi("xi"), xo("xo"), xt("xt");
    s.split(c, co, ci, t.channel_threads, TailStrategy::GuardWithIf);
    std::vector<VarOrRVar> serial;
    Var tiles = x;
    if (t.pixels > 1) {
        s.split(x, xq, xi, t.pixels, TailStrategy::GuardWithIf).unroll(xi);
        serial.push_back(xi);
        tiles = xq;
    }
    s.split(tiles, xo, xt, t.pixel_threads, TailStrategy::GuardWithIf);
    serial.insert(serial.end(), reduction.begin(), reduction.end());
    gpu_loop_nest(s, target, serial, {ci, xt}, {co, xo, y, n});
}

// Class probabilities (k, n) or per pixel (k, x, y, n): one thread per image (or pixel) loops over
// the few classes itself, normalising by a maximum and a sum it computes once per class (as on
// the CPU: a handful of classes).
void schedule_probabilities(Func prob, const Shape& shape, const Target& target) {
    std::vector<Var> a = prob.args();
    prob.compute_root();
    Var k = a[0], o("o"), i("i");
    if (a.size() == 2) {
        prob.split(a[1], o, i, warp, TailStrategy::GuardWithIf);
        gpu_loop_nest(prob, target, {k}, {i}, {o});
        return;
    }
    prob.split(a[1], o, i, threads_over(shape.width(), warp), TailStrategy::GuardWithIf);
    gpu_loop_nest(prob, target, {k}, {i}, {o, a[2], a[3]});
}

}  // namespace

std::vector<Var> pure_vars_of_update(const Func& f, int update) {
    std::vector<Var> out;
    std::vector<Var> defs = f.args();
    for (const Expr& e : f.update_args(update)) {
        const auto* v = e.as<Internal::Variable>();
        if (!v) continue;
        for (const Var& d : defs)
            if (d.name() == v->name) out.push_back(d);
    }
    return out;
}

void schedule_stage(Stage s, const Target& target, const std::vector<Var>& pure,
                    const std::vector<RVar>& reduction, int64_t first, int64_t second) {
    if (pure.empty()) {
        // A total (a loss, a batch statistic summed over everything): too little to split
        // without rfactor; one thread keeps it on the device next to its producers.
        if (target.has_gpu_feature()) s.gpu_single_thread();
        return;
    }
    std::vector<VarOrRVar> serial(reduction.begin(), reduction.end());
    std::vector<Var> threads, blocks;
    const bool flat = pure.size() == 1;
    // One pure dimension: a whole block over it; two or more: a warp over the first (contiguous)
    // and the rest of the block over the second.
    const int t0 = threads_over(first > 0 ? first : block_threads, flat ? block_threads : warp);
    Var b0(pure[0].name() + "_gb"), i0(pure[0].name() + "_gt");
    s.split(pure[0], b0, i0, t0, TailStrategy::GuardWithIf);
    threads.push_back(i0);
    blocks.push_back(b0);
    if (!flat) {
        const int most = std::max(1, block_threads / t0);
        const int t1 = threads_over(second > 0 ? second : most, most);
        if (t1 > 1) {
            Var b1(pure[1].name() + "_gb"), i1(pure[1].name() + "_gt");
            s.split(pure[1], b1, i1, t1, TailStrategy::GuardWithIf);
            threads.push_back(i1);
            blocks.push_back(b1);
        } else {
            blocks.push_back(pure[1]);
        }
        blocks.insert(blocks.end(), pure.begin() + 2, pure.end());
    }
    gpu_loop_nest(s, target, serial, threads, blocks);
}

void schedule_generic(Func f, const Target& target, int64_t first, int64_t second) {
    f.compute_root();
    schedule_stage(f, target, f.args(), {}, first, second);
    std::vector<Var> args = f.args();
    for (int u = 0; u < f.num_update_definitions(); ++u) {
        // The extents belong to the first two args; an update may not loop over them.
        std::vector<Var> pure = pure_vars_of_update(f, u);
        auto extent_of = [&](size_t i) -> int64_t {
            if (i >= pure.size()) return 0;
            if (pure[i].name() == args[0].name()) return first;
            if (args.size() > 1 && pure[i].name() == args[1].name()) return second;
            return 0;
        };
        schedule_stage(f.update(u), target, pure, f.rvars(u), extent_of(0), extent_of(1));
    }
}

void schedule_conv2d(Func conv, const ir::Node& node, const Target& target) {
    const WindowTile t = window_tile(node, register_tile);
    conv.compute_root();
    tile_window_stage(conv, conv, target, t, {});
    // A folded batch norm's convolution scales "<name>_sums" (lower::conv2d): the sums are tiled
    // as a convolution of their own, the scaling one more pass.
    Func sums = accumulation(conv, node);
    if (sums.name() != conv.name()) {
        sums.compute_root();
        tile_window_stage(sums, sums, target, t, {});
    }
    std::vector<Var> a = sums.args();
    // Grouped convolutions sum inline (no reduction of the update's own): nothing to rfactor.
    std::optional<RVar> once = accumulate_in_registers(sums, Var("ci"), {a[1]});
    tile_window_stage(sums.update(), sums, target, t,
                      once ? std::vector<RVar>{*once} : sums.rvars(0));
}

void schedule_transposed_conv2d(Func conv, const ir::Node& node, const Target& target) {
    const auto& a = std::get<Conv2dAttrs>(node.attrs);
    const int kw = a.window.kernel_w, kh = a.window.kernel_h;
    const int channel_threads = threads_over(node.shape.channels(), warp);

    // Taps (c, kx, ky, x, y, n): a 1x1 convolution with Cout x KW x KH outputs, every dimension
    // pure, so any of them may run in parallel. Threads over channels and input pixels; each
    // thread holds all taps of a small kernel (U-Net's 2x2, a 3x3) in registers, sharing each
    // input load; larger kernels sum one tap at a time.
    const std::optional<Func> taps_found = called_func(conv, node.name + "_taps");
    if (!taps_found) throw std::logic_error("transposed_conv2d " + node.name + ": no taps");
    Func taps = *taps_found;
    std::vector<Var> ta = taps.args();
    Var c = ta[0], kx = ta[1], ky = ta[2], x = ta[3], y = ta[4], n = ta[5];
    Var co("co"), ci("ci"), xo("xo"), xt("xt");
    // The input is about 1/stride of the output wide; the pixel threads only need to cover it.
    const int64_t in_width = std::max<int64_t>(1, node.shape.width() / a.window.stride_w);
    const int pixel_threads = threads_over(in_width, std::max(1, block_threads / channel_threads));
    const bool tile_taps = kw * kh <= taps_in_registers;
    taps.compute_root().bound(kx, 0, kw).bound(ky, 0, kh);
    for (int u = -1; u < taps.num_update_definitions(); ++u) {
        std::vector<VarOrRVar> serial;
        if (tile_taps) serial = {kx, ky};
        if (u >= 0) {
            std::optional<RVar> once =
                accumulate_in_registers(taps, tile_taps ? ci : kx,
                                        tile_taps ? std::vector<Var>{kx, ky} : std::vector<Var>{});
            if (once) {
                serial.push_back(*once);
            } else {
                for (const RVar& r : taps.rvars(u)) serial.push_back(r);
            }
        }
        if (!tile_taps) serial.insert(serial.end(), {kx, ky});
        Stage s = u < 0 ? Stage(taps) : taps.update(u);
        s.split(c, co, ci, channel_threads, TailStrategy::GuardWithIf)
            .split(x, xo, xt, pixel_threads, TailStrategy::GuardWithIf);
        if (tile_taps) s.unroll(kx).unroll(ky);
        gpu_loop_nest(s, target, serial, {ci, xt}, {co, xo, y, n});
    }

    // The output: the bias, then the scatter. Different input pixels of the scatter can land on
    // the same output pixel (kernel wider than the stride), so its threads and blocks span only
    // its pure dimensions, channels and images, and each thread adds every tap of its
    // (channel, image) in order.
    std::vector<Var> o = conv.args();  // c, x, y, n
    conv.compute_root();
    tile_window_stage(conv, conv, target, window_tile(node, 1), {});
    const int image_threads = std::max(1, std::min(4, block_threads / channel_threads));
    for (int u = 0; u < conv.num_update_definitions(); ++u) {
        Stage s = conv.update(u);
        Var no("no"), nt("nt");
        s.split(o[0], co, ci, channel_threads, TailStrategy::GuardWithIf)
            .split(o[3], no, nt, image_threads, TailStrategy::GuardWithIf);
        std::vector<RVar> r = conv.rvars(u);  // kx, ky, input x, input y
        gpu_loop_nest(s, target, std::vector<VarOrRVar>(r.begin(), r.end()), {ci, nt}, {co, no});
    }
}

void schedule_pool(Func pool, const ir::Node& node, const Target& target) {
    if (node.shape.rank != 3) return schedule_generic(pool, target, node.shape[0], 0);
    pool.compute_root();
    tile_window_stage(pool, pool, target, window_tile(node, 1), {});
}

void schedule_elementwise(Func f, const ir::Node& node, const Target& target) {
    if (node.shape.rank == 3) {
        f.compute_root();
        tile_window_stage(f, f, target, window_tile(node, 1), {});
        return;
    }
    // Flat (f, n): features across a warp, images across the rest of the block.
    schedule_generic(f, target, node.shape.elements(), 0);
}

void schedule_dense(Func dense, const ir::Node& node, const Target& target) {
    std::vector<Var> a = dense.args();  // o, n
    Var o = a[0], n = a[1], oo("oo"), oi("oi"), nq("nq"), ni("ni"), no("no"), nt("nt");
    const int feature_threads = threads_over(node.shape.elements(), warp);
    const int image_threads = std::max(1, std::min(4, block_threads / feature_threads));
    dense.compute_root();
    dense.split(o, oo, oi, feature_threads, TailStrategy::GuardWithIf)
        .split(n, no, nt, image_threads, TailStrategy::GuardWithIf);
    gpu_loop_nest(dense, target, {}, {oi, nt}, {oo, no});
    // Each thread: one output feature of `register_tile` images, its weights read once for all.
    std::optional<RVar> once = accumulate_in_registers(dense, oi, {n});
    Stage u = dense.update();
    u.split(o, oo, oi, feature_threads, TailStrategy::GuardWithIf)
        .split(n, nq, ni, register_tile, TailStrategy::GuardWithIf)
        .split(nq, no, nt, image_threads, TailStrategy::GuardWithIf)
        .unroll(ni);
    std::vector<VarOrRVar> serial{ni};
    if (once) {
        serial.push_back(*once);
    } else {
        for (const RVar& r : dense.rvars(0)) serial.push_back(r);
    }
    gpu_loop_nest(u, target, serial, {oi, nt}, {oo, no});
}

void schedule_node(Func f, const ir::Node& n, const Target& target) {
    if (is_pointwise(n.op)) {
        // Element-wise stages and re-indexing fuse into their consumer's loops.
        f.compute_inline();
        return;
    }
    switch (n.op) {
        case Op::conv2d: schedule_conv2d(f, n, target); break;
        case Op::transposed_conv2d: schedule_transposed_conv2d(f, n, target); break;
        case Op::max_pool:
        case Op::avg_pool:
        case Op::l2_pool:
        case Op::global_avg_pool:
        case Op::global_max_pool: schedule_pool(f, n, target); break;
        case Op::dense: schedule_dense(f, n, target); break;
        // Softmax, reshapes: computed once, one value per thread.
        default:
            schedule_generic(f, target, n.shape[0], n.shape.rank == 3 ? n.shape.width() : 0);
            break;
    }
}

void schedule_kernel(lower::KernelPipeline& k, const ir::Graph& g, const passes::Segment& s,
                     const Target& target) {
    for (int i : s.nodes) {
        const ir::Node& n = g.node(i);
        // A folded batch norm's value is its convolution's Func, scheduled as the convolution.
        bool alias = n.op == Op::batch_norm &&
                     k.values[size_t(i)].name() == k.values[size_t(n.inputs.at(0))].name();
        if (alias) continue;
        // A point-wise output (a ResNet block's sum, read by two layers) is written, not inlined.
        if (i == s.output && !s.probabilities && is_pointwise(n.op))
            schedule_elementwise(k.values[size_t(i)], n, target);
        else
            schedule_node(k.values[size_t(i)], n, target);
    }
    // Folded scales and biases: small, but left to the host they would be computed there and
    // copied to the device at every call.
    for (Func f : k.precomputed) schedule_generic(f, target);
    if (s.probabilities) schedule_probabilities(k.output, g.node(s.output).shape, target);
}

}  // namespace cnnc::schedules::gpu
