// Layout-copy baseline of the layer benchmark: NCHW in and out of a ReLU on 512x7x7 values.
#include "bench_layer.h"

constexpr cnnc::Model layout_512x7() {
    return cnnc::bench::layout_model("layout_512x7", 512, 7);
}
static_assert(layout_512x7().output_shape() == cnnc::Shape{512, 7, 7});

CNNC_MODEL(layout_512x7)
