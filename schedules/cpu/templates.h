// CPU schedule templates per op family: chosen by shapes and target, never changing results.
//
// Two parameters the tuner never sets come from schedules::schedule_kernel, for the stage that
// writes the kernel's output, where the model's images are planar (lower::ImageOrder::planar):
// planar=1 where that output is planar (every window and element-wise template reads it: a
// register tile then stores each channel's pixels as one vector, any other such stage is
// vectorized over pixels), and planar_input=1 where the kernel reads the planar model input (a
// convolution computed per output tile then stages its padded input per block of rows).
#pragma once

#include <Halide.h>

#include <optional>

#include "compiler/ir/graph.h"
#include "schedules/records.h"

namespace cnnc::schedules::cpu {

// Lanes of a float vector on the target: 16 with AVX-512, 8 with AVX2, 4 with SSE/NEON.
int float_lanes(const Halide::Target& target);

// Direct convolution over (c, x, y, n). Where the output channels are whole vectors, a register
// tile of channel vectors x pixels of a row sums the whole input-channel x kernel reduction in
// registers (its own Func, computed per tile) and the padded input is computed per row of tasks;
// otherwise the tile accumulates in the output, vectorized over channels or pixels. Rows and
// images run in parallel.
// Parameters: vectors (channel vectors per tile, default 3 with AVX-512, else 2), pixels (per
// tile, 7 with AVX-512), channels_outer (default 0: the loop over channel blocks inside the loop
// over pixel tiles), taps_inner (default 0: the input channels innermost in the reduction; 1:
// the kernel taps innermost, the input channels outside them; ignored for weights read packed,
// passes/weight_packing.h, whose input channels stay innermost), channel_tasks (packed weights
// only, as the kernel's output: 1, the default for 7 rows or fewer, makes blocks of channel
// vectors the tasks, every row of a block inside; 0 keeps rows as the tasks).
// A convolution fused into its consumer's kernel is computed at `at` (a loop of the consumer's
// tasks), with loops of its own serial. A convolution with a batch norm folded in (a pure Func
// scaling its "<name>_sums") is tiled as the output, its sums computed per tile in registers.
void schedule_conv2d(Halide::Func conv, const ir::Node& node, const Halide::Target& target,
                     const ScheduleParams& params = {},
                     const std::optional<Halide::LoopLevel>& at = std::nullopt);

// Whether schedule_conv2d_output computes the convolution per tile of its output (else up front).
bool computed_per_output_tile(Halide::Func conv, const ir::Node& node, const Halide::Target& target,
                              const ScheduleParams& params);

// A convolution whose value the kernel writes, as it is or through `epilogue` (its activation,
// the kernel's output, a pure Func of the convolution's shape). Where its tile is in registers,
// the returned output (the epilogue, else a wrapper, Func::in, or a folded batch norm's scaled
// convolution itself) is tiled as the convolution would
// be, and the convolution, its bias and its whole reduction, is computed per tile of it: one
// parallel loop nest, where computing the convolution itself runs two (the bias, then the sums
// added to it), and the epilogue a third. Parameter wrap=0 (or any other tile) schedules the
// convolution as schedule_conv2d does and the epilogue as an element-wise stage, and returns the
// output.
Halide::Func schedule_conv2d_output(Halide::Func conv, const ir::Node& node,
                                    const Halide::Target& target, const ScheduleParams& params = {},
                                    const std::optional<Halide::Func>& epilogue = std::nullopt);

// Transposed convolution (lower::transposed_conv2d): its <name>_taps reduction tiled in registers
// like a 1x1 convolution, then the bias and the scatter of the taps, all vectorized over output
// channels. Tasks run over channel blocks and images, the only dimensions no two reduction
// iterations of a scatter share (or over rows where channels are too few to split).
void schedule_transposed_conv2d(Halide::Func conv, const ir::Node& node,
                                const Halide::Target& target);

// Pooling: vectorized over channels (or pixels when channels are few), parallel over rows.
// Parameters: as for convolution (default one vector, one pixel). With a `producer` (the
// convolution fused into the pool's kernel, passes::Segment::fused_producer): fuse=1 computes
// the producer per task, a block of `rows` pool rows (default: the producer rows they read fit
// in 256 KB), at the returned loop level; fuse=0 returns none, and the producer is computed
// once, up front, as if it were a kernel of its own. Default: fuse where windows do not overlap.
std::optional<Halide::LoopLevel> schedule_pool(Halide::Func pool, const ir::Node& node,
                                               const Halide::Target& target,
                                               const ScheduleParams& params = {},
                                               const ir::Node* producer = nullptr);

// A point-wise value computed once for several readers (a ResNet block's sum): vectorized like a
// pool, one task per row. Of `params`, only planar is read.
void schedule_elementwise(Halide::Func f, const ir::Node& node, const Halide::Target& target,
                          const ScheduleParams& params = {});

// Dense layer as a matrix product: output features vectorized, the input-feature reduction
// innermost but one, batch in parallel.
// Parameter: vectors (output vectors accumulated together, default 1).
void schedule_dense(Halide::Func dense, const ir::Node& node, const Halide::Target& target,
                    const ScheduleParams& params = {});

// Values computed from the parameters at every call (a folded batch norm's scale and bias per
// channel): once, up front, vectorized over their first dimension and in parallel over their last.
void schedule_precomputed(Halide::Func f, const Halide::Target& target);

// The parameter sets the tuner tries for a node (empty: nothing to tune); the tuner measures the
// template's defaults (empty parameters) besides these. Convolutions also try wrap=0; with the
// convolution fused into the node's kernel (`producer`), they include computing it up front
// (fuse=0) and, for pools, the rows per task.
std::vector<ScheduleParams> candidates(const ir::Node& node, const Halide::Target& target,
                                       const ir::Node* producer = nullptr);

}  // namespace cnnc::schedules::cpu
