// Shape inference pass: annotates every node with its output shape using the DSL's shape rules.
#pragma once

#include "compiler/ir/graph.h"

namespace cnnc::passes {

// Throws cnnc::ShapeError naming the layer and both shapes when a node cannot take its input.
void infer_shapes(ir::Graph& graph);

// The IR of a DSL model, shapes inferred and verified: what every later stage starts from.
ir::Graph build_graph(const Model& model);

}  // namespace cnnc::passes
