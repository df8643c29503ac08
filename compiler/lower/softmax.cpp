// Lowering of softmax and of the softmax cross-entropy loss.
#include "compiler/lower/lower.h"

namespace cnnc::lower {

using namespace Halide;

namespace {

// Subtracting the per-sample maximum keeps exp() in range; it cancels in every result.
struct Normaliser {
    Func max_score, exp_score, exp_sum;
};

// A balanced tree of max() over classes [lo, hi): a pure expression, because Halide's autodiff
// cannot differentiate a max-reduction update.
Expr max_over(const Func& logits, const Var& n, int lo, int hi) {
    if (hi - lo == 1) return logits(lo, n);
    int mid = (lo + hi) / 2;
    return max(max_over(logits, n, lo, mid), max_over(logits, n, mid, hi));
}

Normaliser normalise(const Func& logits, int64_t classes, const std::string& prefix) {
    Var k("c"), n("n");
    RDom r(0, int(classes), prefix + "_r");
    Normaliser s{Func(prefix + "_max"), Func(prefix + "_exp"), Func(prefix + "_sum")};
    s.max_score(n) = max_over(logits, n, 0, int(classes));
    s.exp_score(k, n) = exp(logits(k, n) - s.max_score(n));
    s.exp_sum(n) = sum(s.exp_score(r, n));
    return s;
}

}  // namespace

Func softmax(const Func& logits, int64_t classes) {
    Var k("c"), n("n");
    Normaliser s = normalise(logits, classes, "softmax");
    Func prob("probabilities");
    prob(k, n) = s.exp_score(k, n) / s.exp_sum(n);
    return prob;
}

Func softmax_cross_entropy(const Func& logits, int64_t classes, const Func& labels,
                           const Expr& batch) {
    Var n("n");
    Normaliser s = normalise(logits, classes, "xent");
    RDom k(0, int(classes), "xent_k");
    // A one-hot sum instead of a gather keeps the gradient a plain select.
    Func picked("xent_picked");
    picked(n) = sum(select(labels(n) == k, logits(k, n), 0.0f));
    Func per_sample("xent_per_sample");
    per_sample(n) = s.max_score(n) + log(s.exp_sum(n)) - picked(n);
    RDom b(0, batch, "xent_batch");
    Func loss("loss");
    loss() = sum(per_sample(b)) / cast<float>(batch);
    return loss;
}

}  // namespace cnnc::lower
