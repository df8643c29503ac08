// The default CPU schedule of the training step: every stage of the forward pass, the generated
// backward pass and the loss computed once (compute_root), vectorized over its innermost pure
// dimension and parallel over its outermost one, in every update too.
#include <set>

#include "compiler/lower/inference.h"
#include "compiler/lower/lower.h"
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

// The gradients of a convolution (weights: a sum over pixels and images; backward-data: a sum over
// output channels and taps) keep a register tile of accumulators across their whole reduction:
// lanes of the innermost pure dimension times an unrolled strip of the next, so that independent
// FMAs hide each other's latency. fashion_cnn on 2 cores (profiled, machine shared): backward-data
// of the 32->32 convolution went from 34 ms to 11 ms per batch of 64.
// Tunable (records.h, training_key): strip (the unrolled strip, default the second extent if at
// most 8, else 4), fuse_tasks (1: tasks over the two outermost pure dimensions fused, for more
// tasks than the outermost alone gives; default 0) and registers (0: the tile accumulates in
// memory; default 1, where the tile's vectors are whole).
void tile_update(Func f, int u, const std::vector<Var>& pure, int lanes, int first_extent,
                 int second_extent, const ScheduleParams& params) {
    const std::vector<RVar> rvars = f.rvars(u);
    Stage s = f.update(u);
    if (pure.size() < 2 || rvars.empty()) return vectorize_and_parallelize(s, pure, lanes);
    Var v0 = pure[0], vi(v0.name() + "_vi"), p1 = pure[1], p1i(p1.name() + "_ui");
    int strip = params.get("strip", second_extent > 0 && second_extent <= 8 ? second_extent : 4);
    // The tile's sums in registers, as the inference convolution keeps them
    // (cpu::schedule_conv2d): the reduction factored into a Func computed per tile, its loops
    // unrolled, instead of a load and a store of the accumulator around every FMA. Only for an
    // update over all of the Func's variables (rfactor needs its pure dimensions to be the
    // Func's), the only update (a Func's compute_at names a loop of its last stage), and whole
    // vectors: a partial vector's masked stores defeat the registers, and LeNet-5's 6-channel
    // backward-data took twice as long that way as accumulating in memory.
    const bool in_registers = params.get("registers", 1) != 0 && f.num_update_definitions() == 1 &&
                              pure.size() == f.args().size() && first_extent > 0 &&
                              first_extent % lanes == 0;
    // Lanes of the first dimension times an unrolled strip of the second.
    auto tile = [&](Stage t) {
        t.split(v0, v0, vi, lanes, TailStrategy::GuardWithIf).vectorize(vi);
        t.split(p1, p1, p1i, strip, TailStrategy::GuardWithIf).unroll(p1i);
    };
    std::vector<RVar> tile_rvars = rvars;
    if (in_registers) {
        const Expr extent = f.function().update(u).schedule().rvars().back().extent;
        RVar once("r_once"), whole("r_whole");
        Var v("r_v");
        Func sums = s.split(rvars.back(), once, whole, extent).rfactor(once, v);
        sums.compute_at(f, once);
        tile(sums);
        tile(sums.update());
        std::vector<VarOrRVar> inner{vi, p1i};
        for (size_t i = 0; i + 1 < rvars.size(); ++i) inner.push_back(rvars[i]);
        inner.push_back(whole);
        sums.update().reorder(inner);
        tile_rvars = {once};
    }
    tile(s);
    std::vector<VarOrRVar> order{vi, p1i};
    for (const RVar& r : tile_rvars) order.push_back(r);
    for (const Var& p : pure) order.push_back(p);
    s.reorder(order);
    if (params.get("fuse_tasks", 0) && pure.size() >= 3) {
        Var tasks("tasks");
        s.fuse(pure[pure.size() - 2], pure.back(), tasks).parallel(tasks);
    } else {
        s.parallel(pure.back());
    }
}

