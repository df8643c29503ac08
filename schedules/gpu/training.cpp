// The default GPU (CUDA) schedule of the training step's kernels: every stage in GPU kernels.
#include <map>
#include <string>
#include <vector>

#include "compiler/lower/inference.h"
#include "compiler/lower/lower.h"
#include "schedules/called_funcs.h"
#include "schedules/gpu/templates.h"

namespace cnnc::schedules::gpu {

using namespace Halide;

namespace {

// Stages that only read buffers (copies of inputs made for autodiff, an adjoint summed from
// buffers): read in place inside their consumers' kernels rather than copied.
bool is_wrapper(const Internal::Function& fn) {
    return !fn.has_update_definition() && Internal::find_direct_calls(fn).empty();
}

bool is_output(const std::vector<Func>& outputs, const std::string& name) {
    for (const Func& f : outputs)
        if (f.name() == name) return true;
    return false;
}

// Known extents of the first two dimensions of the Funcs (and their derivatives) a stage computes,
// 0 where not known: parameters (their storage extents), activations (channels, width) and the
// padded inputs of convolutions and pools (channels). They size the thread blocks: LeNet's 6
// channels get 6 threads, not a mostly idle warp.
std::map<std::string, std::pair<int64_t, int64_t>> known_extents(const ir::Graph& g) {
    std::map<std::string, std::pair<int64_t, int64_t>> out;
    for (const ir::Param& p : g.params) {
        std::vector<int64_t> e = p.storage_extents();
        out[lower::argument_name(p.name) + "_f"] = {e.at(0), e.size() > 1 ? e[1] : 0};
    }
    auto activation = [](const Shape& s) -> std::pair<int64_t, int64_t> {
        return {s[0], s.rank == 3 ? s.width() : 0};
    };
    out["input"] = activation(g.node(g.input).shape);
    for (const ir::Node& n : g.nodes) {
        if (n.op == Op::input || is_loss(n.op)) continue;
        out[lower::func_name(n)] = activation(n.shape);
        if (!n.inputs.empty()) out[n.name + "_padded"] = {g.input_shape(n)[0], 0};
    }
    return out;
}

// Channel counts are exact for every activation and its gradient. Declaring them lets Halide drop
// the range checks and clamps that autodiff wraps around its scatters, and size buffers exactly
// (as the CPU schedule does).
void bound_channels(const ir::Graph& g, std::map<std::string, Internal::Function>& stages,
                    std::string& log) {
    std::map<std::string, int64_t> channels{{"input", g.node(g.input).shape[0]}};
    for (const ir::Node& n : g.nodes) {
        if (n.op == Op::input || is_loss(n.op)) continue;
        channels[lower::func_name(n)] = n.shape[0];
        if (!n.inputs.empty()) channels[n.name + "_padded"] = g.input_shape(n)[0];
    }
    for (auto& [name, fn] : stages) {
        auto it = channels.find(base_name(name));
        if (it == channels.end()) continue;
        Func f(fn);
        f.bound(f.args()[0], 0, int(it->second));
        log += name + ": channels bounded to " + std::to_string(it->second) + "\n";
    }
}

// Backward-data of a convolution runs its threads over input channels and reads weights
// (co, kx, ky, ci): neighbouring threads would read addresses co x kx x ky floats apart. A copy of
// the weights with ci innermost, made once per step for that consumer (a small kernel of its
// own, threads over ci), makes each warp's weight load one contiguous line.
void transpose_conv_weights(const ir::Graph& g, std::map<std::string, Internal::Function>& stages,
                            const Target& target, std::string& log) {
    for (const ir::Param& p : g.params) {
        const ir::Node& n = g.node(p.node);
        if (n.op != Op::conv2d || p.role != "weight") continue;
        const std::vector<int64_t> e = p.storage_extents();  // co, kx, ky, ci
        const std::string base = lower::argument_name(p.name) + "_f";
        for (auto& [wname, wfn] : stages) {
            if (wname != base && wname.rfind(base + "$", 0) != 0) continue;
            Func weight(wfn);
            for (auto& [name, fn] : stages) {
                if (name.find("_d_def__") == std::string::npos || name.rfind(base, 0) == 0)
                    continue;
                if (!Internal::find_direct_calls(fn).count(wname)) continue;
                std::vector<Var> a = weight.args();
                Func copy = weight.in(Func(fn));
                copy.compute_root().reorder_storage({a[3], a[0], a[1], a[2]});
                schedule_stage(copy, target, {a[3], a[0], a[1], a[2]}, {}, e.at(3), e.at(0));
                log += name + ": reads " + wname + " through a ci-innermost copy\n";
            }
        }
    }
}

}  // namespace

// Every stage of the forward pass, the generated backward pass and the loss computed once
// (compute_root) in GPU kernels, pure definitions and updates alike, each reduction serial inside
// a thread (LLVM keeps its single accumulator in a register).
std::string schedule_training_stages(const std::vector<Func>& outputs, const Target& target,
                                     const ir::Graph* graph) {
    std::map<std::string, Internal::Function> stages;
    for (const Func& out : outputs) {
        stages.emplace(out.name(), out.function());
        for (const auto& [name, fn] : Internal::find_transitive_calls(out.function()))
            stages.emplace(name, fn);
    }
    const std::map<std::string, std::pair<int64_t, int64_t>> extents =
        graph ? known_extents(*graph) : std::map<std::string, std::pair<int64_t, int64_t>>{};
    std::string log;
    for (auto& [name, fn] : stages) {
        Func f(fn);
        // Outputs are written even when they only copy a buffer; the derivative Funcs they copy
        // are computed in kernels of their own like every other stage (the copies exist for a
        // CPU alignment bug, harmless here: one more small kernel per output).
        if (is_wrapper(fn) && !is_output(outputs, name)) {
            f.compute_inline();
            log += name + ": inline\n";
            continue;
        }
        auto known = extents.find(base_name(name));
        const int64_t first = known == extents.end() ? 0 : known->second.first;
        const int64_t second = known == extents.end() ? 0 : known->second.second;
        schedule_generic(f, target, first, second);
        log += name + ": compute_root, GPU threads over the first pure dimensions" +
               (f.num_update_definitions() ? ", reductions serial in each thread" : "") + "\n";
    }
    if (graph) {
        bound_channels(*graph, stages, log);
        transpose_conv_weights(*graph, stages, target, log);
    }
    return log;
}

}  // namespace cnnc::schedules::gpu
