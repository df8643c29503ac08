// Generating the training step from the loss with propagate_adjoints.
#include "compiler/autodiff/train_step.h"

#include "compiler/lower/inference.h"
#include "compiler/lower/lower.h"

namespace cnnc::autodiff {

using namespace Halide;

std::vector<Argument> TrainStep::arguments() const {
    std::vector<Argument> args{images, labels, learning_rate, momentum, weight_decay};
    for (const ImageParam& p : params) args.push_back(p);
    for (const ImageParam& v : velocities) args.push_back(v);
    return args;
}

std::vector<Func> TrainStep::outputs() const {
    std::vector<Func> out{loss};
    out.insert(out.end(), new_params.begin(), new_params.end());
    out.insert(out.end(), new_velocities.begin(), new_velocities.end());
    return out;
}

TrainStep build_train_step(const ir::Graph& g) {
    if (g.loss < 0) throw std::invalid_argument("model '" + g.name + "' has no loss to train");
    TrainStep t;
    t.images = lower::image_input(g);
    t.labels = ImageParam(Int(32), 1, "labels");
    t.labels.dim(0).set_estimate(0, 64);
    t.learning_rate.set_estimate(0.01f);
    t.momentum.set_estimate(0.9f);
    t.weight_decay.set_estimate(0.0f);
    t.params = lower::parameter_inputs(g, "");
    t.velocities = lower::parameter_inputs(g, "_velocity");

    std::vector<Func> param_funcs;
    for (const ImageParam& p : t.params) param_funcs.push_back(lower::wrap(p, p.name() + "_f"));
    t.values = lower::lower_graph(g, lower::wrap(t.images, "input"), param_funcs);
    const Expr batch = t.images.dim(t.images.dimensions() - 1).extent();
    t.loss = lower::softmax_cross_entropy(t.values.at(size_t(g.logits)),
                                          g.node(g.logits).shape.elements(),
                                          lower::wrap(t.labels, "labels_f"), batch);

    Derivative d = propagate_adjoints(t.loss);
    for (size_t i = 0; i < t.params.size(); ++i) {
        const ImageParam& w = t.params[i];
        Func grad = d(param_funcs[i]);
        if (!grad.defined())
            throw std::logic_error("no gradient reaches parameter '" + g.params[i].name + "'");
        std::vector<Var> at = lower::dims_of(w.dimensions());
        Func velocity(w.name() + "_new_velocity");
        velocity(at) = t.momentum * t.velocities[i](at) + grad(at) + t.weight_decay * w(at);
        Func updated(w.name() + "_updated");
        updated(at) = w(at) - t.learning_rate * velocity(at);
        t.gradients.push_back(grad);
        t.new_params.push_back(updated);
        t.new_velocities.push_back(velocity);
    }
    for (size_t i = 0; i < t.params.size(); ++i) {
        Region extents;
        for (int dim = 0; dim < t.params[i].dimensions(); ++dim)
            extents.push_back(Range(0, int(g.params[i].extents[dim])));
        t.new_params[i].set_estimates(extents);
        t.new_velocities[i].set_estimates(extents);
    }
    return t;
}

}  // namespace cnnc::autodiff
