// CPU schedule templates for convolution, transposed convolution, pooling and dense layers.
#include "schedules/cpu/templates.h"

#include <algorithm>
#include <optional>
#include <set>
#include <stdexcept>
#include <tuple>

#include "schedules/called_funcs.h"

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

// How a window op's stage is tiled: `vectors` vectors of channels times `pixels` pixels of a row
// form the register tile (unrolled); channels_outer puts the loop over channel blocks outside the
// loop over pixel tiles (each block's weights stay in L1 across the row) or inside it (each
// input pixel stays in L1 across the blocks). Tasks run over rows of images, or over blocks of
// `rows` rows (rows > 0); a serial stage (a convolution computed per task of its consumer) runs
// none.
struct WindowTile {
    VectorChoice v;
    int vectors = 1, pixels = 1;
    bool channels_outer = false;
    int rows = 0;
    bool serial = false;
    // Tasks over blocks of channel vectors (and images), every row of the block inside: each
    // block's weights are read from memory once, not once per row (channel vectors only).
    bool channel_tasks = false;
    // The stage's buffer is planar (x innermost): a tile of channel vectors is stored as vectors
    // of its pixels, one per channel, rather than scattered a float at a time.
    bool planar = false;
};

// Every stage of a window op follows one loop order: vector lanes innermost, then the register
// tile, then the reduction (update only), then the remaining channels, pixels, rows and images.
void tile_window_stage(Stage s, Func f, const WindowTile& t, const std::vector<RVar>& reduction) {
    std::vector<Var> a = f.args();  // c, x, y, n
    Var c = a[0], x = a[1], y = a[2], n = a[3];
    Var ci("ci"), cv("cv"), cb("cb"), co("co"), xi("xi"), xo("xo"), yn("yn");
    std::vector<VarOrRVar> order;
    if (t.v.over_channels) {
        // Planar: the tile's pixels are the vector, its channels unrolled.
        const bool planar = t.planar && t.pixels > 1;
        if (t.vectors > 1) {
            // Vectors first, then blocks of vectors, each split guarded on its own: a guarded
            // split by lanes x vectors whose inner part is split again (Halide 14) lost its
            // guard when the channels were not a multiple of the block, and the last block
            // wrote past the channels into the next pixel.
            s.split(c, cb, ci, t.v.lanes, TailStrategy::GuardWithIf)
                .split(cb, co, cv, t.vectors, TailStrategy::GuardWithIf)
                .unroll(cv);
            order = {ci, cv};
        } else {
            s.split(c, co, ci, t.v.lanes, TailStrategy::GuardWithIf);
            order = {ci};
        }
        planar ? s.unroll(ci) : s.vectorize(ci);
        if (t.pixels > 1) {
            s.split(x, xo, xi, t.pixels, TailStrategy::GuardWithIf);
            planar ? s.vectorize(xi) : s.unroll(xi);
            order.insert(planar ? order.begin() : order.end(), xi);
        }
        for (const RVar& r : reduction) order.push_back(r);
        // Innermost first: channels_outer lists co after (outside) the loop over pixel tiles.
        Var outer_x = t.pixels > 1 ? xo : x;
        if (t.channel_tasks) {
            order.insert(order.end(), {outer_x, y, co, n});
            s.reorder(order).fuse(co, n, Var("cn")).parallel(Var("cn"));
            return;
        }
        if (t.channels_outer)
            order.insert(order.end(), {outer_x, co});
        else
            order.insert(order.end(), {co, outer_x});
    } else {
        s.split(x, xo, xi, t.v.lanes, TailStrategy::GuardWithIf).vectorize(xi);
        order = {xi};
        for (const RVar& r : reduction) order.push_back(r);
        order.insert(order.end(), {c, xo});
    }
    if (t.rows > 0) {
        // Blocks of rows and images are parallel loops of their own, not one fused loop (see
        // below).
        Var yo("yo"), yi("yi");
        s.split(y, yo, yi, t.rows, TailStrategy::GuardWithIf);
        order.insert(order.end(), {yi, yo, n});
        s.reorder(order).parallel(yo).parallel(n);
        return;
    }
    order.insert(order.end(), {y, n});
    s.reorder(order);
    // Not fused when serial: the rows a consumer's task asks for vary, and Halide's bounds of a
    // loop fused from a varying extent reached one image past the last.
    if (!t.serial) s.fuse(y, n, yn).parallel(yn);
}

