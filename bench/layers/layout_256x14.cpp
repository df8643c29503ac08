// Layout-copy baseline of the layer benchmark: NCHW in and out of a ReLU on 256x14x14 values.
#include "bench_layer.h"

constexpr cnnc::Model layout_256x14() {
    return cnnc::bench::layout_model("layout_256x14", 256, 14);
}
static_assert(layout_256x14().output_shape() == cnnc::Shape{256, 14, 14});

CNNC_MODEL(layout_256x14)
