// Benchmark layer: ResNet stage 1's 3x3 convolution, 64 -> 64 channels at 56x56.
#include "bench_layer.h"

constexpr cnnc::Model layer_conv3x3_64x56() {
    return cnnc::bench::conv_layer_model(
        {.name = "layer_conv3x3_64x56", .in_channels = 64, .size = 56, .filters = 64});
}
static_assert(layer_conv3x3_64x56().output_shape() == cnnc::Shape{64, 56, 56});

CNNC_MODEL(layer_conv3x3_64x56)
