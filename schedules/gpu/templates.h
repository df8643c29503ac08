// GPU (CUDA) schedule templates: inference kernels per op family, and the training step's stages.
#pragma once

#include <Halide.h>

#include <string>
#include <vector>

#include "compiler/ir/graph.h"
#include "compiler/lower/inference.h"

namespace cnnc::schedules::gpu {

// Every template computes its Func once (compute_root) in GPU kernels: each stage, pure and
// update, gets a grid of blocks over its pure dimensions and a block of threads, and its
// reduction runs serially inside each thread, so the accumulator stays in a register. Nothing is
// left on the host: a stage without GPU loops would run on the CPU and copy its buffer over.
//
// Given a target without a GPU feature the templates build the same loop nests with the blocks
// parallel on the host and the threads serial: schedules::schedule_* never do that (they use
// the CPU templates there), but tests do, to run the GPU loop structure (tiles, guards, register
// accumulators, bounds) on machines without a GPU and compare it with the CPU schedule.

// Direct convolution over (c, x, y, n): a warp of output channels x a few tiles of 4 pixels of a
// row per block (each thread unrolls its 4 pixels: 4 accumulators share every weight load);
// blocks over channel blocks, pixel tiles, rows and images.
void schedule_conv2d(Halide::Func conv, const ir::Node& node, const Halide::Target& target);

// Transposed convolution (lower::transposed_conv2d): its <name>_taps reduction tiled like the
// convolution (taps unrolled in each thread), then the bias and the scatter of the taps, whose
// threads and blocks only span output channels and images (no two of them write one pixel).
void schedule_transposed_conv2d(Halide::Func conv, const ir::Node& node,
                                const Halide::Target& target);

// Pooling and other windows without a reduction stage (max, average, L2, global): one output
// per thread, channels across the threads of a warp.
void schedule_pool(Halide::Func pool, const ir::Node& node, const Halide::Target& target);

// A point-wise value computed once for several readers (a ResNet block's sum): tiled like a pool
// ((c, x, y, n)) or over features and images ((f, n)).
void schedule_elementwise(Halide::Func f, const ir::Node& node, const Halide::Target& target);

// Dense layer: a warp of output features x a few images per block, each thread 4 images
// (unrolled: each weight load feeds 4 accumulators), the input-feature reduction serial inside.
void schedule_dense(Halide::Func dense, const ir::Node& node, const Halide::Target& target);

// One stage of any Func on the GPU: threads over pure[0] (and pure[1]), extents first / second
// when known (0: not), blocks over the remaining pure dimensions fused into one grid dimension,
// the reduction serial inside each thread; with no pure dimension, one GPU thread.
void schedule_stage(Halide::Stage s, const Halide::Target& target,
                    const std::vector<Halide::Var>& pure,
                    const std::vector<Halide::RVar>& reduction, int64_t first_extent,
                    int64_t second_extent);

// The pure dimensions of update `update`: its args that are the definition's own variables.
std::vector<Halide::Var> pure_vars_of_update(const Halide::Func& f, int update);

// Any other Func (softmax, reshapes, folded scales): computed once, threads over its first
// pure dimensions (first_extent / second_extent when known, 0 when not), blocks over the rest,
// in every update too; a stage with no pure dimension runs on one GPU thread.
void schedule_generic(Halide::Func f, const Halide::Target& target, int64_t first_extent = 0,
                      int64_t second_extent = 0);

// The op family's template for one node's Func (element-wise ops are inlined into consumers).
void schedule_node(Halide::Func f, const ir::Node& node, const Halide::Target& target);

// Every stage of one inference kernel on the GPU, as schedules::schedule_kernel chooses on the
// CPU: point-wise nodes inlined, a folded batch norm scheduled as its convolution, a point-wise
// segment output written, class probabilities one thread per image (or pixel).
void schedule_kernel(lower::KernelPipeline& kernel, const ir::Graph& graph,
                     const passes::Segment& segment, const Halide::Target& target);

// Every stage reachable from `outputs` (a training kernel) computed once on the GPU, buffer
// wrappers inlined; returns a description of the choices (see schedules::schedule_training_stages).
std::string schedule_training_stages(const std::vector<Halide::Func>& outputs,
                                     const Halide::Target& target, const ir::Graph* graph);

}  // namespace cnnc::schedules::gpu
