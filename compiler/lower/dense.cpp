// Lowering of the fully connected layer, flatten and reshape.
#include "compiler/lower/lower.h"

namespace cnnc::lower {

using namespace Halide;

// Features are numbered as PyTorch numbers them, c*H*W + y*W + x, so dense weights keep their
// meaning when moved between the two. A dense layer fed by a flatten reads the image-shaped tensor
// directly (lower_graph arranges it): the feature index is then affine in the reduction, which
// keeps the generated gradients plain scatters.
Func dense(const OpInputs& op) {
    const Shape& in = op.shape();
    const Func& weight = op.params.at(0);
    Var o("c"), n("n");
    Func out(func_name(op.node));
    out(o, n) = op.bias() ? Expr((*op.bias())(o)) : Expr(0.0f);
    if (in.rank == 3) {
        const int h = int(in.height()), w = int(in.width());
        RDom r(0, int(in.channels()), 0, w, 0, h, op.node.name + "_r");
        out(o, n) += weight(o, r.x * h * w + r.z * w + r.y) * op.in()(r.x, r.y, r.z, n);
    } else {
        RDom r(0, int(in.elements()), op.node.name + "_r");
        out(o, n) += weight(o, r) * op.in()(r, n);
    }
    return out;
}

namespace {

// Row-major position (c, y, x) <-> linear index, as PyTorch's reshape numbers elements.
struct Coords {
    Expr c, x, y;
};

Coords unflatten(Expr i, const Shape& s) {
    if (s.rank == 1) return {i, 0, 0};
    const int h = int(s.height()), w = int(s.width());
    return {i / (h * w), i % w, (i / w) % h};
}

}  // namespace

// A scatter from every input element to its place in the output: the output index may need
// division, but the input is read at the reduction's own coordinates, so autodiff only gathers.
Func reshape_to(const OpInputs& op, const Shape& to) {
    const Shape& from = op.shape();
    std::vector<Var> at = activation_vars(to);
    Func out(func_name(op.node));
    out(at) = 0.0f;
    Var n("n");
    if (from.rank == 3) {
        RDom r(0, int(from.channels()), 0, int(from.width()), 0, int(from.height()),
               op.node.name + "_r");
        Expr linear = (r.x * int(from.height()) + r.z) * int(from.width()) + r.y;
        Coords t = unflatten(linear, to);
        std::vector<Expr> lhs = to.rank == 3 ? std::vector<Expr>{t.c, t.x, t.y, n}
                                             : std::vector<Expr>{t.c, n};
        out(lhs) = op.in()(r.x, r.y, r.z, n);
    } else {
        RDom r(0, int(from.elements()), op.node.name + "_r");
        Coords t = unflatten(r.x, to);
        std::vector<Expr> lhs = to.rank == 3 ? std::vector<Expr>{t.c, t.x, t.y, n}
                                             : std::vector<Expr>{t.c, n};
        out(lhs) = op.in()(r.x, n);
    }
    return out;
}

Func flatten(const OpInputs& op) { return reshape_to(op, op.node.shape); }

Func reshape(const OpInputs& op) { return reshape_to(op, std::get<ReshapeAttrs>(op.node.attrs).shape); }

}  // namespace cnnc::lower
