// Layout-copy baseline of the layer benchmark: NCHW in and out of a ReLU on 128x28x28 values.
#include "bench_layer.h"

constexpr cnnc::Model layout_128x28() {
    return cnnc::bench::layout_model("layout_128x28", 128, 28);
}
static_assert(layout_128x28().output_shape() == cnnc::Shape{128, 28, 28});

CNNC_MODEL(layout_128x28)
