// The CNN canon written with the DSL (examples/architectures): parameter counts equal to
// torchvision 0.14's, output and intermediate shapes, multiply-accumulate totals, and the shape
// errors of a malformed residual block and of a U-Net whose skips do not line up.
#include <doctest/doctest.h>

#include <string>
#include <string_view>

#include "examples/architectures/alexnet.h"
#include "examples/architectures/inception.h"
#include "examples/architectures/mobilenet.h"
#include "examples/architectures/resnet.h"
#include "examples/architectures/squeezenet.h"
#include "examples/architectures/unet.h"
#include "examples/architectures/vgg.h"
#include "tests/dsl/test_util.h"

using namespace cnnc;
using namespace cnnc::arch;

// Whole networks in constant expressions (ResNet-152 alone exceeds GCC's default operation
// limit for constant evaluation; it is built at run time below like the others).
static_assert(learnable_parameter_count(squeezenet1_1()) == 1'235'496);
static_assert(squeezenet1_1().output_shape() == Shape{1000});
static_assert(learnable_parameter_count(resnet18()) == 11'689'512);

namespace {

using cnnc::test::error_of;

const Node& node_named(const Model& m, std::string_view name) {
    for (const Node& n : m.nodes())
        if (n.name.view() == name) return n;
    FAIL("model " << std::string(m.name()) << " has no layer " << std::string(name));
    return m.last();
}

Shape shape_of(const Model& m, std::string_view name) { return node_named(m, name).shape; }

// Multiply-accumulates of the convolutions and dense layers, the figure papers quote.
int64_t macs(const Model& m) {
    int64_t total = 0;
    for (const Node& n : m.nodes()) {
        if (n.op == Op::conv2d) {
            const auto& a = std::get<Conv2dAttrs>(n.attrs);
            int64_t cin = m.node(n.inputs[0]).shape.channels();
            total += n.shape.elements() * cin / a.groups * a.window.kernel_h * a.window.kernel_w;
        } else if (n.op == Op::dense) {
            total += n.shape.elements() * m.node(n.inputs[0]).shape.elements();
        }
    }
    return total;
}

struct Architecture {
    const char* name;
    Model (*build)();
    // sum(p.numel() for p in model.parameters()) in torchvision 0.14 (U-Net: milesial's
    // UNet(3, 2); pre-activation ResNet-18: derived in resnet.h).
    int64_t learnable;
    // The same plus batch norm's running statistics: the state_dict's elements without
    // num_batches_tracked, which is what Model::parameter_count() counts.
    int64_t stored;
    Shape output;
};

const Architecture canon[] = {
    {"alexnet", alexnet, 61'100'840, 61'100'840, {1000}},
    {"vgg16", vgg16, 138'357'544, 138'357'544, {1000}},
    {"vgg16_bn", vgg16_bn, 138'365'992, 138'374'440, {1000}},
    {"googlenet", googlenet, 6'624'904, 6'639'464, {1000}},
    {"inception_v3", inception_v3, 23'834'568, 23'869'000, {1000}},
    {"resnet18", resnet18, 11'689'512, 11'699'112, {1000}},
    {"resnet34", resnet34, 21'797'672, 21'814'696, {1000}},
    {"resnet50", resnet50, 25'557'032, 25'610'152, {1000}},
    {"resnet101", resnet101, 44'549'160, 44'654'504, {1000}},
    {"resnet152", resnet152, 60'192'808, 60'344'232, {1000}},
    {"preact_resnet18", preact_resnet18, 11'687'720, 11'695'528, {1000}},
    {"squeezenet1_1", squeezenet1_1, 1'235'496, 1'235'496, {1000}},
    {"mobilenet_v2", mobilenet_v2, 3'504'872, 3'538'984, {1000}},
    {"unet", [] { return unet(); }, 31'037'698, 31'049'474, {2, 224, 224}},
};

}  // namespace

TEST_CASE("every architecture has torchvision's parameter count and its output shape") {
    for (const Architecture& a : canon) {
        INFO(a.name);
        Model m = a.build();
        CHECK(m.name() == a.name);
        CHECK(learnable_parameter_count(m) == a.learnable);
        CHECK(m.parameter_count() == a.stored);
        CHECK(m.output_shape() == a.output);
        CHECK(m.last().op == Op::softmax_cross_entropy);
    }
}

