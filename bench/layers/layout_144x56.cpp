// Layout-copy baseline of the layer benchmark: NCHW in and out of a ReLU on 144x56x56 values.
#include "bench_layer.h"

constexpr cnnc::Model layout_144x56() {
    return cnnc::bench::layout_model("layout_144x56", 144, 56);
}
static_assert(layout_144x56().output_shape() == cnnc::Shape{144, 56, 56});

CNNC_MODEL(layout_144x56)
