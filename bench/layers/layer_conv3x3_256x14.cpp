// Benchmark layer: ResNet stage 3's 3x3 convolution, 256 -> 256 channels at 14x14.
#include "bench_layer.h"

constexpr cnnc::Model layer_conv3x3_256x14() {
    return cnnc::bench::conv_layer_model(
        {.name = "layer_conv3x3_256x14", .in_channels = 256, .size = 14, .filters = 256});
}
static_assert(layer_conv3x3_256x14().output_shape() == cnnc::Shape{256, 14, 14});

CNNC_MODEL(layer_conv3x3_256x14)