// Convolutions and the stages that differentiate them: their weights and (padded) inputs.
std::set<std::string> convolution_gradients(const ir::Graph& g) {
    std::set<std::string> out;
    for (const ir::Node& n : g.nodes) {
        if (n.op != Op::conv2d) continue;
        out.insert(lower::func_name(n));  // the forward pass: the same reduction shape
        out.insert(lower::argument_name(n.name + ".weight") + "_f");
        out.insert(n.name + "_padded");
        out.insert(g.node(n.inputs[0]).op == Op::input ? "input"
                                                        : lower::func_name(g.node(n.inputs[0])));
    }
    return out;
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
void transpose_conv_weights(const ir::Graph& g, std::map<std::string, Internal::Function>& stages,
                            std::string& log) {
    for (const ir::Param& p : g.params) {
        const ir::Node& n = g.node(p.node);
        if (n.op != Op::conv2d || p.role != "weight") continue;
        // Autodiff works on a copy of the pipeline: its Funcs carry a "$<k>" suffix.
        const std::string base = lower::argument_name(p.name) + "_f";
        for (auto& [wname, wfn] : stages) {
            if (wname != base && wname.rfind(base + "$", 0) != 0) continue;
            Func weight(wfn);
            for (auto& [name, fn] : stages) {
                if (name.find("_d_def__") == std::string::npos || name.rfind(base, 0) == 0) continue;
                if (!Internal::find_direct_calls(fn).count(wname)) continue;
                std::vector<Var> a = weight.args();
                weight.in(Func(fn)).compute_root().reorder_storage({a[3], a[0], a[1], a[2]});
                log += name + ": reads " + wname + " through a ci-innermost copy\n";
            }
        }
    }
}

// The Func a stage computes or differentiates: "conv2d_1_padded$1_0_d_def__" -> "conv2d_1_padded".
std::string base_name(const std::string& name) {
    std::string base = name.substr(0, name.find('$'));
    size_t d = base.find("_d_def__");
    if (d != std::string::npos) base = base.substr(0, base.rfind('_', d - 1));
    return base;
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

std::vector<ScheduleParams> training_candidates() {
    std::vector<ScheduleParams> out;
    for (int strip : {2, 4, 8})
        for (int fuse : {0, 1}) out.push_back({{{"strip", strip}, {"fuse_tasks", fuse}}});
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
    std::map<std::string, std::pair<int, int>> extents;
    if (graph) {
        for (const ir::Param& p : graph->params)
            extents[lower::argument_name(p.name) + "_f"] = {
                int(p.extents[0]), p.extents.rank >= 2 ? int(p.extents[1]) : 0};
        for (const auto& [base, channels] : activation_channels(*graph))
            extents[base] = {int(channels), 0};
    }
    const std::set<std::string> conv_grads =
        graph ? convolution_gradients(*graph) : std::set<std::string>{};
    for (auto& [name, fn] : stages) {
        Func f(fn);
        if (is_wrapper(fn) && !is_output(outputs, name)) {
            f.compute_inline();
            log += name + ": inline\n";
            continue;
        }
        const std::string base = base_name(name);
        auto known = extents.find(base);
        const int first = known == extents.end() ? 0 : known->second.first;
        const int second = known == extents.end() ? 0 : known->second.second;
        const int lanes = first >= full_lanes || first == 0 ? full_lanes : first >= 8 ? 8 : 4;
        f.compute_root();
        vectorize_and_parallelize(f, f.args(), lanes);
        const bool tiled = conv_grads.count(base) &&
                           (name.find("_d_def__") != std::string::npos ||
                            base.size() > 4 && base.compare(base.size() - 4, 4, "_out") == 0);
        for (int u = 0; u < f.num_update_definitions(); ++u) {
            std::vector<Var> pure = pure_vars_of_update(f, u);
            if (tiled)
                tile_update(f, u, pure, lanes, first, second, params);
            else
                vectorize_and_parallelize(f.update(u), pure, lanes);
        }
        log += name + ": compute_root, vectorize innermost pure dimension, parallel outermost\n";
    }
    if (graph) {
        bound_channels(*graph, stages, log);
        // The sums of register tiles (tile_update) are Funcs of their own now: they read the
        // weights, and so they get the transposed copy.
        for (const Func& out : outputs)
            for (const auto& [name, fn] : Internal::find_transitive_calls(out.function()))
                stages.emplace(name, fn);
        transpose_conv_weights(*graph, stages, log);
    }
    return log;
}

}  // namespace cnnc::schedules
