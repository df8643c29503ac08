// Layout-copy baseline of the layer benchmark: NCHW in and out of a ReLU on 3x224x224 values.
#include "bench_layer.h"

constexpr cnnc::Model layout_3x224() {
    return cnnc::bench::layout_model("layout_3x224", 3, 224);
}
static_assert(layout_3x224().output_shape() == cnnc::Shape{3, 224, 224});

CNNC_MODEL(layout_3x224)
