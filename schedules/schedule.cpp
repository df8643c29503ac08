// Applying schedule templates to the inference pipeline and the autoscheduler to the training step.
#include "schedules/schedule.h"

#include "schedules/cpu/templates.h"

namespace cnnc::schedules {

using namespace Halide;

void schedule_node(Func f, const ir::Node& n, const Target& target) {
    switch (n.op) {
        case Op::conv2d: cpu::schedule_conv2d(f, n, target); break;
        case Op::max_pool: cpu::schedule_pool(f, n, target); break;
        case Op::dense: cpu::schedule_dense(f, n, target); break;
        // Element-wise stages and re-indexing fuse into their consumer's loops.
        case Op::relu:
        case Op::relu6:
        case Op::leaky_relu:
        case Op::elu:
        case Op::sigmoid:
        case Op::tanh:
        case Op::add:
        case Op::concat:
        case Op::zero_pad:
        case Op::dropout:
        case Op::batch_norm: f.compute_inline(); break;
        // Scatters, reductions and windows over several channels: computed once, up front.
        case Op::flatten:
        case Op::reshape:
        case Op::transposed_conv2d:
        case Op::avg_pool:
        case Op::l2_pool:
        case Op::global_avg_pool:
        case Op::global_max_pool:
        case Op::softmax:
        case Op::log_softmax: f.compute_root(); break;
        case Op::input:
        case Op::softmax_cross_entropy:
        case Op::mse: break;
    }
}

void schedule_inference(lower::InferencePipeline& p, const ir::Graph& g, const Target& target) {
    for (size_t i = 0; i < g.nodes.size(); ++i) {
        // A folded batch norm's value is its convolution's Func, already scheduled.
        bool alias = g.nodes[i].op == Op::batch_norm && p.values[i].defined() &&
                     p.values[i].name() == p.values[size_t(g.nodes[i].inputs.at(0))].name();
        if (!alias) schedule_node(p.values[i], g.nodes[i], target);
    }
    for (Func f : p.precomputed) f.compute_root();
    // A few classes per image: one task per image, the class loop is too short to vectorize.
    p.output.compute_root().parallel(p.output.args().back());
}

std::string schedule_train_step(autodiff::TrainStep& t, const ir::Graph& g, const Target& target) {
    return schedule_training_stages(t.outputs(), target, &g);
}

}  // namespace cnnc::schedules
