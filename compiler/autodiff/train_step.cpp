// Generating the training step from the loss with propagate_adjoints.
#include "compiler/autodiff/train_step.h"

#include "compiler/lower/inference.h"
#include "compiler/lower/lower.h"

namespace cnnc::autodiff {

using namespace Halide;

std::vector<Argument> TrainStep::arguments() const {
    std::vector<Argument> args{images, labels, seed};
    for (const ImageParam& p : params) args.push_back(p);
    return args;
}

std::vector<Func> TrainStep::outputs() const {
    std::vector<Func> out{loss, correct};
    out.insert(out.end(), gradients.begin(), gradients.end());
    out.insert(out.end(), updated_state.begin(), updated_state.end());
    return out;
}

namespace {

Region full_region(const Shape& extents) {
    Region r;
    for (int d = 0; d < extents.rank; ++d) r.push_back(Range(0, int(extents[d])));
    return r;
}

}  // namespace

// Labels have the per-sample layout of the loss's targets: a class per sample or per pixel for
// cross-entropy, a float tensor of the output's shape for mean squared error.
ImageParam label_input(const ir::Graph& g) {
    const ir::Node& loss = g.node(g.loss);
    const Shape& out = g.node(g.logits).shape;
    if (loss.op == Op::mse) {
        ImageParam targets(Float(32), out.rank + 1, "labels");
        lower::declare_extents(targets, lower::storage_extents(out), 64);
        return targets;
    }
    std::vector<int64_t> pixel;
    if (out.rank == 3) pixel = {out.width(), out.height()};
    ImageParam labels(Int(32), int(pixel.size()) + 1, "labels");
    lower::declare_extents(labels, pixel, 64);
    return labels;
}

// Samples whose highest class score is their label: zero-dimensional, so no schedule has to
// fit a tile to a small last batch. Not differentiated: it is not part of the loss.
Func correct_count(const ir::Graph& g, const Func& scores, const ImageParam& labels,
                   const Expr& batch) {
    const Shape& out = g.node(g.logits).shape;
    Func correct("correct");
    if (g.node(g.loss).op != Op::softmax_cross_entropy || out.rank != 1) {
        correct() = 0.0f;
        return correct;
    }
    Var n("n");
    RDom k(0, int(out[0]), "correct_k");
    Func best("best_class");
    best(n) = argmax(scores(k, n))[0];
    RDom b(0, batch, "correct_b");
    correct() = sum(select(best(b) == labels(b), 1.0f, 0.0f));
    return correct;
}

TrainStep build_train_step(const ir::Graph& g) {
    if (g.loss < 0) throw std::invalid_argument("model '" + g.name + "' has no loss to train");
    TrainStep t;
    t.images = lower::image_input(g);
    t.labels = label_input(g);
    t.seed.set_estimate(1);
    t.params = lower::parameter_inputs(g, "");

    std::vector<Func> param_funcs;
    for (const ImageParam& p : t.params) param_funcs.push_back(lower::wrap(p, p.name() + "_f"));
    lower::Mode mode;
    mode.training = true;
    mode.seed = t.seed;
    mode.batch = t.images.dim(t.images.dimensions() - 1).extent();
    t.values = lower::lower_graph(g, lower::wrap(t.images, "input"), param_funcs, mode);
    const Shape& out_shape = g.node(g.logits).shape;
    t.correct = correct_count(g, t.values.at(size_t(g.logits)), t.labels, mode.batch);
    t.loss = lower::loss(g.node(g.loss), t.values.at(size_t(g.logits)), out_shape,
                         lower::wrap(t.labels, "labels_f"), mode.batch);

    Derivative d = propagate_adjoints(t.loss);
    for (size_t i = 0; i < t.params.size(); ++i) {
        const ir::Param& p = g.params[i];
        if (!p.learnable) {
            t.state.push_back(int(i));
            t.updated_state.push_back(mode.updated_state.at(int(i)));
            t.updated_state.back().set_estimates(full_region(p.extents));
            continue;
        }
        Func grad = d(param_funcs[i]);
        if (!grad.defined())
            throw std::logic_error("no gradient reaches parameter '" + p.name + "'");
        // A named copy: the output buffer's name in the generated header says what it holds.
        Func named("grad_" + t.params[i].name());
        std::vector<Var> dims = lower::dims_of(p.extents.rank);
        named(dims) = grad(dims);
        named.set_estimates(full_region(p.extents));
        t.learnable.push_back(int(i));
        t.gradients.push_back(named);
    }
    return t;
}

}  // namespace cnnc::autodiff
