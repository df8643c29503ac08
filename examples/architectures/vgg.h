// VGG-16 with and without batch normalisation, as torchvision 0.14 builds them (configuration D).
#pragma once

#include "common.h"

namespace cnnc::arch {

// Configuration D: channels of the 3x3 convolutions, 0 for a 2x2 max pool.
inline constexpr int vgg16_layers[] = {64, 64,  0,   128, 128, 0,   256, 256, 256,
                                       0,  512, 512, 512, 0,   512, 512, 512, 0};

// torchvision's make_layers: features.<i> numbers every module in order, so a convolution with
// batch norm takes three indices (conv, bn, relu) and one without takes two.
constexpr Tensor vgg_features(Tensor x, bool batch_norm_after_conv) {
    int index = 0;
    for (int filters : vgg16_layers) {
        if (filters == 0) {
            x = max_pool(x, {.kernel = 2, .name = path("features", index++).view()});
            continue;
        }
        x = conv2d(x, {.filters = filters, .kernel = 3, .padding = torch_padding, .pads = pad(1),
                       .name = path("features", index++).view()});
        if (batch_norm_after_conv) x = batch_norm(x, {.name = path("features", index++).view()});
        x = relu(x, path("features", index++).view());
    }
    return x;
}

// The classifier on the flattened 512x7x7 features (torchvision's adaptive 7x7 pool is an
// identity at 224x224).
constexpr Tensor vgg_classifier(Tensor x, int classes) {
    x = flatten(x, "flatten");
    x = relu(dense(x, {.units = 4096, .name = "classifier_0"}), "classifier_1");
    x = dropout(x, 0.5f, "classifier_2");
    x = relu(dense(x, {.units = 4096, .name = "classifier_3"}), "classifier_4");
    x = dropout(x, 0.5f, "classifier_5");
    return dense(x, {.units = classes, .name = "classifier_6"});
}

// 3x224x224 -> 1000 classes; 138,357,544 parameters.
constexpr Model vgg16() {
    Model m("vgg16");
    softmax_cross_entropy(vgg_classifier(vgg_features(m.input({3, 224, 224}), false), 1000));
    return m;
}

// 3x224x224 -> 1000 classes; 138,365,992 learnable parameters.
constexpr Model vgg16_bn() {
    Model m("vgg16_bn");
    softmax_cross_entropy(vgg_classifier(vgg_features(m.input({3, 224, 224}), true), 1000));
    return m;
}

}  // namespace cnnc::arch