// The register tile a template's parameters ask for, capped to what the layer has.
WindowTile window_tile(const ir::Node& node, const Target& target, const ScheduleParams& p,
                       int default_pixels) {
    WindowTile t;
    t.v = choose_vector(node.shape.channels(), node.shape.width(), target);
    const int64_t blocks = (node.shape.channels() + t.v.lanes - 1) / t.v.lanes;
    t.vectors = t.v.over_channels ? int(std::clamp<int64_t>(p.get("vectors", 1), 1, blocks)) : 1;
    t.pixels = int(std::clamp<int64_t>(p.get("pixels", default_pixels), 1, node.shape.width()));
    t.channels_outer = p.get("channels_outer", 0) != 0;
    if (p.get("planar", 0) != 0) {
        t.v = {false, int(std::min<int64_t>(float_lanes(target), node.shape.width()))};
        t.vectors = 1;
        t.planar = true;
    }
    return t;
}

// The register tile of a convolution whose output channels fill vectors: `vectors` vectors of
// `lanes` channels x `pixels` pixels of a row. The channels must be whole vectors and the vectors
// whole tiles: the tile's sums are a Func of their own whose loops are unrolled, which needs a
// constant extent, and a guarded channel tail gives them a variable one.
struct ConvTile {
    WindowTile w;
    bool in_registers = false;  // else the update accumulates in the output (old tile, any shape)
    // The kernel taps innermost in the reduction, input channels outside them; else (the
    // default) the input channels innermost. Taps innermost keep each step's weight vectors
    // within a few KB (one input channel's taps) where channels innermost stride by a whole
    // filter bank per step: 256 -> 256 @14 went from 262 to 365 GFLOP/s in a JIT probe, other
    // 3x3 layers the same or a little faster. Not the default: with its order of the float32 sums
    // Inception-v3 (batch 1) came out 1.2x beyond the numerics test's bound against PyTorch's
    // float32 result (input channels innermost: 0.97). The tuner tries it per layer.
    bool taps_inner = false;
};

// The largest count <= wanted that divides `blocks`.
int dividing(int64_t blocks, int wanted) {
    int v = int(std::clamp<int64_t>(wanted, 1, blocks));
    while (blocks % v) --v;
    return v;
}

ConvTile conv_tile(const ir::Node& node, const Target& target, const ScheduleParams& p) {
    const int64_t channels = node.shape.channels(), width = node.shape.width();
    ConvTile t;
    int lanes = float_lanes(target);
    while (lanes > 4 && channels % lanes) lanes /= 2;
    if (channels % lanes || channels < lanes) {
        t.w = window_tile(node, target, p, 4);
        return t;
    }
    // Defaults measured on AVX-512 (Zen 5, 2 cores; 3x3 layers 64..512 channels, batch 1): 3
    // vectors x 7 pixels, 21 of the 32 registers, reached 75-84% of peak where 1 x 4 in memory
    // reached 15%; AVX2's 16 registers hold 2 x 6.
    const bool wide = float_lanes(target) >= 16;
    const int64_t blocks = channels / lanes;
    t.in_registers = true;
    t.w.v = {true, lanes};
    t.w.vectors = dividing(blocks, p.get("vectors", wide ? 3 : 2));
    const int budget = wide ? 24 : 12;
    const int pixels = p.get("pixels", std::min(8, (wide ? 21 : 12) / t.w.vectors));
    t.w.pixels = int(std::clamp<int64_t>(std::min(pixels, budget / t.w.vectors), 1, width));
    t.w.channels_outer = p.get("channels_outer", 0) != 0;
    t.w.planar = p.get("planar", 0) != 0;
    t.taps_inner = p.get("taps_inner", 0) != 0;
    return t;
}

