// Partition pass (inference): the graph as a sequence of kernels, one per materialised value.
#pragma once

#include <string>
#include <vector>

#include "compiler/ir/graph.h"

namespace cnnc::passes {

// One kernel call of the inference library: computes the value of node `output` from the values
// of `inputs` (the model input or earlier segments' outputs) and the parameters `params`.
// Point-wise nodes (is_pointwise) between them are recomputed inside the kernel's loops, and a
// convolution's folded batch norm is part of the convolution's segment.
struct Segment {
    int output = -1;
    std::vector<int> nodes;   // lowered inside the kernel, in graph order
    std::vector<int> inputs;  // nodes whose values the kernel reads, in first-use order
    std::vector<int> params;  // Graph::params indices, in the order of `nodes`
    int fused_producer = -1;  // a convolution computed for `output` (a pool or 1x1 conv) inside it
    int epilogue_of = -1;     // the convolution whose activations `output` is (computed per tile)
    bool probabilities = false;  // the last kernel: writes class probabilities, not scores
    std::string signature;       // equal signatures compute the same function: one kernel
    int kernel = -1;             // index into Partition::kernels
};

struct Partition {
    std::vector<Segment> segments;  // in execution order; the last writes the model's output
    std::vector<int> kernels;       // per distinct kernel, the first segment that uses it
};

// Splits the inference graph at every value that is not point-wise (convolutions, pools, dense,
// ...), except a convolution read only by a pool, or a depthwise one read only by a 1x1
// convolution, through its batch norm and activation: that one is part of its consumer's kernel
// (Segment::fused_producer). A convolution read only by its activation (a chain of point-wise
// nodes of its shape, each read once: single-input ones, and a sum joined by one of its inputs)
// is part of the kernel that writes the activation (Segment::epilogue_of): the activation is
// applied once, to each tile the convolution computes, rather than wherever its readers load a
// value. Keeps only what the output needs, and gives
// segments with equal signatures one kernel: ResNet-152's 36 identical blocks of a stage compile
// once. Compiling each kernel as its own Halide pipeline keeps compile time linear in the number of
// distinct layers, where one pipeline for the whole network grows faster than linearly (ResNet-152:
// 525 s).
Partition partition_inference(const ir::Graph& graph);

// The forward pass of the training step, split the same way except that batch norms are not
// folded and each is a value of its own (its batch statistics reduce over its whole input), and
// the last segment writes the class scores the loss reads, and no convolution is fused into its
// consumer's kernel.
Partition partition_training(const ir::Graph& graph);

}  // namespace cnnc::passes
