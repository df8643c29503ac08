// SqueezeNet 1.1 as torchvision 0.14 builds it (Iandola et al. 2016, the cheaper 1.1 revision).
#pragma once

#include "common.h"

namespace cnnc::arch {

// The fire module: a 1x1 squeeze, then 1x1 and 3x3 expansions side by side, each rectified.
constexpr Tensor fire(Tensor x, int squeeze, int expand1x1, int expand3x3, const Name& name) {
    x = conv2d(x, {.filters = squeeze, .kernel = 1, .name = path(name, "squeeze").view()});
    x = relu(x, path(name, "squeeze_activation").view());
    Tensor e1 = conv2d(x, {.filters = expand1x1, .kernel = 1,
                           .name = path(name, "expand1x1").view()});
    e1 = relu(e1, path(name, "expand1x1_activation").view());
    Tensor e3 = conv2d(x, {.filters = expand3x3, .kernel = 3, .padding = torch_padding,
                           .pads = pad(1), .name = path(name, "expand3x3").view()});
    e3 = relu(e3, path(name, "expand3x3_activation").view());
    return concat({e1, e3}, path(name, "concat").view());
}

// 3x224x224 -> 1000 classes; 1,235,496 parameters. The classifier is a 1x1 convolution to one
// map per class, averaged over the image.
constexpr Model squeezenet1_1() {
    Model m("squeezenet1_1");
    Tensor x = m.input({3, 224, 224});
    x = relu(conv2d(x, {.filters = 64, .kernel = 3, .stride = 2, .name = "features_0"}),
             "features_1");
    x = max_pool_ceil(x, 3, 2, 0, "features_2");
    x = fire(x, 16, 64, 64, path("features", 3));
    x = fire(x, 16, 64, 64, path("features", 4));
    x = max_pool_ceil(x, 3, 2, 0, "features_5");
    x = fire(x, 32, 128, 128, path("features", 6));
    x = fire(x, 32, 128, 128, path("features", 7));
    x = max_pool_ceil(x, 3, 2, 0, "features_8");
    x = fire(x, 48, 192, 192, path("features", 9));
    x = fire(x, 48, 192, 192, path("features", 10));
    x = fire(x, 64, 256, 256, path("features", 11));
    x = fire(x, 64, 256, 256, path("features", 12));
    x = dropout(x, 0.5f, "classifier_0");
    x = relu(conv2d(x, {.filters = 1000, .kernel = 1, .name = "classifier_1"}), "classifier_2");
    x = flatten(global_avg_pool(x, "classifier_3"), "flatten");
    softmax_cross_entropy(x);
    return m;
}

}  // namespace cnnc::arch
