// Applying schedule templates to the inference pipeline and the autoscheduler to the training step.
#include "schedules/schedule.h"

#include "schedules/cpu/templates.h"
#include "schedules/gpu/templates.h"

namespace cnnc::schedules {

using namespace Halide;

ParamsFor params_from(const RecordSet& records, const ir::Graph& graph) {
    return [&records, &graph](const ir::Node& n) {
        const std::string key = layer_key(graph, n);
        std::optional<ScheduleParams> p = key.empty() ? std::nullopt : records.find(key);
        return p ? *p : ScheduleParams{};
    };
}

void schedule_node(Func f, const ir::Node& n, const Target& target, const ScheduleParams& p) {
    // GPU targets have templates of their own; the records hold CPU parameters.
    if (target.has_gpu_feature()) return gpu::schedule_node(f, n, target);
    if (is_pointwise(n.op)) {
        // Element-wise stages and re-indexing fuse into their consumer's loops.
        f.compute_inline();
        return;
    }
    switch (n.op) {
        case Op::conv2d:
            cpu::schedule_conv2d(f, n, target, p);
            break;
        case Op::transposed_conv2d:
            cpu::schedule_transposed_conv2d(f, n, target);
            break;
        case Op::max_pool:
            cpu::schedule_pool(f, n, target, p);
            break;
        case Op::dense:
            cpu::schedule_dense(f, n, target, p);
            break;
        // Scatters, reductions and windows over several channels: computed once, up front.
        default:
            f.compute_root();
            break;
    }
}

namespace {

// A convolution that is the kernel's output, or whose activation is (`epilogue`), may be computed
// per tile of a wrapper or of the activation (cpu::schedule_conv2d_output).
Func schedule_output_conv(lower::KernelPipeline& k, Func f, const ir::Node& n, const Target& target,
                          const ScheduleParams& p, const std::optional<Func>& epilogue = {}) {
    Func out = cpu::schedule_conv2d_output(f, n, target, p, epilogue);
    if (out.name() != k.output.name()) lower::replace_output(k, out);
    return out;
}

// The consumer of a fused producer (a pool, or the 1x1 convolution after a depthwise one) and
// where the producer is computed: at the tasks of the loops that compute the consumer, or up
// front where the consumer's parameters say fuse=0.
std::optional<LoopLevel> schedule_consumer(lower::KernelPipeline& k, Func f, const ir::Node& n,
                                           const ir::Node& producer, const Target& target,
                                           const ScheduleParams& p,
                                           const std::optional<Func>& epilogue) {
    if (n.op != Op::conv2d) return cpu::schedule_pool(f, n, target, p, &producer);
    // Its rows are the tasks the producer is computed in.
    ScheduleParams rows = p;
    rows.values["channel_tasks"] = 0;
    Func out = schedule_output_conv(k, f, n, target, rows, epilogue);
    if (p.get("fuse", 1) == 0) return std::nullopt;
    return LoopLevel(cpu::computed_per_output_tile(f, n, target, rows) ? out : f, Var("yn"));
}

}  // namespace

void schedule_kernel(lower::KernelPipeline& k, const ir::Graph& g, const passes::Segment& s,
                     const Target& target, const ParamsFor& params) {
    if (target.has_gpu_feature()) return gpu::schedule_kernel(k, g, s, target);  // no records
    auto params_of = [&](const ir::Node& n) { return params ? params(n) : ScheduleParams{}; };
    // The stage that writes the kernel's output is told when that output is planar, and when the
    // kernel reads the planar model input (cpu/templates.h).
    auto output_params = [&](const ir::Node& n) {
        ScheduleParams p = params_of(n);
        if (k.planar_output && !s.probabilities) p.values["planar"] = 1;
        if (k.planar_input && s.fused_producer < 0) p.values["planar_input"] = 1;
        return p;
    };
    std::optional<LoopLevel> producer_at;
    for (int i : s.nodes) {
        const ir::Node& n = g.node(i);
        if (i == s.fused_producer) continue;  // scheduled last, where its consumer says
        if (i == s.output && s.epilogue_of >= 0) continue;  // scheduled with its convolution
        // A folded batch norm's value is its convolution's Func, scheduled as the convolution.
        bool alias = n.op == Op::batch_norm &&
                     k.values[size_t(i)].name() == k.values[size_t(n.inputs.at(0))].name();
        if (alias) continue;
        const std::optional<Func> epilogue =
            i == s.epilogue_of ? std::optional<Func>(k.output) : std::nullopt;
        const bool consumer =
            s.fused_producer >= 0 &&
            (epilogue || k.values[size_t(i)].name() == k.values[size_t(s.output)].name());
        const bool output = k.values[size_t(i)].name() == k.output.name();
        if (consumer)
            producer_at = schedule_consumer(k, k.values[size_t(i)], n, g.node(s.fused_producer),
                                            target, output_params(n), epilogue);
        else if (epilogue || (output && n.op == Op::conv2d))
            schedule_output_conv(k, k.values[size_t(i)], n, target, output_params(n), epilogue);
        // A point-wise output (a ResNet block's sum, read by two layers) is written, not inlined.
        else if (i == s.output && !s.probabilities && is_pointwise(n.op))
            cpu::schedule_elementwise(k.values[size_t(i)], n, target, output_params(n));
        else
            schedule_node(k.values[size_t(i)], n, target,
                          output ? output_params(n) : params_of(n));
    }
    if (s.fused_producer >= 0) {
        const ir::Node& p = g.node(s.fused_producer);
        cpu::schedule_conv2d(k.values[size_t(s.fused_producer)], p, target, params_of(p),
                             producer_at);
    }
    for (Func f : k.precomputed) cpu::schedule_precomputed(f, target);
    if (s.probabilities)  // a few classes per image: one task per image, too short to vectorize
        k.output.compute_root().parallel(k.output.args().back());
}

void schedule_inference(lower::InferencePipeline& p, const ir::Graph& g, const Target& target,
                        const ParamsFor& params) {
    for (size_t k = 0; k < p.kernels.size(); ++k) {
        const passes::Segment& s = p.partition.segments[size_t(p.partition.kernels[k])];
        schedule_kernel(p.kernels[k], g, s, target, params);
    }
}

}  // namespace cnnc::schedules
