// The default CPU schedule of the training step: every stage of the forward pass, the generated
// backward pass and the loss computed once (compute_root), vectorized over its innermost pure
// dimension and parallel over its outermost one, in every update too; convolutions, their
// gradients and dense layers with register-tiled sums (tile_update).
#include <algorithm>
#include <functional>
#include <set>

#include "compiler/lower/inference.h"
#include "compiler/lower/lower.h"
#include "schedules/called_funcs.h"
#include "schedules/cpu/templates.h"
#include "schedules/gpu/templates.h"
#include "schedules/schedule.h"

namespace cnnc::schedules {

using namespace Halide;

namespace {

// Pure dimensions of an update: the args that are the definition's own variables, in order.
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

// Vector lanes over the innermost pure dimension, with guards so that any extent works (the
// batch may be partial, channels may be few); tasks over the outermost.
void vectorize_and_parallelize(Stage s, const std::vector<Var>& pure, int lanes) {
    if (pure.empty()) return;
    Var inner = pure.front(), vi(inner.name() + "_vi");
    s.split(inner, inner, vi, lanes, TailStrategy::GuardWithIf).vectorize(vi);
    if (pure.size() > 1) s.parallel(pure.back());
}

// The extents of a gradient's first three dimensions and its last where they are known (0 where
// not): a parameter's are exact, an activation's channels are.
// An activation's second is its width: of the region a convolution reads for its padded input.
struct Extents {
    int first = 0, second = 0, third = 0, last = 0;
    int64_t weight_bytes = 0;  // an activation's: of the largest convolution weights its sum reads
};

// Accumulators that fit the vector registers with room for the operands: 32 registers with
// AVX-512 (16 lanes), 16 otherwise.
int accumulator_budget(int lanes) { return lanes == 16 ? 25 : 12; }

struct UpdateTile {
    int vectors = 1, strip = 4, strip2 = 1;
};

// What a tiled update computes: an activation's gradient (or a convolution), a weight's gradient
// (its second and third dimensions a kernel's taps), or a dense layer's matrix product (its
// second dimension the images: a strip of 8 reads each weight vector once per 8 images).
// dense_input: the gradient of a dense layer's input, whose channels index the weights across
// their rows.
enum class Role { activation, weight, matrix, dense_input };

// A strip of `most` columns or fewer over a row of `width`: the whole row where it fits, else
// the widest that leaves the least of a last, partial strip (a partial strip has too few sums to
// hide the FMAs' latency; ResNet-18's 6-wide padded rows ran as 4 + 2 with a strip of 4).
int row_strip(int width, int most) {
    if (width <= most) return width;
    int best = most;
    for (int s = most; s > most / 2; --s)
        if ((width + s - 1) / s * s - width < (width + best - 1) / best * best - width) best = s;
    return best;
}

UpdateTile update_tile(const Extents& e, int lanes, bool in_registers, bool has_third, Role role,
                       const ScheduleParams& params) {
    const int budget = accumulator_budget(lanes);
    UpdateTile t;
    int default_strip = role == Role::matrix ? 8 : 4;
    if (role == Role::activation && e.second > 0)
        default_strip = row_strip(e.second, budget / 2);  // with room for 2 vectors
    else if (e.second > 0 && e.second <= 8)
        default_strip = e.second;
    t.strip = params.get("strip", default_strip);
    t.vectors = params.get(
        "vectors", in_registers && e.first % (2 * lanes) == 0 && 2 * t.strip <= budget ? 2 : 1);
    const int whole_kernel = has_third && e.third > 0 && e.third <= 8 ? e.third : 1;
    t.strip2 =
        params.get("strip2", t.vectors * t.strip * whole_kernel <= budget ? whole_kernel : 1);
    return t;
}

// Channels that do not fill whole vectors, and few enough to unroll.
bool few_channels(int channels, int lanes) {
    return channels > 0 && channels <= 8 && channels % lanes != 0;
}

// The operands of `sums` indexed by image (all but the parameters) read through copies made once,
// which store the images innermost: vectors of images load contiguously.
void read_images_innermost(Func sums, int lanes, const std::set<std::string>& parameters) {
    for (const auto& [name, fn] : Internal::find_direct_calls(sums.function())) {
        if (name == sums.name() || parameters.count(base_name(name)) || fn.dimensions() < 2)
            continue;
        Func copy = Func(fn).in(sums);
        std::vector<Var> a = copy.args(), images_first{a.back()};
        images_first.insert(images_first.end(), a.begin(), a.end() - 1);
        Var av(a.back().name() + "_vi");
        copy.compute_root().reorder_storage(images_first);
        copy.reorder(std::vector<VarOrRVar>(images_first.begin(), images_first.end()));
        copy.split(a.back(), a.back(), av, lanes, TailStrategy::GuardWithIf).vectorize(av);
        copy.parallel(a[a.size() - 2]);
    }
}

// Storage order with `first` innermost, the others in their order.
std::vector<Var> innermost(std::vector<Var> args, const Var& first) {
    std::rotate(
        args.begin(),
        std::find_if(args.begin(), args.end(), [&](const Var& a) { return a.same_as(first); }),
        args.end());
    return args;
}

// The update's reduction factored (rfactor) into a Func of its own over blocks of `extent` of its
// last reduction variable (`once` numbers the blocks, `whole` runs inside one): computed per tile
// with its loops unrolled, it keeps the tile's sums in registers instead of a load and a store of
// each accumulator around every FMA. `tile` shapes both its stages; its update runs `tile_vars`
// innermost, then the reduction.
Func sums_per_tile(Stage s, const std::vector<RVar>& rvars, const Expr& extent, const RVar& once,
                   const RVar& whole, const std::function<void(Stage)>& tile,
                   std::vector<VarOrRVar> tile_vars) {
    Func sums = s.split(rvars.back(), once, whole, extent).rfactor(once, Var("r_v"));
    tile(sums);
    tile(sums.update());
    for (size_t i = 0; i + 1 < rvars.size(); ++i) tile_vars.push_back(rvars[i]);
    tile_vars.push_back(whole);
    sums.update().reorder(tile_vars);
    return sums;
}

// Few channels (LeNet-5's 6), or channels that index a dense layer's weights across their rows:
// vectors of channels would be mostly masked (and masked stores keep the sums out of registers),
// or gathered. Vectors of images instead: a strip of channels of a pixel unrolled (all of them
// where they are few), each a vector of `lanes` images, its sum over the whole reduction in
// registers. The operands indexed by image (all but the parameters) are read through copies
// that store the images innermost, for contiguous vector loads; the result's stores are
// scattered, once per sum. Tasks over rows (over channel strips for a flat input).
void tile_over_images(Func f, int u, const std::vector<Var>& pure, int lanes, int channels,
                      const std::set<std::string>& parameters) {
    Stage s = f.update(u);
    const std::vector<RVar> rvars = f.rvars(u);
    Var c = pure.front(), n = pure.back(), ni(n.name() + "_vi"), cu(c.name() + "_ui");
    RVar once("r_once"), whole("r_whole");
    const int strip = std::min(channels, 8);
    auto tile = [&](Stage t) {
        t.split(n, n, ni, lanes, TailStrategy::GuardWithIf).vectorize(ni);
        t.split(c, c, cu, strip, TailStrategy::GuardWithIf).unroll(cu);
    };
    const Expr extent = f.function().update(u).schedule().rvars().back().extent;
    Func sums = sums_per_tile(s, rvars, extent, once, whole, tile, {ni, cu});
    sums.compute_at(f, once);
    // Images innermost, each channel's sums one whole vector; held in registers (the tail tile's
    // size varies, and its allocation would otherwise be sized at run time, in memory).
    sums.reorder_storage(innermost(sums.args(), n)).align_storage(n, lanes);
    sums.store_in(MemoryType::Register);
    tile(s);
    const Var tasks = pure.size() >= 3 ? pure[pure.size() - 2] : c;
    std::vector<VarOrRVar> order{ni, cu, once};
    if (!tasks.same_as(c)) order.push_back(c);
    for (size_t i = 1; i + 2 < pure.size(); ++i) order.push_back(pure[i]);
    order.push_back(n);
    order.push_back(tasks);
    s.reorder(order).parallel(tasks);
    read_images_innermost(sums, lanes, parameters);
}

// A weight's gradient with few output channels (LeNet-5's first layer: 6, of 1 input channel): its
// sum over images, rows and columns split by image into `lanes` partial sums, vectorized over
// those lanes with the channels and a strip of the kernel's columns unrolled, then added across
// the lanes (once per weight). Operands as in tile_over_images; tasks over the kernel's rows.
void weight_gradient_over_images(Func f, int u, const std::vector<Var>& pure, int lanes,
                                 const Extents& extents, int budget,
                                 const std::set<std::string>& parameters) {
    Stage s = f.update(u);
    const std::vector<RVar> rvars = f.rvars(u);
    RVar outer("r_images"), inner("r_lane");
    Var lane("r_lane_v"), c = pure[0], column = pure[1], row = pure[2];
    Var cu(c.name() + "_ui"), columnu(column.name() + "_ui");
    Func partial =
        s.split(rvars.back(), outer, inner, lanes, TailStrategy::GuardWithIf).rfactor(inner, lane);
    const int strip = std::max(1, std::min(extents.second, budget / extents.first));
    partial.compute_root().reorder_storage(innermost(partial.args(), lane));
    for (Stage t : {Stage(partial), partial.update()}) {
        t.vectorize(lane);
        t.split(c, c, cu, extents.first, TailStrategy::GuardWithIf).unroll(cu);
        t.split(column, column, columnu, strip, TailStrategy::GuardWithIf).unroll(columnu);
    }
    std::vector<VarOrRVar> order{lane, cu, columnu};
    for (size_t i = 0; i + 1 < rvars.size(); ++i) order.push_back(rvars[i]);
    order.push_back(outer);
    for (const Var& p : pure) order.push_back(p);
    partial.update().reorder(order).parallel(row);
    vectorize_and_parallelize(s, pure, extents.first >= 8 ? 8 : 4);
    read_images_innermost(partial, lanes, parameters);
}

// Weights larger than this (bytes) are read from cache only if a task keeps to one block of
// channels across its images (below); it is a share of a 1 MiB L2.
constexpr int64_t channels_outer_bytes = 256 * 1024;

// A convolution (or its backward-data) whose weights do not fit the cache, with images as the
// outer loop, streams all of them from memory for every row of every image: ResNet-18's 512
// channels at 4x4 pixels ran at 7% of peak. Its channel blocks go outside the images instead:
// each block's slice of the weights (the tile's channels, every tap and summed channel) stays in
// cache across a task's `task_images` images. Tasks over blocks of channels and of images.
// Returns the tasks' loop, where each task copies the slice of the weights it reads
// (copy_conv_weights).
LoopLevel channel_blocks_outside_images(Func f, Stage s, std::vector<VarOrRVar> order,
                                        const std::vector<Var>& pure, int task_images) {
    const Var channels = pure.front(), images = pure.back();
    Var images_outer(images.name() + "_o"), images_inner(images.name() + "_i"), tasks("tasks");
    s.split(images, images_outer, images_inner, task_images, TailStrategy::GuardWithIf);
    for (size_t i = 1; i + 1 < pure.size(); ++i) order.push_back(pure[i]);
    order.push_back(images_inner);
    order.push_back(channels);
    order.push_back(images_outer);
    s.reorder(order).fuse(channels, images_outer, tasks).parallel(tasks);
    return LoopLevel(f, tasks);
}

// The gradients of a convolution (weights: a sum over pixels and images; backward-data: a sum over
// output channels and taps) keep a register tile of accumulators across their whole reduction:
// `vectors` vectors of the innermost pure dimension times an unrolled strip of the next (and, for
// a weight's gradient, of the third: a whole kernel of taps), so that enough independent FMAs
// hide each other's latency and each loaded value feeds several of them. fashion_cnn on 2 cores
// (profiled, machine shared): backward-data of the 32->32 convolution went from 34 ms to 11 ms
// per batch of 64 with one vector times 4 pixels; its weight gradient, 3 accumulators (16
// channels x 3 taps) before, is one of 2 x 3 x 3.
// Tunable (records.h, training_key): vectors, strip (default: an activation's row_strip of its
// width; else the second extent if at most 8, else 4), strip2 (the third dimension's),
// image_block (a weight gradient's, below), images (0: few channels keep vectors of channels, not
// of images: tile_over_images), fuse_tasks (1: tasks over the two outermost pure dimensions
// fused, for more tasks than the outermost alone gives; default 1 where that one has fewer than
// 4: the first layer's weights, 1 input channel), registers (0: the tile accumulates in memory;
// default 1, where the tile's vectors are whole), channels_outer (an activation's: 1, channel
// blocks outside the images, channel_blocks_outside_images; default 1 where the weights it reads
// pass channels_outer_bytes) and task_images (the images of one such task, default 16). And for
// the whole kernel: parallel (0: no loop in parallel; run_serially).
// `lanes`: of the channel vectors (fewer where the channels are few); `full_lanes`: the target's.
// `weight_slices`: where the weights read by the stage named (f, or its tile's sums) are copied
// per task, for channel blocks outside the images.
void tile_update(Func f, int u, const std::vector<Var>& pure, int lanes, int full_lanes,
                 const Extents& extents, Role role, const std::set<std::string>& parameters,
                 const ScheduleParams& params, std::map<std::string, LoopLevel>& weight_slices) {
    const bool is_weight = role == Role::weight;
    const std::vector<RVar> rvars = f.rvars(u);
    Stage s = f.update(u);
    if (pure.size() < 2 || rvars.empty()) return vectorize_and_parallelize(s, pure, lanes);
    // An update over all of the Func's variables (rfactor needs its pure dimensions to be the
    // Func's), and its only one (a Func's compute_at names a loop of its last stage).
    const bool whole_update = pure.size() == f.args().size() && f.num_update_definitions() == 1;
    const bool by_images = params.get("images", 1) != 0;
    const bool few = few_channels(extents.first, lanes);
    if (role == Role::activation && few && pure.size() >= 3 && whole_update && by_images)
        return tile_over_images(f, u, pure, full_lanes, extents.first, parameters);
    if (role == Role::weight && few && pure.size() == 4 && rvars.size() == 3 &&
        extents.second > 0 && by_images)
        return weight_gradient_over_images(f, u, pure, full_lanes, extents,
                                           accumulator_budget(full_lanes), parameters);
    if (role == Role::dense_input)
        return whole_update && extents.first > 0 && by_images
                   ? tile_over_images(f, u, pure, full_lanes, extents.first, parameters)
                   : vectorize_and_parallelize(s, pure, lanes);
    // The tile's sums in registers (sums_per_tile), as the inference convolution keeps them
    // (cpu::schedule_conv2d), for a whole update and whole vectors: a partial vector's masked
    // stores defeat the registers, and LeNet-5's 6-channel backward-data took twice as long that
    // way as accumulating in memory.
    const bool in_registers = params.get("registers", 1) != 0 && whole_update &&
                              extents.first > 0 && extents.first % lanes == 0;
    // A weight's third dimension is a kernel row; an activation's is a row of pixels, and the
    // last pure dimension stays for the tasks.
    const bool has_third = is_weight && pure.size() >= 4;
    UpdateTile shape = update_tile(extents, lanes, in_registers, has_third, role, params);
    if (in_registers && extents.first % (lanes * shape.vectors) != 0) shape.vectors = 1;
    Var v0 = pure[0], vi(v0.name() + "_vi"), vv(v0.name() + "_vv");
    Var p1 = pure[1], p1i(p1.name() + "_ui");
    Var p2 = pure.size() >= 3 ? pure[2] : Var(), p2i(p2.name() + "_ui");
    const bool third = has_third && shape.strip2 > 1;
    // Vectors of the first dimension times an unrolled strip of the second (and of the third).
    auto tile = [&](Stage t) {
        t.split(v0, v0, vi, lanes * shape.vectors, TailStrategy::GuardWithIf);
        if (shape.vectors > 1) t.split(vi, vv, vi, lanes).unroll(vv);
        t.vectorize(vi);
        t.split(p1, p1, p1i, shape.strip, TailStrategy::GuardWithIf).unroll(p1i);
        if (third) t.split(p2, p2, p2i, shape.strip2, TailStrategy::GuardWithIf).unroll(p2i);
    };
    std::vector<VarOrRVar> tile_vars{vi};
    if (shape.vectors > 1) tile_vars.push_back(vv);
    tile_vars.push_back(p1i);
    if (third) tile_vars.push_back(p2i);
    std::vector<RVar> tile_rvars = rvars;
    // A weight's gradient sums over a block of images at a time, every tile of the block before
    // the next block: the block's output gradients (the vector operand) stay in cache for all
    // the input channels instead of streaming the whole batch's once per channel.
    const int block = is_weight && in_registers ? params.get("image_block", 4) : 0;
    RVar once("r_once"), whole("r_whole");
    std::string reader = f.name();  // of the weights
    if (in_registers) {
        const Expr extent =
            block > 0 ? Expr(block) : f.function().update(u).schedule().rvars().back().extent;
        Func sums = sums_per_tile(s, rvars, extent, once, whole, tile, tile_vars);
        sums.compute_at(block > 0 ? LoopLevel(f, v0) : LoopLevel(f, once));
        tile_rvars = {once};
        reader = sums.name();
    }
    tile(s);
    std::vector<VarOrRVar> order = tile_vars;
    if (block == 0)
        for (const RVar& r : tile_rvars) order.push_back(r);
    if (role == Role::activation && pure.size() >= 3 &&
        params.get("channels_outer", extents.weight_bytes > channels_outer_bytes ? 1 : 0)) {
        weight_slices[reader] =
            channel_blocks_outside_images(f, s, order, pure, params.get("task_images", 16));
        return;
    }
    for (const Var& p : pure) order.push_back(p);
    if (block > 0) order.push_back(once);
    s.reorder(order);
    const bool few_tasks = extents.last > 0 && extents.last < 4;
    if (params.get("fuse_tasks", few_tasks ? 1 : 0) && pure.size() >= 3) {
        Var tasks("tasks");
        s.fuse(pure[pure.size() - 2], pure.back(), tasks).parallel(tasks);
    } else {
        s.parallel(pure.back());
    }
}

// The Funcs whose reductions get register tiles, by what they compute: convolutions, and the
// gradients of their weights and (padded) inputs; dense layers' forward matrix products and their
// inputs' gradients.
std::map<std::string, Role> tiled_reductions(const ir::Graph& g) {
    std::map<std::string, Role> out;
    for (const ir::Node& n : g.nodes) {
        if (n.op == Op::dense) {
            out[lower::func_name(n)] = Role::matrix;
            const ir::Node& in = g.node(ir::value_source(g, n, n.inputs[0]));
            if (in.op != Op::input) out[lower::func_name(in)] = Role::dense_input;
        }
        if (n.op != Op::conv2d) continue;
        out[lower::func_name(n)] = Role::activation;  // the forward pass: the same reduction shape
        out[lower::argument_name(n.name + ".weight") + "_f"] = Role::weight;
        out[n.name + "_padded"] = Role::activation;
        out[lower::value_func_name(g.node(n.inputs[0]))] = Role::activation;
    }
    return out;
}

// Per activation that a convolution computes or differentiates (its output, its padded input,
// its input), the bytes of the largest convolution weights read in doing so.
std::map<std::string, int64_t> convolution_weight_bytes(const ir::Graph& g) {
    std::map<std::string, int64_t> out;
    for (const ir::Param& p : g.params) {
        const ir::Node& n = g.node(p.node);
        if (n.op != Op::conv2d || p.role != "weight") continue;
        int64_t bytes = int64_t(sizeof(float));
        for (int64_t e : p.storage_extents()) bytes *= e;
        const std::string input = lower::value_func_name(g.node(n.inputs[0]));
        for (const std::string& base : {lower::func_name(n), n.name + "_padded", input})
            out[base] = std::max(out[base], bytes);
    }
    return out;
}

// Whether stage `name` (of Func `base`) is one of those reductions: a convolution's forward pass
// or a gradient of one of its tensors; a dense layer's forward pass, and the gradient of its input.
bool is_tiled(const std::string& name, const std::string& base, Role role) {
    const bool gradient = name.find("_d_def__") != std::string::npos;
    const bool forward = base.size() > 4 && base.compare(base.size() - 4, 4, "_out") == 0;
    if (role == Role::matrix) return forward && !gradient;
    if (role == Role::dense_input) return gradient;
    return forward || gradient;
}

// Stages that only read buffers (copies of inputs made for autodiff, an adjoint summed from
// buffers): cheaper read in place than copied.
bool is_wrapper(const Internal::Function& fn) {
    return !fn.has_update_definition() && Internal::find_direct_calls(fn).empty();
}

bool is_output(const std::vector<Func>& outputs, const std::string& name) {
    for (const Func& f : outputs)
        if (f.name() == name) return true;
    return false;
}

}  // namespace

namespace {

// Backward-data of a convolution reads weights (co, kx, ky, ci) while vectorizing over input
// channels: a strided gather per lane. A copy of the weights with ci innermost, made once per step
// for that consumer, turns those into contiguous vector loads. (Measured alone on a shared machine
// it made no clear difference; the channel bounds below, which remove autodiff's clamps around
// these loads, were what cut backward-data threefold. Kept because the loads are contiguous.)
// A reader in `weight_slices` (channel blocks outside the images) copies instead, per task, the
// slice of its block, in the same order: its loads then walk that slice contiguously, where in
// the whole copy they stride by all the channels (ResNet-18's 512 x 512 x 3 x 3: 2 KiB apart).
// Its forward convolutions get such a slice too, in the weights' own order.
void copy_conv_weights(const ir::Graph& g, std::map<std::string, Internal::Function>& stages,
                       const std::map<std::string, LoopLevel>& weight_slices, std::string& log) {
    for (const ir::Param& p : g.params) {
        const ir::Node& n = g.node(p.node);
        if (n.op != Op::conv2d || p.role != "weight") continue;
        // Autodiff works on a copy of the pipeline: its Funcs carry a "$<k>" suffix.
        const std::string base = lower::argument_name(p.name) + "_f";
        for (auto& [wname, wfn] : stages) {
            if (wname != base && wname.rfind(base + "$", 0) != 0) continue;
            Func weight(wfn);
            std::vector<Var> a = weight.args();
            for (auto& [name, fn] : stages) {
                if (name.rfind(base, 0) == 0 || !Internal::find_direct_calls(fn).count(wname))
                    continue;
                const bool gradient = name.find("_d_def__") != std::string::npos;
                auto slice = weight_slices.find(name);
                if (!gradient && slice == weight_slices.end()) continue;
                Func copy = weight.in(Func(fn));
                if (gradient) copy.reorder_storage({a[3], a[0], a[1], a[2]});
                if (slice == weight_slices.end()) {
                    copy.compute_root();
                    log += name + ": reads " + wname + " through a ci-innermost copy\n";
                } else {
                    copy.compute_at(slice->second);
                    log += name + ": reads " + wname + " through a per-task copy of its slice" +
                           (gradient ? ", ci innermost\n" : "\n");
                }
            }
        }
    }
}

// Channel counts are exact for every activation and its gradient. Declaring them lets Halide drop
// the range checks and clamps that autodiff wraps around its scatters (they turned the weight reads
// of backward-data into gathers), and size buffers exactly.
std::map<std::string, int64_t> activation_channels(const ir::Graph& g) {
    std::map<std::string, int64_t> channels{{"input", g.node(g.input).shape[0]}};
    for (const ir::Node& n : g.nodes) {
        if (n.op == Op::input || is_loss(n.op)) continue;
        channels[lower::func_name(n)] = n.shape[0];
        if (!n.inputs.empty()) channels[n.name + "_padded"] = g.input_shape(n)[0];
    }
    return channels;
}

// The width of every activation, and of the region of its padded input that a convolution or a
// pool reads (what its backward-data computes).
std::map<std::string, int64_t> activation_widths(const ir::Graph& g) {
    std::map<std::string, int64_t> widths{{"input", g.node(g.input).shape.width()}};
    for (const ir::Node& n : g.nodes) {
        if (n.op == Op::input || is_loss(n.op) || n.shape.rank != 3) continue;
        widths[lower::func_name(n)] = n.shape.width();
        const Window* w = nullptr;
        if (const auto* conv = std::get_if<Conv2dAttrs>(&n.attrs); conv && n.op == Op::conv2d)
            w = &conv->window;
        if (const auto* pool = std::get_if<PoolAttrs>(&n.attrs)) w = &pool->window;
        if (w)
            widths[n.name + "_padded"] =
                (n.shape.width() - 1) * w->stride_w + (w->kernel_w - 1) * w->dilation_w + 1;
    }
    return widths;
}

void bound_channels(const ir::Graph& g, std::map<std::string, Internal::Function>& stages,
                    std::string& log) {
    const std::map<std::string, int64_t> channels = activation_channels(g);
    for (auto& [name, fn] : stages) {
        auto it = channels.find(base_name(name));
        if (it == channels.end()) continue;
        Func f(fn);
        f.bound(f.args()[0], 0, int(it->second));
        log += name + ": channels bounded to " + std::to_string(it->second) + "\n";
    }
}

}  // namespace

namespace {

// A small kernel (LeNet-5's dense layers at batch 64) can spend more in the thread pool than in
// its loops: with parallel=0 every loop of the kernel runs on the calling thread.
void run_serially(const std::vector<Func>& outputs) {
    std::map<std::string, Internal::Function> stages;
    for (const Func& out : outputs) {
        stages.emplace(out.name(), out.function());
        for (const auto& [name, fn] : Internal::find_transitive_calls(out.function()))
            stages.emplace(name, fn);
    }
    auto serial = [](Internal::Definition& d) {
        for (Internal::Dim& dim : d.schedule().dims())
            if (dim.for_type == Internal::ForType::Parallel)
                dim.for_type = Internal::ForType::Serial;
    };
    for (auto& [name, fn] : stages) {
        serial(fn.definition());
        for (int u = 0; u < int(fn.updates().size()); ++u) serial(fn.update(u));
    }
}

}  // namespace

std::vector<ScheduleParams> training_candidates() {
    std::vector<ScheduleParams> out;
    for (int strip : {2, 4, 8})
        for (int fuse : {0, 1}) out.push_back({{{"strip", strip}, {"fuse_tasks", fuse}}});
    out.push_back({{{"vectors", 1}}});
    out.push_back({{{"image_block", 16}}});
    out.push_back({{{"strip2", 1}}});
    out.push_back({{{"images", 0}}});
    out.push_back({{{"parallel", 0}}});
    out.push_back({{{"registers", 0}}});
    return out;
}

std::string schedule_training_stages(const std::vector<Func>& outputs, const Target& target,
                                     const ir::Graph* graph, const ScheduleParams& params) {
    // GPU targets: every stage in GPU kernels (schedules/gpu/training.cpp).
    if (target.has_gpu_feature()) return gpu::schedule_training_stages(outputs, target, graph);
    std::map<std::string, Internal::Function> stages;
    for (const Func& out : outputs) {
        stages.emplace(out.name(), out.function());
        for (const auto& [name, fn] : Internal::find_transitive_calls(out.function()))
            stages.emplace(name, fn);
    }
    const int full_lanes = cpu::float_lanes(target);
    std::string log;
    // Parameter gradients have the parameter's extents: the strip can cover a kernel row exactly,
    // and few channels (LeNet's 6) get narrower vectors instead of mostly masked wide ones.
    std::map<std::string, Extents> extents;
    std::set<std::string> parameters;
    if (graph) {
        for (const ir::Param& p : graph->params) {
            auto extent = [&](int d) { return p.extents.rank > d ? int(p.extents[d]) : 0; };
            const std::string name = lower::argument_name(p.name) + "_f";
            extents[name] = {extent(0), extent(1), extent(2), extent(p.extents.rank - 1)};
            parameters.insert(name);
        }
        const std::map<std::string, int64_t> widths = activation_widths(*graph);
        for (const auto& [base, channels] : activation_channels(*graph)) {
            auto width = widths.find(base);
            extents[base] = {int(channels), width == widths.end() ? 0 : int(width->second), 0};
        }
        for (const auto& [base, bytes] : convolution_weight_bytes(*graph))
            extents[base].weight_bytes = bytes;
    }
    const std::map<std::string, Role> tiled =
        graph ? tiled_reductions(*graph) : std::map<std::string, Role>{};
    std::map<std::string, LoopLevel> weight_slices;
    for (auto& [name, fn] : stages) {
        Func f(fn);
        if (is_wrapper(fn) && !is_output(outputs, name)) {
            f.compute_inline();
            log += name + ": inline\n";
            continue;
        }
        const std::string base = base_name(name);
        auto known = extents.find(base);
        const Extents e = known == extents.end() ? Extents{} : known->second;
        const int first = e.first;
        const int lanes = first >= full_lanes || first == 0 ? full_lanes : first >= 8 ? 8 : 4;
        f.compute_root();
        vectorize_and_parallelize(f, f.args(), lanes);
        auto role = tiled.find(base);
        const bool tile = role != tiled.end() && is_tiled(name, base, role->second);
        for (int u = 0; u < f.num_update_definitions(); ++u) {
            std::vector<Var> pure = pure_vars_of_update(f, u);
            if (tile)
                tile_update(f, u, pure, lanes, full_lanes, e, role->second, parameters, params,
                            weight_slices);
            else
                vectorize_and_parallelize(f.update(u), pure, lanes);
        }
        log += name + ": compute_root, vectorize innermost pure dimension, parallel outermost" +
               (tile && f.has_update_definition() ? ", updates tiled (tile_update)\n" : "\n");
    }
    if (graph) {
        bound_channels(*graph, stages, log);
        // The sums of register tiles (tile_update) are Funcs of their own now: they read the
        // weights, and so they get the transposed copy.
        for (const Func& out : outputs)
            for (const auto& [name, fn] : Internal::find_transitive_calls(out.function()))
                stages.emplace(name, fn);
        copy_conv_weights(*graph, stages, weight_slices, log);
    }
    if (params.get("parallel", 1) == 0) {
        run_serially(outputs);
        log += "every loop serial (parallel=0)\n";
    }
    return log;
}

}  // namespace cnnc::schedules
