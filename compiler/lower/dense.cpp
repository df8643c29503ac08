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

// A dense layer reads an image-shaped input directly, with the flattened feature index computed
// from the reduction's (c, x, y): every access stays affine in the reduction variables, which
// keeps the generated gradients plain scatters (div/mod indexing would not be).
Func dense(const ir::Node& node, const Shape& in_shape, const Func& in, const Func& weight,
           const std::optional<Func>& bias) {
    Var o("c"), n("n");
    Func out(node.name);
    out(o, n) = bias ? Expr((*bias)(o)) : Expr(0.0f);
    if (in_shape.rank == 3) {
        const int c = int(in_shape.channels()), h = int(in_shape.height()),
                  w = int(in_shape.width());
        RDom r(0, c, 0, w, 0, h, node.name + "_r");
        out(o, n) += weight(o, r.x * h * w + r.z * w + r.y) * in(r.x, r.y, r.z, n);
    } else {
        RDom r(0, int(in_shape.elements()), node.name + "_r");
        out(o, n) += weight(o, r) * in(r, n);
    }
    return out;
}

}  // namespace cnnc::lower
