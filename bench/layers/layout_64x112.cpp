// Layout-copy baseline of the layer benchmark: NCHW in and out of a ReLU on 64x112x112 values.
#include "bench_layer.h"

constexpr cnnc::Model layout_64x112() {
    return cnnc::bench::layout_model("layout_64x112", 64, 112);
}
static_assert(layout_64x112().output_shape() == cnnc::Shape{64, 112, 112});

CNNC_MODEL(layout_64x112)
