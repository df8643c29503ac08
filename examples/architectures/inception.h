// GoogLeNet (Inception v1) and Inception v3 as torchvision 0.14 builds them, without the
// auxiliary classifiers (aux_logits=False).
#pragma once

#include "common.h"

namespace cnnc::arch {

// Kernel, stride and padding of one BasicConv2d; kernel_w and pad_w default to the square ones.
struct ConvGeometry {
    int kernel = 1;
    int kernel_w = 0;
    int stride = 1;
    int pad = 0;
    int pad_w = -1;
};

// torchvision's BasicConv2d of both networks: convolution without bias, batch norm with
// epsilon 0.001, ReLU; the module's tensors live at <name>.conv and <name>.bn.
constexpr Tensor basic_conv(Tensor x, int filters, ConvGeometry g, const Name& name) {
    x = conv2d(x, {.filters = filters, .kernel = g.kernel, .kernel_w = g.kernel_w,
                   .stride = g.stride, .padding = torch_padding,
                   .pads = pad(g.pad, g.pad_w < 0 ? g.pad : g.pad_w), .bias = false,
                   .name = path(name, "conv").view()});
    x = batch_norm(x, {.epsilon = 0.001f, .name = path(name, "bn").view()});
    return relu(x, path(name, "relu").view());
}

// --- GoogLeNet --------------------------------------------------------------------------------

// Szegedy et al.'s module as torchvision has it: its "5x5" branch (branch3) is a 3x3
// convolution, a slip kept for compatibility with the published weights.
struct InceptionV1 {
    int ch1x1, ch3x3red, ch3x3, ch5x5red, ch5x5, pool_proj;
};

constexpr Tensor inception_v1(Tensor x, InceptionV1 c, std::string_view name) {
    Tensor b1 = basic_conv(x, c.ch1x1, {}, path(name, "branch1"));
    Tensor b2 = basic_conv(x, c.ch3x3red, {}, path(name, "branch2", 0));
    b2 = basic_conv(b2, c.ch3x3, {.kernel = 3, .pad = 1}, path(name, "branch2", 1));
    Tensor b3 = basic_conv(x, c.ch5x5red, {}, path(name, "branch3", 0));
    b3 = basic_conv(b3, c.ch5x5, {.kernel = 3, .pad = 1}, path(name, "branch3", 1));
    Tensor b4 = max_pool_ceil(x, 3, 1, 1, path(name, "branch4", 0).view());
    b4 = basic_conv(b4, c.pool_proj, {}, path(name, "branch4", 1));
    return concat({b1, b2, b3, b4}, path(name, "concat").view());
}

// 3x224x224 -> 1000 classes; 6,624,904 learnable parameters.
constexpr Model googlenet() {
    Model m("googlenet");
    Tensor x = m.input({3, 224, 224});
    x = basic_conv(x, 64, {.kernel = 7, .stride = 2, .pad = 3}, path("conv1"));
    x = max_pool_ceil(x, 3, 2, 0, "maxpool1");
    x = basic_conv(x, 64, {}, path("conv2"));
    x = basic_conv(x, 192, {.kernel = 3, .pad = 1}, path("conv3"));
    x = max_pool_ceil(x, 3, 2, 0, "maxpool2");
    x = inception_v1(x, {64, 96, 128, 16, 32, 32}, "inception3a");
    x = inception_v1(x, {128, 128, 192, 32, 96, 64}, "inception3b");
    x = max_pool_ceil(x, 3, 2, 0, "maxpool3");
    x = inception_v1(x, {192, 96, 208, 16, 48, 64}, "inception4a");
    x = inception_v1(x, {160, 112, 224, 24, 64, 64}, "inception4b");
    x = inception_v1(x, {128, 128, 256, 24, 64, 64}, "inception4c");
    x = inception_v1(x, {112, 144, 288, 32, 64, 64}, "inception4d");
    x = inception_v1(x, {256, 160, 320, 32, 128, 128}, "inception4e");
    x = max_pool_ceil(x, 2, 2, 0, "maxpool4");
    x = inception_v1(x, {256, 160, 320, 32, 128, 128}, "inception5a");
    x = inception_v1(x, {384, 192, 384, 48, 128, 128}, "inception5b");
    x = flatten(global_avg_pool(x, "avgpool"), "flatten");
    x = dropout(x, 0.2f, "dropout");
    softmax_cross_entropy(dense(x, {.units = 1000, .name = "fc"}));
    return m;
}

// --- Inception v3 -----------------------------------------------------------------------------

// The pooling branch of modules A, C and E: F.avg_pool2d(x, 3, stride=1, padding=1), which
// counts the padding in the average, then a 1x1 BasicConv2d at <name>.branch_pool.
constexpr Tensor pool_branch(Tensor x, int filters, std::string_view name) {
    x = avg_pool(x, {.kernel = 3, .stride = 1, .padding = torch_padding, .pads = pad(1),
                     .name = path(name, "avg_pool").view()});
    return basic_conv(x, filters, {}, path(name, "branch_pool"));
}

// Module A (35x35): 1x1, 5x5, double 3x3 and pooled branches.
constexpr Tensor inception_a(Tensor x, int pool_features, std::string_view name) {
    Tensor b1 = basic_conv(x, 64, {}, path(name, "branch1x1"));
    Tensor b5 = basic_conv(x, 48, {}, path(name, "branch5x5_1"));
    b5 = basic_conv(b5, 64, {.kernel = 5, .pad = 2}, path(name, "branch5x5_2"));
    Tensor b3 = basic_conv(x, 64, {}, path(name, "branch3x3dbl_1"));
    b3 = basic_conv(b3, 96, {.kernel = 3, .pad = 1}, path(name, "branch3x3dbl_2"));
    b3 = basic_conv(b3, 96, {.kernel = 3, .pad = 1}, path(name, "branch3x3dbl_3"));
    Tensor bp = pool_branch(x, pool_features, name);
    return concat({b1, b5, b3, bp}, path(name, "concat").view());
}

// Module B: the 35x35 -> 17x17 reduction.
constexpr Tensor inception_b(Tensor x, std::string_view name) {
    Tensor b3 = basic_conv(x, 384, {.kernel = 3, .stride = 2}, path(name, "branch3x3"));
    Tensor bd = basic_conv(x, 64, {}, path(name, "branch3x3dbl_1"));
    bd = basic_conv(bd, 96, {.kernel = 3, .pad = 1}, path(name, "branch3x3dbl_2"));
    bd = basic_conv(bd, 96, {.kernel = 3, .stride = 2}, path(name, "branch3x3dbl_3"));
    Tensor bp = max_pool(x, {.kernel = 3, .stride = 2, .name = path(name, "max_pool").view()});
    return concat({b3, bd, bp}, path(name, "concat").view());
}

// Module C (17x17): 7x7 convolutions factored into 1x7 and 7x1 ones, c7 channels inside.
constexpr Tensor inception_c(Tensor x, int c7, std::string_view name) {
    constexpr ConvGeometry row{.kernel = 1, .kernel_w = 7, .pad = 0, .pad_w = 3};
    constexpr ConvGeometry column{.kernel = 7, .kernel_w = 1, .pad = 3, .pad_w = 0};
    Tensor b1 = basic_conv(x, 192, {}, path(name, "branch1x1"));
    Tensor b7 = basic_conv(x, c7, {}, path(name, "branch7x7_1"));
    b7 = basic_conv(b7, c7, row, path(name, "branch7x7_2"));
    b7 = basic_conv(b7, 192, column, path(name, "branch7x7_3"));
    Tensor bd = basic_conv(x, c7, {}, path(name, "branch7x7dbl_1"));
    bd = basic_conv(bd, c7, column, path(name, "branch7x7dbl_2"));
    bd = basic_conv(bd, c7, row, path(name, "branch7x7dbl_3"));
    bd = basic_conv(bd, c7, column, path(name, "branch7x7dbl_4"));
    bd = basic_conv(bd, 192, row, path(name, "branch7x7dbl_5"));
    Tensor bp = pool_branch(x, 192, name);
    return concat({b1, b7, bd, bp}, path(name, "concat").view());
}

// Module D: the 17x17 -> 8x8 reduction.
constexpr Tensor inception_d(Tensor x, std::string_view name) {
    Tensor b3 = basic_conv(x, 192, {}, path(name, "branch3x3_1"));
    b3 = basic_conv(b3, 320, {.kernel = 3, .stride = 2}, path(name, "branch3x3_2"));
    Tensor b7 = basic_conv(x, 192, {}, path(name, "branch7x7x3_1"));
    b7 = basic_conv(b7, 192, {.kernel = 1, .kernel_w = 7, .pad = 0, .pad_w = 3},
                    path(name, "branch7x7x3_2"));
    b7 = basic_conv(b7, 192, {.kernel = 7, .kernel_w = 1, .pad = 3, .pad_w = 0},
                    path(name, "branch7x7x3_3"));
    b7 = basic_conv(b7, 192, {.kernel = 3, .stride = 2}, path(name, "branch7x7x3_4"));
    Tensor bp = max_pool(x, {.kernel = 3, .stride = 2, .name = path(name, "max_pool").view()});
    return concat({b3, b7, bp}, path(name, "concat").view());
}

// A 1x3 and a 3x1 convolution side by side on the same input (module E's expanded filters).
constexpr Tensor split_1x3_3x1(Tensor x, const Name& a, const Name& b, const Name& name) {
    Tensor ya = basic_conv(x, 384, {.kernel = 1, .kernel_w = 3, .pad = 0, .pad_w = 1}, a);
    Tensor yb = basic_conv(x, 384, {.kernel = 3, .kernel_w = 1, .pad = 1, .pad_w = 0}, b);
    return concat({ya, yb}, name.view());
}

// Module E (8x8).
constexpr Tensor inception_e(Tensor x, std::string_view name) {
    Tensor b1 = basic_conv(x, 320, {}, path(name, "branch1x1"));
    Tensor b3 = basic_conv(x, 384, {}, path(name, "branch3x3_1"));
    b3 = split_1x3_3x1(b3, path(name, "branch3x3_2a"), path(name, "branch3x3_2b"),
                       path(name, "branch3x3_concat"));
    Tensor bd = basic_conv(x, 448, {}, path(name, "branch3x3dbl_1"));
    bd = basic_conv(bd, 384, {.kernel = 3, .pad = 1}, path(name, "branch3x3dbl_2"));
    bd = split_1x3_3x1(bd, path(name, "branch3x3dbl_3a"), path(name, "branch3x3dbl_3b"),
                       path(name, "branch3x3dbl_concat"));
    Tensor bp = pool_branch(x, 192, name);
    return concat({b1, b3, bd, bp}, path(name, "concat").view());
}

// 3x299x299 -> 1000 classes; 23,834,568 learnable parameters. torchvision's transform_input is
// off without pretrained weights, so the input is used as given.
constexpr Model inception_v3() {
    Model m("inception_v3");
    Tensor x = m.input({3, 299, 299});
    x = basic_conv(x, 32, {.kernel = 3, .stride = 2}, path("Conv2d_1a_3x3"));
    x = basic_conv(x, 32, {.kernel = 3}, path("Conv2d_2a_3x3"));
    x = basic_conv(x, 64, {.kernel = 3, .pad = 1}, path("Conv2d_2b_3x3"));
    x = max_pool(x, {.kernel = 3, .stride = 2, .name = "maxpool1"});
    x = basic_conv(x, 80, {}, path("Conv2d_3b_1x1"));
    x = basic_conv(x, 192, {.kernel = 3}, path("Conv2d_4a_3x3"));
    x = max_pool(x, {.kernel = 3, .stride = 2, .name = "maxpool2"});
    x = inception_a(x, 32, "Mixed_5b");
    x = inception_a(x, 64, "Mixed_5c");
    x = inception_a(x, 64, "Mixed_5d");
    x = inception_b(x, "Mixed_6a");
    x = inception_c(x, 128, "Mixed_6b");
    x = inception_c(x, 160, "Mixed_6c");
    x = inception_c(x, 160, "Mixed_6d");
    x = inception_c(x, 192, "Mixed_6e");
    x = inception_d(x, "Mixed_7a");
    x = inception_e(x, "Mixed_7b");
    x = inception_e(x, "Mixed_7c");
    x = flatten(global_avg_pool(x, "avgpool"), "flatten");
    x = dropout(x, 0.5f, "dropout");
    softmax_cross_entropy(dense(x, {.units = 1000, .name = "fc"}));
    return m;
}

}  // namespace cnnc::arch
