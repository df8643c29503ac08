// The training step's kernels: each segment's forward pass, the loss, and each segment's
// generated backward pass, as Halide pipelines of their own (calls ordered by passes::TrainPlan).
#pragma once

#include <Halide.h>

#include <string>
#include <vector>

#include "compiler/passes/train_plan.h"

namespace cnnc::autodiff {

// One kernel: its arguments and outputs in calling order (outputs follow the arguments).
struct TrainKernel {
    std::vector<Halide::Argument> arguments;
    std::vector<Halide::Func> outputs;
    // The parameter behind each argument, for binding values when run with the JIT (tests).
    std::vector<Halide::Internal::Parameter> parameters;
};

// Arguments: the segment's input values (c, x, y, n) or (f, n), its parameters, then the step's
// seed when the segment draws dropout masks. Outputs: its value, then the updated running
// statistics of its non-learnable parameters (batch norm), in Segment::params order.
TrainKernel forward_kernel(const ir::Graph& graph, const passes::Segment& segment);

// Arguments: the class scores and the labels. Outputs: the mean loss and the correctly
// classified samples (zero-dimensional), then the loss's derivative by the scores.
TrainKernel loss_kernel(const ir::Graph& graph);

// Arguments: the forward kernel's, then the adjoint contributions of the segment's value (their
// sum is the loss's derivative by the value). Outputs: the adjoints of the inputs marked in
// `backward.input_adjoint`, then the gradients of the learnable parameters in Segment::params
// order. The segment's point-wise stages are recomputed from its inputs, not stored.
TrainKernel backward_kernel(const ir::Graph& graph, const passes::Segment& segment,
                            const passes::BackwardKernel& backward);

// Whether the segment's kernels take the seed argument.
bool uses_seed(const ir::Graph& graph, const passes::Segment& segment);

// Exported symbol names: "<model>_tf<k>", "<model>_tb<k>", "<model>_tloss".
std::string forward_kernel_name(const ir::Graph& graph, size_t k);
std::string backward_kernel_name(const ir::Graph& graph, size_t k);
std::string loss_kernel_name(const ir::Graph& graph);

}  // namespace cnnc::autodiff
