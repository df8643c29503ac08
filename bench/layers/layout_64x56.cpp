// Layout-copy baseline of the layer benchmark: NCHW in and out of a ReLU on 64x56x56 values.
#include "bench_layer.h"

constexpr cnnc::Model layout_64x56() {
    return cnnc::bench::layout_model("layout_64x56", 64, 56);
}
static_assert(layout_64x56().output_shape() == cnnc::Shape{64, 56, 56});

CNNC_MODEL(layout_64x56)
