// MobileNet-v2 as torchvision 0.14 builds it (Sandler et al. 2018, width multiplier 1).
#pragma once

#include "common.h"

namespace cnnc::arch {

// torchvision's Conv2dNormActivation with ReLU6: convolution without bias at <name>.0, batch
// norm at <name>.1, padding (kernel - 1) / 2.
constexpr Tensor conv_bn_relu6(Tensor x, int filters, int kernel, int stride, int groups,
                               const Name& name) {
    x = conv2d(x, {.filters = filters, .kernel = kernel, .stride = stride,
                   .padding = torch_padding, .pads = pad((kernel - 1) / 2), .groups = groups,
                   .bias = false, .name = path(name, 0).view()});
    x = batch_norm(x, {.name = path(name, 1).view()});
    return relu6(x, path(name, 2).view());
}

// The inverted residual: 1x1 expansion by `expand` (skipped when 1), 3x3 depthwise convolution,
// linear 1x1 projection; the input is added back when stride and channels are unchanged. The
// sub-layers are numbered in <name>.conv as torchvision's Sequential numbers them.
constexpr Tensor inverted_residual(Tensor x, int filters, int stride, int expand,
                                   const Name& name) {
    int in = int(x.shape().channels());
    int hidden = in * expand;
    int index = 0;
    Tensor y = x;
    if (expand != 1) y = conv_bn_relu6(y, hidden, 1, 1, 1, path(name, "conv", index++));
    y = conv_bn_relu6(y, hidden, 3, stride, hidden, path(name, "conv", index++));
    y = conv2d(y, {.filters = filters, .kernel = 1, .bias = false,
                   .name = path(name, "conv", index++).view()});
    y = batch_norm(y, {.name = path(name, "conv", index).view()});
    if (stride == 1 && in == filters) y = add({x, y}, path(name, "add").view());
    return y;
}

// 3x224x224 -> 1000 classes; 3,504,872 learnable parameters.
constexpr Model mobilenet_v2() {
    // Expansion t, output channels c, repeats n, first stride s (the paper's Table 2).
    struct Stage {
        int t, c, n, s;
    };
    constexpr Stage stages[] = {{1, 16, 1, 1}, {6, 24, 2, 2},  {6, 32, 3, 2}, {6, 64, 4, 2},
                                {6, 96, 3, 1}, {6, 160, 3, 2}, {6, 320, 1, 1}};
    Model m("mobilenet_v2");
    Tensor x = m.input({3, 224, 224});
    int index = 0;
    x = conv_bn_relu6(x, 32, 3, 2, 1, path("features", index++));
    for (const Stage& s : stages)
        for (int i = 0; i < s.n; ++i)
            x = inverted_residual(x, s.c, i == 0 ? s.s : 1, s.t, path("features", index++));
    x = conv_bn_relu6(x, 1280, 1, 1, 1, path("features", index));
    x = flatten(global_avg_pool(x, "avgpool"), "flatten");
    x = dropout(x, 0.2f, "classifier_0");
    softmax_cross_entropy(dense(x, {.units = 1000, .name = "classifier_1"}));
    return m;
}

}  // namespace cnnc::arch