TEST_CASE("classic intermediate shapes") {
    Model alex = alexnet();
    CHECK(shape_of(alex, "features_0") == Shape{64, 55, 55});
    CHECK(shape_of(alex, "features_12") == Shape{256, 6, 6});
    CHECK(shape_of(alex, "flatten") == Shape{9216});

    CHECK(shape_of(vgg16(), "features_30") == Shape{512, 7, 7});
    CHECK(shape_of(vgg16_bn(), "features_43") == Shape{512, 7, 7});

    // Ceil-mode pooling: 112 -> 56 where floor mode would give 55.
    Model g = googlenet();
    CHECK(shape_of(g, "maxpool1") == Shape{64, 56, 56});
    CHECK(shape_of(g, "inception3a_concat") == Shape{256, 28, 28});
    CHECK(shape_of(g, "inception4e_concat") == Shape{832, 14, 14});
    CHECK(shape_of(g, "inception5b_concat") == Shape{1024, 7, 7});

    Model v3 = inception_v3();
    CHECK(shape_of(v3, "maxpool2") == Shape{192, 35, 35});
    CHECK(shape_of(v3, "Mixed_5b_concat") == Shape{256, 35, 35});
    CHECK(shape_of(v3, "Mixed_6a_concat") == Shape{768, 17, 17});
    CHECK(shape_of(v3, "Mixed_6e_branch7x7dbl_5_conv") == Shape{192, 17, 17});
    CHECK(shape_of(v3, "Mixed_7c_concat") == Shape{2048, 8, 8});

    CHECK(shape_of(resnet18(), "layer4_1_relu2") == Shape{512, 7, 7});
    Model r50 = resnet50();
    CHECK(shape_of(r50, "maxpool") == Shape{64, 56, 56});
    CHECK(shape_of(r50, "layer1_0_downsample_1") == Shape{256, 56, 56});
    CHECK(shape_of(r50, "layer3_5_relu3") == Shape{1024, 14, 14});
    CHECK(shape_of(r50, "layer4_2_relu3") == Shape{2048, 7, 7});
    CHECK(shape_of(resnet152(), "layer3_35_relu3") == Shape{1024, 14, 14});
    CHECK(shape_of(preact_resnet18(), "relu_final") == Shape{512, 7, 7});

    Model sq = squeezenet1_1();
    CHECK(shape_of(sq, "features_2") == Shape{64, 55, 55});
    CHECK(shape_of(sq, "features_12_concat") == Shape{512, 13, 13});
    CHECK(shape_of(sq, "classifier_1") == Shape{1000, 13, 13});

    Model mb = mobilenet_v2();
    CHECK(shape_of(mb, "features_1_conv_2") == Shape{16, 112, 112});
    CHECK(shape_of(mb, "features_17_conv_3") == Shape{320, 7, 7});
    CHECK(shape_of(mb, "features_18_2") == Shape{1280, 7, 7});
    CHECK(node_named(mb, "features_18_2").op == Op::relu6);

    Model u = unet();
    CHECK(shape_of(u, "down4_maxpool_conv_1_double_conv_5") == Shape{1024, 14, 14});
    CHECK(shape_of(u, "up1_up") == Shape{512, 28, 28});
    CHECK(shape_of(u, "up4_concat") == Shape{128, 224, 224});
    CHECK(unet(21, 256).output_shape() == Shape{21, 256, 256});
}

TEST_CASE("residual networks have the depth in their name") {
    // Weighted layers on the main path: convolutions other than shortcuts, plus fc.
    for (const Architecture& a : canon) {
        std::string_view name = a.name;
        if (!name.starts_with("resnet") && !name.starts_with("preact_resnet")) continue;
        Model m = a.build();
        int depth = 0;
        for (const Node& n : m.nodes())
            if ((n.op == Op::conv2d || n.op == Op::dense) &&
                n.name.view().find("downsample") == std::string_view::npos &&
                n.name.view().find("shortcut") == std::string_view::npos)
                ++depth;
        CHECK(std::to_string(depth) == name.substr(name.find("resnet") + 6));
    }
}

TEST_CASE("multiply-accumulate totals match the published figures") {
    // torchvision's model tables: 15.47, 4.09 and 0.30 G multiply-accumulates.
    CHECK(double(macs(vgg16())) == doctest::Approx(15.47e9).epsilon(0.01));
    CHECK(macs(vgg16()) == 15'470'264'320);
    CHECK(double(macs(resnet50())) == doctest::Approx(4.09e9).epsilon(0.01));
    CHECK(double(macs(mobilenet_v2())) == doctest::Approx(0.30e9).epsilon(0.01));
}

TEST_CASE("a residual block that strides without projecting its shortcut fails at the sum") {
    Model m("bad_resnet");
    Tensor x = m.input({64, 56, 56});
    CHECK(error_of([&] { basic_block(x, 128, 2, false, block_path(2, 0)); }) ==
          "layer 'layer2_0_add' (add): inputs must have equal shapes, got [128x28x28] and "
          "[64x56x56]");
}

TEST_CASE("a U-Net input not divisible by 16 fails at the first skip that does not line up") {
    // 200 -> 100 -> 50 -> 25 -> 12 on the way down; 12 -> 24 meets the 25x25 skip.
    CHECK(error_of([] { unet(2, 200); }) ==
          "layer 'up1_concat' (concat): inputs must agree in every dimension but channels, got "
          "[512x25x25] and [512x24x24]");
}
