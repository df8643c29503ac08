// Finding convolution + batch norm pairs to fold.
#include "compiler/passes/fold_batch_norm.h"

namespace cnnc::passes {

std::map<int, int> foldable_batch_norms(const ir::Graph& g) {
    std::map<int, int> consumers_of;  // node -> number of consumers
    for (const ir::Node& n : g.nodes)
        for (int i : n.inputs) ++consumers_of[i];
    std::map<int, int> folds;
    for (int b = 0; b < int(g.nodes.size()); ++b) {
        const ir::Node& bn = g.node(b);
        if (bn.op != Op::batch_norm) continue;
        int conv = bn.inputs.at(0);
        if (g.node(conv).op == Op::conv2d && consumers_of[conv] == 1 && g.logits != conv)
            folds[conv] = b;
    }
    return folds;
}

}  // namespace cnnc::passes
