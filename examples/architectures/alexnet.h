// AlexNet as torchvision 0.14 builds it (the one-GPU variant of Krizhevsky et al. 2012).
#pragma once

#include "common.h"

namespace cnnc::arch {

// One convolution of features.<index> and its ReLU at features.<index + 1>.
constexpr Tensor alexnet_conv(Tensor x, int index, int filters, int kernel, int stride,
                              int padding) {
    x = conv2d(x, {.filters = filters, .kernel = kernel, .stride = stride,
                   .padding = torch_padding, .pads = pad(padding),
                   .name = path("features", index).view()});
    return relu(x, path("features", index + 1).view());
}

// 3x224x224 -> 1000 classes; 61,100,840 parameters. At 224x224 torchvision's adaptive 6x6
// average pool sees a 6x6 input, an identity, so the features are flattened directly.
constexpr Model alexnet() {
    Model m("alexnet");
    Tensor x = m.input({3, 224, 224});
    x = alexnet_conv(x, 0, 64, 11, 4, 2);
    x = max_pool(x, {.kernel = 3, .stride = 2, .name = "features_2"});
    x = alexnet_conv(x, 3, 192, 5, 1, 2);
    x = max_pool(x, {.kernel = 3, .stride = 2, .name = "features_5"});
    x = alexnet_conv(x, 6, 384, 3, 1, 1);
    x = alexnet_conv(x, 8, 256, 3, 1, 1);
    x = alexnet_conv(x, 10, 256, 3, 1, 1);
    x = max_pool(x, {.kernel = 3, .stride = 2, .name = "features_12"});
    x = flatten(x, "flatten");
    x = dropout(x, 0.5f, "classifier_0");
    x = relu(dense(x, {.units = 4096, .name = "classifier_1"}), "classifier_2");
    x = dropout(x, 0.5f, "classifier_3");
    x = relu(dense(x, {.units = 4096, .name = "classifier_4"}), "classifier_5");
    x = dense(x, {.units = 1000, .name = "classifier_6"});
    softmax_cross_entropy(x);
    return m;
}

}  // namespace cnnc::arch
