// Lowering of softmax, log-softmax and the losses.
#include "compiler/lower/lower.h"

namespace cnnc::lower {

using namespace Halide;

namespace {

// Over the channels of each sample (flat) or each pixel (CxHxW). Subtracting the maximum keeps
// exp() in range; it cancels in every result.
struct Normaliser {
    Func max_score, exp_sum;
    std::vector<Var> pixel;  // the args of max_score / exp_sum: (n) or (x, y, n)
};

Normaliser normalise(const Func& logits, const Shape& shape, const std::string& prefix) {
    std::vector<Var> at = activation_vars(shape);
    std::vector<Var> pixel(at.begin() + 1, at.end());
    auto score = [&](Expr k) {
        std::vector<Expr> args(at.begin(), at.end());
        args[0] = k;
        return logits(args);
    };
    std::vector<Expr> scores;
    for (int k = 0; k < int(shape[0]); ++k) scores.push_back(score(k));
    Normaliser s{Func(prefix + "_max"), Func(prefix + "_sum"), pixel};
    s.max_score(pixel) = max_of(scores);
    RDom r(0, int(shape[0]), prefix + "_r");
    s.exp_sum(pixel) = sum(exp(score(r) - s.max_score(pixel)));
    return s;
}

}  // namespace

Func class_probabilities(const Func& logits, const Shape& shape) {
    std::vector<Var> at = activation_vars(shape);
    Normaliser s = normalise(logits, shape, "probabilities");
    Func prob("probabilities");
    prob(at) = exp(logits(at) - s.max_score(s.pixel)) / s.exp_sum(s.pixel);
    return prob;
}

Func softmax(const OpInputs& op) {
    std::vector<Var> at = activation_vars(op.shape());
    Normaliser s = normalise(op.in(), op.shape(), op.node.name);
    Func f(func_name(op.node));
    Expr shifted = op.in()(at) - s.max_score(s.pixel);
    f(at) = op.node.op == Op::softmax ? exp(shifted) / s.exp_sum(s.pixel)
                                      : shifted - log(s.exp_sum(s.pixel));
    return f;
}

namespace {

// Per sample (or pixel): logsumexp - (1 - eps) z_label - eps/K sum_k z_k. A one-hot sum instead
// of a gather keeps the gradient a plain select.
Func cross_entropy(const ir::Node& node, const Func& logits, const Shape& shape,
                   const Func& labels, const Expr& batch) {
    const float smoothing = std::get<LossAttrs>(node.attrs).label_smoothing;
    const int classes = int(shape[0]);
    Normaliser s = normalise(logits, shape, "xent");
    std::vector<Expr> pixel(s.pixel.begin(), s.pixel.end());
    RDom k(0, classes, "xent_k");
    std::vector<Expr> at_k = pixel;
    at_k.insert(at_k.begin(), Expr(k));
    Expr label = labels(pixel);
    Func per_pixel("xent_per_pixel");
    per_pixel(s.pixel) = s.max_score(s.pixel) + log(s.exp_sum(s.pixel)) -
                         sum(select(label == k, 1.0f - smoothing, 0.0f) * logits(at_k) +
                             (smoothing / float(classes)) * logits(at_k));
    Func loss("loss");
    if (shape.rank == 1) {
        RDom b(0, batch, "xent_batch");
        loss() = sum(per_pixel(b)) / cast<float>(batch);
    } else {
        RDom b(0, int(shape.width()), 0, int(shape.height()), 0, batch, "xent_batch");
        loss() = sum(per_pixel(b.x, b.y, b.z)) / (cast<float>(batch) * float(shape.width() * shape.height()));
    }
    return loss;
}

Func mean_squared_error(const Func& output, const Shape& shape, const Func& targets,
                        const Expr& batch) {
    Func loss("loss");
    if (shape.rank == 3) {
        RDom r(0, int(shape.channels()), 0, int(shape.width()), 0, int(shape.height()), 0, batch,
               "mse_r");
        Expr d = output(r.x, r.y, r.z, r.w) - targets(r.x, r.y, r.z, r.w);
        loss() = sum(d * d) / (cast<float>(batch) * float(shape.elements()));
    } else {
        RDom r(0, int(shape.elements()), 0, batch, "mse_r");
        Expr d = output(r.x, r.y) - targets(r.x, r.y);
        loss() = sum(d * d) / (cast<float>(batch) * float(shape.elements()));
    }
    return loss;
}

}  // namespace

Func loss(const ir::Node& node, const Func& output, const Shape& shape, const Func& labels,
          const Expr& batch) {
    if (node.op == Op::mse) return mean_squared_error(output, shape, labels, batch);
    return cross_entropy(node, output, shape, labels, batch);
}

}  // namespace cnnc::lower
