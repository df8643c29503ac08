// Training plan pass: the training step as kernel calls, forward segments, loss, then backward.
#pragma once

#include <string>
#include <vector>

#include "compiler/passes/partition.h"

namespace cnnc::passes {

// A float buffer the step allocates per batch: a segment's value, or one reader's contribution
// to the adjoint (the loss's derivative) of a value. Buffer 0 is the model input.
struct TrainBuffer {
    int node = -1;    // whose value or adjoint it holds
    bool adjoint = false;
    Shape shape;      // per image
    int64_t offset = -1;  // in the step's arena, floats per image (-1: the model input)
};

// One backward kernel: a segment's generated derivative. Segments with the same forward
// signature, number of adjoint contributions and differentiated inputs share it.
struct BackwardKernel {
    int segment = -1;                // the first segment that uses it
    int adjoints = 0;                // contributions summed into the output's adjoint
    std::vector<bool> input_adjoint;  // per Segment::inputs: written (not for the model input,
                                      // nor for values no gradient depends on)
};

struct TrainCall {
    enum class Kind { forward, loss, backward };
    Kind kind = Kind::forward;
    int segment = -1;             // forward and backward
    int kernel = -1;              // forward: Partition::kernels index; backward: backward_kernels
    std::vector<int> inputs;      // buffers read: the segment's input values (loss: the scores)
    std::vector<int> adjoints;    // backward: buffers summed into the output value's adjoint
    std::vector<int> outputs;     // buffers written: the value (forward), the scores' adjoint
                                  // (loss), the differentiated inputs' adjoints (backward)
};

struct TrainPlan {
    Partition partition;  // passes::partition_training
    std::vector<TrainBuffer> buffers;
    std::vector<BackwardKernel> backward_kernels;
    std::vector<TrainCall> calls;   // in execution order
    // Buffers share one arena by live range (first to last call that names them): a value lives
    // until the backward passes of its readers, an adjoint from its writer to its reader.
    int64_t arena_floats = 0;       // per image
};

// Forward calls in partition order, the loss on the class scores, then in reverse order the
// backward of every segment that some gradient depends on. A value read by several segments gets one adjoint buffer per
// reader and its producer's backward sums them, so no call accumulates into another's output.
// Parameters are not listed: a call passes its segment's parameters, and a backward call writes
// the gradients of the learnable ones.
TrainPlan plan_training(const ir::Graph& graph);

// A readable listing of the calls, for --emit=plan.
std::string print(const ir::Graph& graph, const TrainPlan& plan);

}  // namespace cnnc::passes
