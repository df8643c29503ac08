// Choosing the convolution weights that inference reads packed.
#include "compiler/passes/weight_packing.h"

namespace cnnc::passes {

std::vector<bool> packed_weights(const ir::Graph& g) {
    std::vector<bool> packed(g.params.size(), false);
    for (size_t i = 0; i < g.params.size(); ++i) {
        const ir::Param& p = g.params[i];
        if (p.role != "weight" || p.node < 0 || p.extents.rank != 4) continue;
        const ir::Node& n = g.node(p.node);
        if (n.op != Op::conv2d || std::get<Conv2dAttrs>(n.attrs).groups != 1) continue;
        const int64_t bytes = p.extents.elements() * int64_t(sizeof(float));
        packed[i] = p.extents.dims[0] % packed_lanes == 0 && bytes >= min_packed_bytes;
    }
    return packed;
}

}  // namespace cnnc::passes