// The tile of a lowered convolution: as conv_tile, and with the input channels innermost where
// its weights are packed (lower::unpacked_weights), whose blocks are laid out in that order
// (512->512 3x3 in a JIT probe: 402 GFLOP/s against 322 with the taps innermost).
// Packed weights of a layer of few rows (7, as ResNet's last stage has) also make the channel
// blocks the tasks (parameter channel_tasks): 512->512 3x3 @7, 0.74-0.75 -> 0.67-0.68 ms
// (`bench`, alternated; 7 rows on 2 cores leave one idle for a seventh of the time, and every
// row task read all 9.4 MB of weights).
ConvTile conv_tile(Func conv, const ir::Node& node, const Target& target, const ScheduleParams& p) {
    ConvTile t = conv_tile(node, target, p);
    if (!called_func(accumulation(conv, node), node.name + "_weight_packed")) return t;
    t.taps_inner = false;
    t.w.channel_tasks =
        t.in_registers && p.get("channel_tasks", node.shape.height() <= 7 ? 1 : 0) != 0;
    return t;
}

// A register tile's sums, a Func with a pure definition and one update computed per tile: its
// channel vectors and pixels unrolled, so LLVM keeps the accumulators in registers across the
// reduction `r` (input channel, kx, ky), ordered as the tile asks.
void schedule_tile_sums(Func sums, const ConvTile& t, const std::vector<RVar>& r) {
    Var c = sums.args()[0], x = sums.args()[1], cb("cb"), ci("ci");
    sums.split(c, cb, ci, t.w.v.lanes).vectorize(ci).unroll(cb).unroll(x);
    std::vector<VarOrRVar> order{ci, cb, x};
    if (t.taps_inner && r.size() == 3)
        order.insert(order.end(), {r[1], r[2], r[0]});
    else
        order.insert(order.end(), r.begin(), r.end());
    sums.update().split(c, cb, ci, t.w.v.lanes).vectorize(ci).unroll(cb).unroll(x).reorder(order);
}

// The tile's sums in registers: the update's reduction moves to a Func of its own (rfactor over
// a split of the last reduction variable whose outer part has extent 1), computed at each tile
// of the output; the output's update then adds the tile to the bias once. Returns the update's
// remaining reduction variable (extent 1), to order with its loops.
RVar sums_in_registers(Func conv, const ConvTile& t) {
    std::vector<RVar> r = conv.rvars(0);
    const Expr extent = conv.function().update(0).schedule().rvars().back().extent;
    RVar once("r_once"), whole("r_whole");
    Var v("r_v");
    Func sums = conv.update().split(r.back(), once, whole, extent).rfactor(once, v);
    sums.compute_at(conv, once);
    r.back() = whole;
    schedule_tile_sums(sums, t, r);
    return once;
}

// The zero border of a register-tiled convolution's input: computed per row of tasks, so the
// reduction's loads are plain loads with no clamp or select (3x3 layers: 242 -> 345 GFLOP/s at
// 64 channels @56).
void stage_padded(Func padded, const LoopLevel& row, const ConvTile& t) {
    padded.compute_at(row);
    padded.vectorize(padded.args()[0], t.w.v.lanes, TailStrategy::GuardWithIf);
}

// The loop of `out` just outside its register tile (tile_window_stage's order).
LoopLevel register_tile_level(Func out, const ConvTile& t) {
    const Var outer_x = t.w.pixels > 1 ? Var("xo") : out.args()[1];
    return LoopLevel(out, t.w.channels_outer || t.w.channel_tasks ? outer_x : Var("co"));
}

