// Benchmark layer: ResNet stage 2's 3x3 convolution, 128 -> 128 channels at 28x28.
#include "bench_layer.h"

constexpr cnnc::Model layer_conv3x3_128x28() {
    return cnnc::bench::conv_layer_model(
        {.name = "layer_conv3x3_128x28", .in_channels = 128, .size = 28, .filters = 128});
}
static_assert(layer_conv3x3_128x28().output_shape() == cnnc::Shape{128, 28, 28});

CNNC_MODEL(layer_conv3x3_128x28)
