// Lowering of element-wise activations.
#include "compiler/lower/lower.h"

namespace cnnc::lower {

using namespace Halide;

Func relu(const ir::Node& node, const Func& in) {
    Func out(node.name);
    out(in.args()) = max(in(in.args()), 0.0f);
    return out;
}

}  // namespace cnnc::lower
