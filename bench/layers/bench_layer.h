// One-layer DSL models for the per-layer benchmark: a single convolution with bias and ReLU.
#pragma once

#include <string_view>

#include "dsl/dsl.h"

namespace cnnc::bench {

// The convolution under test. Batch 1, square input and kernel, the same padding on every side.
struct ConvLayer {
    std::string_view name;
    int in_channels = 0;
    int size = 0;  // input height = width
    int filters = 0;
    int kernel = 3;
    int stride = 1;
    int pad = 1;
    int groups = 1;
};

// input -> conv2d (bias) -> relu, and nothing after: with no loss the ReLU's output is the
// model's output, so inference is exactly one kernel (the ReLU fuses into the convolution) and
// no softmax or dense head adds work that the PyTorch side would not do.
constexpr Model conv_layer_model(const ConvLayer& l) {
    Model m(l.name);
    Tensor x = m.input({l.in_channels, l.size, l.size});
    x = conv2d(x, {.filters = l.filters, .kernel = l.kernel, .stride = l.stride,
                   .padding = Padding::explicit_sides, .pads = {l.pad, l.pad, l.pad, l.pad},
                   .groups = l.groups, .bias = true, .name = "conv"});
    relu(x, "relu");
    return m;
}

}  // namespace cnnc::bench
