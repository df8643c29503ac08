// Batch-norm folding pass (inference): a batch norm fed only by a convolution is folded into it.
#pragma once

#include <map>

#include "compiler/ir/graph.h"

namespace cnnc::passes {

// Convolution node -> the batch norm node folded into it. In inference the batch norm is an affine
// map per channel, so the convolution absorbs it (its sums scaled and biased per output channel,
// lower::fold_batch_norm) and the separate pass over the activations disappears.
std::map<int, int> foldable_batch_norms(const ir::Graph& graph);

}  // namespace cnnc::passes
