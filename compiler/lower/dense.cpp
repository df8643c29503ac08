// Lowering of flatten and of the fully connected layer.
#include "compiler/lower/lower.h"

namespace cnnc::lower {

using namespace Halide;

// Features are numbered as PyTorch numbers them, c*H*W + y*W + x, so dense weights keep their
// meaning when moved between the two.
Func flatten(const ir::Node& node, const Shape& in_shape, const Func& in) {
    Var f("c"), n("n");
    Func out(node.name);
    if (in_shape.rank == 1) {
        out(f, n) = in(f, n);
        return out;
    }
    const int w = int(in_shape.width()), h = int(in_shape.height());
    out(f, n) = in(f / (w * h), f % w, (f / w) % h, n);
    return out;
}

Func dense(const ir::Node& node, const Shape& in_shape, const Func& in, const Func& weight,
           const std::optional<Func>& bias) {
    Var o("c"), n("n");
    RDom r(0, int(in_shape.elements()), node.name + "_r");
    Func out(node.name);
    out(o, n) = bias ? Expr((*bias)(o)) : Expr(0.0f);
    out(o, n) += weight(o, r) * in(r, n);
    return out;
}

}  // namespace cnnc::lower
