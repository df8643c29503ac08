// U-Net for per-pixel segmentation (Ronneberger et al. 2015), in the layout of the widely used
// PyTorch port milesial/Pytorch-UNet (bilinear=False): SAME 3x3 convolutions with batch norm, so
// the output has the input's size and no cropping is needed.
#pragma once

#include "common.h"

namespace cnnc::arch {

// Two 3x3 convolutions, each followed by batch norm and ReLU: <name>.double_conv.0 to .5.
constexpr Tensor double_conv(Tensor x, int filters, const Name& name) {
    for (int i = 0; i < 2; ++i) {
        x = conv2d(x, {.filters = filters, .kernel = 3, .padding = torch_padding, .pads = pad(1),
                       .bias = false, .name = path(name, "double_conv", 3 * i).view()});
        x = batch_norm(x, {.name = path(name, "double_conv", 3 * i + 1).view()});
        x = relu(x, path(name, "double_conv", 3 * i + 2).view());
    }
    return x;
}

// A contracting step: 2x2 max pool (<name>.maxpool_conv.0), then the double convolution.
constexpr Tensor unet_down(Tensor x, int filters, const Name& name) {
    x = max_pool(x, {.kernel = 2, .name = path(name, "maxpool_conv", 0).view()});
    return double_conv(x, filters, path(name, "maxpool_conv", 1));
}

// An expanding step: a 2x2 stride-2 transposed convolution halves the channels and doubles the
// size (<name>.up), the skip connection is concatenated in front, then the double convolution.
// The skip must have exactly twice the upsampled size: inputs divisible by 16.
constexpr Tensor unet_up(Tensor x, Tensor skip, int filters, const Name& name) {
    int channels = int(x.shape().channels());
    x = transposed_conv2d(x, {.filters = channels / 2, .kernel = 2, .stride = 2,
                              .name = path(name, "up").view()});
    x = concat({skip, x}, path(name, "concat").view());
    return double_conv(x, filters, path(name, "conv"));
}

// 3 x size x size -> classes x size x size per-pixel class scores, trained with a per-pixel
// softmax cross-entropy. Four levels of 64, 128, 256, 512 channels around a 1024-channel bottom;
// with the default two classes (foreground, background) it has milesial's UNet(3, 2) count of
// 31,037,698 learnable parameters. Sizes must be divisible by 16 for the skips to line up.
constexpr Model unet(int classes = 2, int size = 224) {
    Model m("unet");
    Tensor x = m.input({3, size, size});
    Tensor x1 = double_conv(x, 64, path("inc"));
    Tensor x2 = unet_down(x1, 128, path("down1"));
    Tensor x3 = unet_down(x2, 256, path("down2"));
    Tensor x4 = unet_down(x3, 512, path("down3"));
    x = unet_down(x4, 1024, path("down4"));
    x = unet_up(x, x4, 512, path("up1"));
    x = unet_up(x, x3, 256, path("up2"));
    x = unet_up(x, x2, 128, path("up3"));
    x = unet_up(x, x1, 64, path("up4"));
    x = conv2d(x, {.filters = classes, .kernel = 1, .name = "outc_conv"});
    softmax_cross_entropy(x);
    return m;
}

}  // namespace cnnc::arch
