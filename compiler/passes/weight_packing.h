// Which convolution weights the inference kernels read packed in blocks of output channels.
#pragma once

#include <cstdint>
#include <vector>

#include "compiler/ir/graph.h"

namespace cnnc::passes {

// Output channels per packed block (CNNC_PACK_LANES in runtime/plan.h).
inline constexpr int64_t packed_lanes = 16;

// Weights below this stay in the model's layout: they fit a core's L2 cache, where the layout
// made no difference (128->128 3x3, 590 KB: 411 GFLOP/s either way in a JIT probe, where
// 256->256 3x3 went from 295 to 406 and 512->512 3x3 from 208 to 349).
inline constexpr int64_t min_packed_bytes = int64_t(1) << 20;

// Per Graph::params: whether inference reads it packed, (16 channels, ci, kx, ky, co / 16) in
// place of (co, kx, ky, ci). So packed are the weights of ungrouped convolutions whose output
// channels are whole blocks, of at least min_packed_bytes: a register tile's reduction then
// reads each block's weights in one sequential stream, where the model's layout puts the next
// input channel's weights a whole filter bank (co * kx * ky floats) further on.
std::vector<bool> packed_weights(const ir::Graph& graph);

}  // namespace cnnc::passes
