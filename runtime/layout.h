// Copies between PyTorch's NCHW image layout and cnnc's channels-innermost storage order.
#pragma once

#include <cstdint>

namespace cnnc::runtime {

// n images of `channels` planes of `pixels` values each (C, H*W) into pixels of `channels`
// adjacent values (H*W, C), and back. `from` and `to` must not overlap.
void nchw_to_channels_last(const float* from, float* to, int64_t n, int64_t channels,
                           int64_t pixels);
void channels_last_to_nchw(const float* from, float* to, int64_t n, int64_t channels,
                           int64_t pixels);

}  // namespace cnnc::runtime
