// Benchmark layer: the ResNet stem, 7x7 stride-2 pad-3 convolution, 3 -> 64 channels at 224x224.
#include "bench_layer.h"

constexpr cnnc::Model layer_stem7x7s2_3x224() {
    return cnnc::bench::conv_layer_model(
        {.name = "layer_stem7x7s2_3x224", .in_channels = 3, .size = 224, .filters = 64,
         .kernel = 7, .stride = 2, .pad = 3});
}
static_assert(layer_stem7x7s2_3x224().output_shape() == cnnc::Shape{64, 112, 112});

CNNC_MODEL(layer_stem7x7s2_3x224)
