// Benchmark layer: MobileNet-v2's depthwise 3x3 convolution of features.3, 144 channels at 56x56.
#include "bench_layer.h"

constexpr cnnc::Model layer_dw3x3_144x56() {
    return cnnc::bench::conv_layer_model(
        {.name = "layer_dw3x3_144x56", .in_channels = 144, .size = 56, .filters = 144,
         .groups = 144});
}
static_assert(layer_dw3x3_144x56().output_shape() == cnnc::Shape{144, 56, 56});

CNNC_MODEL(layer_dw3x3_144x56)
