// The copy from PyTorch's NCHW image layout into cnnc's channels-innermost storage order.
#pragma once

#include <cstdint>
#include <functional>

namespace cnnc::runtime {

// Runs body(i) for every i in [0, count), in any order, possibly several at once.
using TaskBody = std::function<void(int64_t)>;
using ParallelFor = std::function<void(int64_t count, const TaskBody& body)>;

// The plain loop: every task in turn on the calling thread.
void serial_for(int64_t count, const TaskBody& body);

// n images of `channels` planes of `pixels` values each (C, H*W) into pixels of `channels`
// adjacent values (H*W, C). `from` and `to` must not overlap. The copy is split into tasks of
// whole blocks, which `parallel` runs. Copies of 256 KB and more use streaming stores: the
// destination is not left in the caches (it is a pipeline's input, read next on any core).
// The training step takes its images so (`gradients`); the model program's inference reads and
// writes NCHW itself (lower::ImageOrder::planar).
void nchw_to_channels_last(const float* from, float* to, int64_t n, int64_t channels,
                           int64_t pixels, const ParallelFor& parallel = serial_for);

}  // namespace cnnc::runtime