// A folded batch norm's scaled convolution, already tiled: its sums per register tile, or, where
// they cannot be in registers, per row of the convolution's tiles.
void schedule_scaled_conv(Func conv, Func sums, const ConvTile& t, const LoopLevel& row) {
    if (t.in_registers && !sums.rvars(0).empty()) {
        sums.compute_at(register_tile_level(conv, t));
        schedule_tile_sums(sums, t, sums.rvars(0));
        return;
    }
    WindowTile per_row = t.w;
    per_row.serial = true;
    sums.compute_at(row);
    tile_window_stage(sums, sums, per_row, {});
    tile_window_stage(sums.update(), sums, per_row, sums.rvars(0));
}

}  // namespace

void schedule_conv2d(Func conv, const ir::Node& node, const Target& target,
                     const ScheduleParams& params, const std::optional<LoopLevel>& at) {
    ConvTile t = conv_tile(conv, node, target, params);
    t.w.serial = at.has_value();
    t.w.channel_tasks = false;  // the rows below are tasks (schedule_conv2d_output's tiles only)
    if (at)
        conv.compute_at(*at);
    else
        conv.compute_root();
    tile_window_stage(conv, conv, t.w, {});
    Func sums = accumulation(conv, node);
    // Looked up before the update's sums move to a Func of their own, which then calls it.
    std::optional<Func> padded = called_func(sums, node.name + "_padded");
    const LoopLevel row(conv, t.w.serial ? conv.args()[2] : Var("yn"));
    if (sums.name() != conv.name()) {
        schedule_scaled_conv(conv, sums, t, row);
    } else if (!t.in_registers || conv.rvars(0).empty()) {
        // Channels that do not fill whole vectors, or grouped sums (no reduction of the update's
        // own): the tile accumulates in the output.
        tile_window_stage(conv.update(), conv, t.w, conv.rvars(0));
        return;
    } else {
        tile_window_stage(conv.update(), conv, t.w, {sums_in_registers(conv, t)});
    }
    if (padded) stage_padded(*padded, row, t);
}

namespace {

// Output rows per task of a convolution that stages planar input (its padded rows gather each
// pixel's channels): blocks of rows, so that each input row is gathered about once rather than
// once per output row that reads it (`bench`, alternated, against staging per row: 64 -> 64 @56
// 0.74 -> 0.59 ms, depthwise 144 @56 0.41 -> 0.21, the ResNet stem 0.69 -> 0.60). An even number
// of equal blocks, at least 4 (2 cores: 256 @14 in 4 blocks of 4, 4, 4 and 2 rows went from 0.57
// to 0.64 ms); 0 (a task per row) where no such count divides the rows.
int planar_input_rows(int64_t height) {
    for (int64_t tasks = 4; tasks <= height / 2; tasks += 2)
        if (height % tasks == 0) return int(height / tasks);
    return 0;
}

}  // namespace

bool computed_per_output_tile(Func conv, const ir::Node& node, const Target& target,
                              const ScheduleParams& params) {
    return conv_tile(node, target, params).in_registers &&
           !accumulation(conv, node).rvars(0).empty() && params.get("wrap", 1) != 0;
}

