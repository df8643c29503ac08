// Benchmark layer: ResNet stage 4's 3x3 convolution, 512 -> 512 channels at 7x7.
#include "bench_layer.h"

constexpr cnnc::Model layer_conv3x3_512x7() {
    return cnnc::bench::conv_layer_model(
        {.name = "layer_conv3x3_512x7", .in_channels = 512, .size = 7, .filters = 512});
}
static_assert(layer_conv3x3_512x7().output_shape() == cnnc::Shape{512, 7, 7});

CNNC_MODEL(layer_conv3x3_512x7)
