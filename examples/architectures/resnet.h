// ResNet-18/34/50/101/152 as torchvision 0.14 builds them (v1.5: a bottleneck strides in its 3x3
// convolution) and a pre-activation ResNet-18 (He et al. 2016, "Identity Mappings").
#pragma once

#include "common.h"

namespace cnnc::arch {

// A convolution without bias (batch norm follows) and torch's symmetric padding.
constexpr Tensor conv_nobias(Tensor x, int filters, int kernel, int stride, int padding,
                             const Name& name) {
    return conv2d(x, {.filters = filters, .kernel = kernel, .stride = stride,
                      .padding = torch_padding, .pads = pad(padding), .bias = false,
                      .name = name.view()});
}

constexpr Tensor bn(Tensor x, const Name& name) { return batch_norm(x, {.name = name.view()}); }

// "layer<stage>_<block>": torchvision's layer<stage>.<block>.
constexpr Name block_path(int stage, int block) {
    Name stage_name("layer");
    stage_name.append(int64_t(stage));
    return path(stage_name, block);
}

// The projection shortcut of a block that changes the shape: 1x1 convolution at
// <block>.downsample.0 and batch norm at <block>.downsample.1.
constexpr Tensor downsample(Tensor x, int filters, int stride, const Name& block) {
    x = conv_nobias(x, filters, 1, stride, 0, path(block, "downsample", 0));
    return bn(x, path(block, "downsample", 1));
}

// BasicBlock: two 3x3 convolutions around a shortcut. `project` adds the downsample shortcut;
// torchvision adds it exactly when the stride or the channel count changes.
constexpr Tensor basic_block(Tensor x, int planes, int stride, bool project, const Name& name) {
    Tensor y = conv_nobias(x, planes, 3, stride, 1, path(name, "conv1"));
    y = relu(bn(y, path(name, "bn1")), path(name, "relu1").view());
    y = bn(conv_nobias(y, planes, 3, 1, 1, path(name, "conv2")), path(name, "bn2"));
    Tensor shortcut = project ? downsample(x, planes, stride, name) : x;
    return relu(add({y, shortcut}, path(name, "add").view()), path(name, "relu2").view());
}

// Bottleneck: 1x1 reduce, 3x3 (strided), 1x1 expand to 4 * planes, around a shortcut.
constexpr Tensor bottleneck(Tensor x, int planes, int stride, bool project, const Name& name) {
    Tensor y = conv_nobias(x, planes, 1, 1, 0, path(name, "conv1"));
    y = relu(bn(y, path(name, "bn1")), path(name, "relu1").view());
    y = conv_nobias(y, planes, 3, stride, 1, path(name, "conv2"));
    y = relu(bn(y, path(name, "bn2")), path(name, "relu2").view());
    y = bn(conv_nobias(y, 4 * planes, 1, 1, 0, path(name, "conv3")), path(name, "bn3"));
    Tensor shortcut = project ? downsample(x, 4 * planes, stride, name) : x;
    return relu(add({y, shortcut}, path(name, "add").view()), path(name, "relu3").view());
}

using ResidualBlock = Tensor (*)(Tensor x, int planes, int stride, bool project, const Name& name);

// One stage layer<stage>: `blocks` blocks, the first one striding; a block projects its
// shortcut when its input's shape differs from its output's.
constexpr Tensor resnet_stage(Tensor x, ResidualBlock block, int expansion, int planes, int blocks,
                              int stride, int stage) {
    for (int i = 0; i < blocks; ++i) {
        int s = i == 0 ? stride : 1;
        bool project = s != 1 || x.shape().channels() != planes * expansion;
        x = block(x, planes, s, project, block_path(stage, i));
    }
    return x;
}

// Stem (7x7/2 convolution, 3x3/2 max pool), four stages and the classifier.
constexpr Model resnet(std::string_view name, ResidualBlock block, int expansion,
                       const int (&blocks)[4]) {
    Model m(name);
    Tensor x = m.input({3, 224, 224});
    x = relu(bn(conv_nobias(x, 64, 7, 2, 3, path("conv1")), path("bn1")), "relu");
    x = max_pool(x, {.kernel = 3, .stride = 2, .padding = torch_padding, .pads = pad(1),
                     .name = "maxpool"});
    for (int stage = 0; stage < 4; ++stage)
        x = resnet_stage(x, block, expansion, 64 << stage, blocks[stage], stage == 0 ? 1 : 2,
                         stage + 1);
    x = flatten(global_avg_pool(x, "avgpool"), "flatten");
    softmax_cross_entropy(dense(x, {.units = 1000, .name = "fc"}));
    return m;
}

// 11,689,512 learnable parameters.
constexpr Model resnet18() { return resnet("resnet18", basic_block, 1, {2, 2, 2, 2}); }
// 21,797,672 learnable parameters.
constexpr Model resnet34() { return resnet("resnet34", basic_block, 1, {3, 4, 6, 3}); }
// 25,557,032 learnable parameters.
constexpr Model resnet50() { return resnet("resnet50", bottleneck, 4, {3, 4, 6, 3}); }
// 44,549,160 learnable parameters.
constexpr Model resnet101() { return resnet("resnet101", bottleneck, 4, {3, 4, 23, 3}); }
// 60,192,808 learnable parameters.
constexpr Model resnet152() { return resnet("resnet152", bottleneck, 4, {3, 8, 36, 3}); }

// ResNet-18 for 1x28x28 Fashion-MNIST images and 10 classes. Three changes to the 224x224 network,
// the usual ones for small images: one input channel; a 3x3 stride-1 conv1 (padding 1) instead
// of 7x7/2; no stem max pool. The stages then run at 28, 14, 7 and 4 pixels and fc has 10
// outputs; block and layer names are ResNet-18's. In PyTorch this is torchvision's
// resnet18(num_classes=10) with conv1 = nn.Conv2d(1, 64, 3, 1, 1, bias=False) and
// maxpool = nn.Identity(): 11,172,810 learnable parameters.
constexpr Model resnet18_fashion() {
    Model m("resnet18_fashion");
    Tensor x = m.input({1, 28, 28});
    x = relu(bn(conv_nobias(x, 64, 3, 1, 1, path("conv1")), path("bn1")), "relu");
    for (int stage = 0; stage < 4; ++stage)
        x = resnet_stage(x, basic_block, 1, 64 << stage, 2, stage == 0 ? 1 : 2, stage + 1);
    x = flatten(global_avg_pool(x, "avgpool"), "flatten");
    softmax_cross_entropy(dense(x, {.units = 10, .name = "fc"}));
    return m;
}

// --- Pre-activation ResNet-18 -----------------------------------------------------------------

// The v2 basic block: BN-ReLU before each convolution and nothing after the sum, so the identity
// path carries the signal unchanged. The projection shortcut reads the pre-activated input, and
// so does the identity shortcut of the network's first block (`share_preact`): the paper applies
// the first activation right after conv1, before the paths split.
constexpr Tensor preact_block(Tensor x, int planes, int stride, bool project, bool share_preact,
                              const Name& name) {
    Tensor a = relu(bn(x, path(name, "bn1")), path(name, "relu1").view());
    Tensor y = conv_nobias(a, planes, 3, stride, 1, path(name, "conv1"));
    y = relu(bn(y, path(name, "bn2")), path(name, "relu2").view());
    y = conv_nobias(y, planes, 3, 1, 1, path(name, "conv2"));
    Tensor shortcut = project ? conv_nobias(a, planes, 1, stride, 0, path(name, "shortcut", 0))
                      : share_preact ? a
                                     : x;
    return add({y, shortcut}, path(name, "add").view());
}

// 3x224x224 -> 1000 classes. The stem is conv1 and the max pool (the first block's
// pre-activation normalises it); after the last block a final BN-ReLU precedes the pooling.
// Projection shortcuts are bare 1x1 convolutions, as in the paper's pre-activation units. The
// network has 11,687,720 learnable parameters: ResNet-18's 11,689,512 less the stem's batch norm
// (128) and the shortcuts' (2 * (128 + 256 + 512)), less 2 * (64 + 128 + 256) because each
// stage's first bn1 now normalises the narrower block input, plus the final batch norm (2 * 512).
constexpr Model preact_resnet18() {
    Model m("preact_resnet18");
    Tensor x = m.input({3, 224, 224});
    x = conv_nobias(x, 64, 7, 2, 3, path("conv1"));
    x = max_pool(x, {.kernel = 3, .stride = 2, .padding = torch_padding, .pads = pad(1),
                     .name = "maxpool"});
    for (int stage = 0; stage < 4; ++stage) {
        int planes = 64 << stage;
        for (int i = 0; i < 2; ++i) {
            int stride = stage > 0 && i == 0 ? 2 : 1;
            bool project = stride != 1 || x.shape().channels() != planes;
            x = preact_block(x, planes, stride, project, stage == 0 && i == 0,
                             block_path(stage + 1, i));
        }
    }
    x = relu(bn(x, path("bn_final")), "relu_final");
    x = flatten(global_avg_pool(x, "avgpool"), "flatten");
    softmax_cross_entropy(dense(x, {.units = 1000, .name = "fc"}));
    return m;
}

}  // namespace cnnc::arch