Func schedule_conv2d_output(Func conv, const ir::Node& node, const Target& target,
                            const ScheduleParams& params, const std::optional<Func>& epilogue) {
    ConvTile t = conv_tile(conv, node, target, params);
    if (!computed_per_output_tile(conv, node, target, params)) {
        schedule_conv2d(conv, node, target, params);
        if (!epilogue) return conv;
        schedule_elementwise(*epilogue, node, target, params);
        return *epilogue;
    }
    Func sums = accumulation(conv, node);
    std::optional<Func> padded = called_func(sums, node.name + "_padded");
    // A scaled convolution is point-wise in its sums: the tile it is written from (no wrapper),
    // or inlined into its epilogue's.
    const bool scaled = sums.name() != conv.name();
    Func out = epilogue ? *epilogue : scaled ? conv : conv.in();
    if (scaled && epilogue) conv.compute_inline();
    if (padded && params.get("planar_input", 0) && !t.w.channel_tasks)
        t.w.rows = planar_input_rows(node.shape.height());
    out.compute_root();
    tile_window_stage(out, out, t.w, {});
    sums.compute_at(register_tile_level(out, t));
    schedule_tile_sums(sums, t, sums.rvars(0));
    const char* task = t.w.channel_tasks ? "cn" : t.w.rows > 0 ? "yo" : "yn";
    if (padded) stage_padded(*padded, LoopLevel(out, Var(task)), t);
    return out;
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

    const std::optional<Func> found = called_func(conv, node.name + "_taps");
    if (!found) throw std::logic_error("transposed_conv2d " + node.name + ": no taps");
    Func taps = *found;

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

// Pool rows per task when the pool computes its producer: as many as keep the producer rows they
// read within 256 KB (half of L2 or less on current x86), with at least 4 tasks per image.
int producer_rows(const ir::Node& pool, const ir::Node& producer, const ScheduleParams& p) {
    const Window& w = std::get<PoolAttrs>(pool.attrs).window;
    const int64_t row_bytes = producer.shape.channels() * producer.shape.width() * 4;
    auto producer_bytes = [&](int rows) {
        return ((rows - 1) * w.stride_h + w.kernel_h) * row_bytes;
    };
    int rows = 1;
    while (rows + 1 <= pool.shape.height() / 4 && producer_bytes(rows + 1) <= 256 * 1024) ++rows;
    return int(std::clamp<int64_t>(p.get("rows", rows), 1, pool.shape.height()));
}

std::optional<LoopLevel> schedule_pool(Func pool, const ir::Node& node, const Target& target,
                                       const ScheduleParams& params, const ir::Node* producer) {
    pool.compute_root();
    WindowTile t = window_tile(node, target, params, 1);
    // Windows that overlap (3x3 stride 2) make neighbouring tasks compute their shared
    // producer rows twice: the ResNet stem's convolution fused into its pool measured 2-8%
    // slower end to end (ResNet-50, batch 1). Windows that tile the image (VGG's, LeNet's 2x2)
    // share nothing: LeNet-5's inference, batch 1, went from 0.10 to 0.09 ms.
    const Window& w = std::get<PoolAttrs>(node.attrs).window;
    const bool overlapping = w.kernel_h > w.stride_h || w.kernel_w > w.stride_w;
    const bool fuse = producer && params.get("fuse", overlapping ? 0 : 1) != 0;
    if (fuse) t.rows = producer_rows(node, *producer, params);
    tile_window_stage(pool, pool, t, {});
    if (!fuse) return std::nullopt;
    return LoopLevel(pool, Var("yo"));
}

void schedule_elementwise(Func f, const ir::Node& node, const Target& target,
                          const ScheduleParams& params) {
    f.compute_root();
    if (node.shape.rank == 3) {
        ScheduleParams planar;
        if (params.get("planar", 0)) planar.values["planar"] = 1;
        tile_window_stage(f, f, window_tile(node, target, planar, 1), {});
        return;
    }
    std::vector<Var> a = f.args();  // f, n
    f.vectorize(a[0], float_lanes(target), TailStrategy::GuardWithIf).parallel(a[1]);
}

void schedule_dense(Func dense, const ir::Node& node, const Target& target,
                    const ScheduleParams& params) {
    std::vector<Var> a = dense.args();  // o, n
    Var o = a[0], n = a[1], oi("oi"), oo("oo"), ov("ov"), ob("ob");
    const int lanes = float_lanes(target);
    const int64_t blocks = (node.shape.elements() + lanes - 1) / lanes;
    // `vectors` output vectors share each input value's broadcast (unrolled accumulators).
    const int vectors = int(std::clamp<int64_t>(params.get("vectors", 1), 1, blocks));
    dense.compute_root();
    dense.split(o, oo, oi, lanes, TailStrategy::GuardWithIf).vectorize(oi).parallel(n);
    RVar r = dense.rvars(0).at(0);
    Stage u = dense.update();
    if (vectors > 1) {  // guarded splits one at a time, as in tile_window_stage
        u.split(o, ob, oi, lanes, TailStrategy::GuardWithIf)
            .vectorize(oi)
            .split(ob, oo, ov, vectors, TailStrategy::GuardWithIf)
            .unroll(ov)
            .reorder(oi, ov, r, oo, n);
    } else {
        u.split(o, oo, oi, lanes, TailStrategy::GuardWithIf).vectorize(oi).reorder(oi, r, oo, n);
    }
    u.parallel(n);
}

void schedule_precomputed(Func f, const Target& target) {
    std::vector<Var> a = f.args();
    f.compute_root().vectorize(a[0], float_lanes(target), TailStrategy::GuardWithIf);
    if (a.size() > 1) f.parallel(a.back());
}

std::vector<ScheduleParams> candidates(const ir::Node& node, const Target& target,
                                       const ir::Node* producer) {
    const int lanes = float_lanes(target);
    // Accumulators must stay in registers: 32 vector registers with AVX-512, 16 otherwise, a few
    // of them for weights and inputs.
    const int accumulators = lanes >= 16 ? 24 : 12;
    std::vector<ScheduleParams> out;
    const bool over_channels =
        choose_vector(node.shape.channels(), node.shape.width(), target).over_channels;
    const int64_t blocks = (node.shape.channels() + lanes - 1) / lanes;
    switch (node.op) {
        case Op::conv2d: {
            // Each distinct tile once (conv_tile() caps what the layer's channels allow), the
            // default order of the reduction first, then the other; a single tap has no order.
            const auto& attrs = std::get<Conv2dAttrs>(node.attrs);
            const bool taps = attrs.window.kernel_w * attrs.window.kernel_h > 1;
            std::set<std::tuple<int, int, int, int>> seen;
            for (int taps_inner : {0, 1})
                for (int outer : {0, 1})
                    for (int vectors : {1, 2, 3, 4})
                        for (int pixels : {2, 3, 4, 5, 6, 7, 8, 12, 14, 16}) {
                            ScheduleParams p{{{"vectors", vectors},
                                              {"pixels", pixels},
                                              {"channels_outer", outer},
                                              {"taps_inner", taps_inner}}};
                            const ConvTile t = conv_tile(node, target, p);
                            if ((!taps || !t.in_registers) && taps_inner) continue;
                            if (t.w.vectors * t.w.pixels > accumulators ||
                                !seen.insert({t.w.vectors, t.w.pixels, outer, taps_inner}).second)
                                continue;
                            p.values["vectors"] = t.w.vectors;
                            p.values["pixels"] = t.w.pixels;
                            out.push_back(p);
                        }
            // First: the tests take the last candidate as the template's alternative tile.
            out.insert(out.begin(), {{{"wrap", 0}}});
            if (producer) out.insert(out.begin(), {{{"fuse", 0}}});
            break;
        }
        case Op::dense:
            for (int vectors : {1, 2, 4, 8})
                if (vectors <= (node.shape.elements() + lanes - 1) / lanes)
                    out.push_back({{{"vectors", vectors}}});
            break;
        case Op::max_pool:
            for (int pixels : {1, 2, 4})
                if (pixels <= node.shape.width()) out.push_back({{{"pixels", pixels}}});
            if (!producer) break;
            for (int fuse : {0, 1}) out.push_back({{{"fuse", fuse}}});
            for (int rows : {1, 2, 4, 8})
                if (rows <= node.shape.height()) out.push_back({{{"fuse", 1}, {"rows", rows}}});
            break;
        default:
            break;
    }
    return out;
}

}  // namespace cnnc::schedules::cpu
