// DSL shape inference: LeNet-5's shapes, the padding rules, and every shape error's message.
#include <doctest/doctest.h>

#include <string>

#include "dsl/dsl.h"
#include "tests/dsl/test_util.h"

using namespace cnnc;

namespace {

using cnnc::test::error_of;

}  // namespace

TEST_CASE("LeNet-5 layer shapes are inferred as each layer is added") {
    Model m("lenet5");
    Tensor x = m.input({1, 28, 28});
    x = conv2d(x, {.filters = 6, .kernel = 5, .padding = same});
    CHECK(x.shape() == Shape{6, 28, 28});
    x = max_pool(relu(x), {.kernel = 2});
    CHECK(x.shape() == Shape{6, 14, 14});
    x = conv2d(x, {.filters = 16, .kernel = 5});
    CHECK(x.shape() == Shape{16, 10, 10});
    x = flatten(max_pool(relu(x), {.kernel = 2}));
    CHECK(x.shape() == Shape{400});
    x = dense(x, {.units = 10});
    CHECK(x.shape() == Shape{10});
    softmax_cross_entropy(x);
    CHECK(m.output_shape() == Shape{10});
    CHECK(m.parameter_count() == 400 * 10 + 10 + 16 * 6 * 25 + 16 + 6 * 25 + 6);
}

TEST_CASE("padding modes follow o = floor((i + p - d(k-1) - 1)/s) + 1") {
    Model m("pads");
    Tensor x = m.input({3, 11, 10});
    CHECK(conv2d(x, {.filters = 4, .kernel = 3, .stride = 2, .padding = same}).shape() ==
          Shape{4, 6, 5});
    CHECK(conv2d(x, {.filters = 4, .kernel = 3, .padding = full}).shape() == Shape{4, 13, 12});
    CHECK(conv2d(x, {.filters = 4, .kernel = 3, .dilation = 2}).shape() == Shape{4, 7, 6});
    Pads p{.top = 1, .bottom = 0, .left = 2, .right = 2};
    CHECK(conv2d(x, {.filters = 4, .kernel = 3, .padding = Padding::explicit_sides, .pads = p})
              .shape() == Shape{4, 10, 12});
    CHECK(conv2d(x, {.filters = 6, .kernel = 3, .groups = 3}).shape() == Shape{6, 9, 8});
}

TEST_CASE("SAME padding puts the odd extra row at the end") {
    Model m("same");
    Tensor x = m.input({1, 8, 8});
    conv2d(x, {.filters = 1, .kernel = 4, .padding = same});
    const auto& w = std::get<Conv2dAttrs>(m.last().attrs).window;
    CHECK(w.pads.top == 1);
    CHECK(w.pads.bottom == 2);
}

TEST_CASE("a dense layer fed the wrong size names the layer and both shapes") {
    Model m("bad");
    Tensor x = flatten(m.input({16, 5, 5}));
    std::string msg = error_of([&] { dense(x, {.units = 120, .inputs = 300, .name = "fc1"}); });
    CHECK(msg == "layer 'fc1' (dense): expects [300] inputs, got [400]");
}

TEST_CASE("a dense layer on an image asks for flatten") {
    Model m("bad");
    Tensor x = m.input({16, 5, 5});
    CHECK(error_of([&] { dense(x, {.units = 10}); }) ==
          "layer 'dense' (dense): expects a flat input, got [16x5x5] (insert flatten before it)");
}

TEST_CASE("a convolution on too small an input names the layer, window and input") {
    Model m("bad");
    Tensor x = m.input({1, 4, 4});
    std::string msg = error_of([&] { conv2d(x, {.filters = 2, .kernel = 5, .name = "c1"}); });
    CHECK(msg.find("layer 'c1' (conv2d)") == 0);
    CHECK(msg.find("window 5x5 stride 1x1 dilation 1x1 padding valid") != std::string::npos);
    CHECK(msg.find("larger than the padded input [1x4x4]") != std::string::npos);
}

TEST_CASE("pooling past the input fails") {
    Model m("bad");
    Tensor x = m.input({3, 1, 1});
    CHECK(error_of([&] { max_pool(x, {.kernel = 2}); }).find("(max_pool)") != std::string::npos);
}

TEST_CASE("invalid configurations are rejected with the layer named") {
    Model m("bad");
    Tensor x = m.input({6, 8, 8});
    CHECK(error_of([&] { conv2d(x, {.filters = 4, .groups = 4, .name = "g"}); }) ==
          "layer 'g' (conv2d): groups 4 do not divide the input channels of [6x8x8]");
    CHECK(error_of([&] { conv2d(x, {.filters = 4, .groups = 3, .name = "g"}); }) ==
          "layer 'g' (conv2d): groups 3 do not divide filters 4");
    CHECK(error_of([&] { conv2d(x, {.filters = 0}); }).find("filters must be positive") !=
          std::string::npos);
    CHECK(error_of([&] { conv2d(x, {.filters = 2, .stride = 0}); }).find("stride must be") !=
          std::string::npos);
    CHECK(error_of([&] { dense(flatten(x), {.units = -1}); }).find("units must be positive") !=
          std::string::npos);
    Model m2("bad_scores");
    Tensor scores = m2.input({2, 3});
    CHECK(error_of([&] { softmax_cross_entropy(scores); }) ==
          "layer 'loss' (softmax_cross_entropy): expects flat class scores or per-pixel scores "
          "CxHxW, got [2x3]");
    CHECK(error_of([&] { softmax_cross_entropy(x, {.label_smoothing = 1.5f}); })
              .find("label smoothing must be in [0, 1)") != std::string::npos);
    CHECK(error_of([&] { m.input({1, 2, 2}); }).find("a model has one input") != std::string::npos);
    Model empty("bad_input");
    CHECK(error_of([&] { empty.input({1, 0, 2}); }).find("extents must be positive") !=
          std::string::npos);
}

TEST_CASE("layer names are unique: repeated ops are numbered") {
    Model m("names");
    Tensor x = m.input({1, 8, 8});
    x = relu(relu(x));
    x = relu(x, "act");
    relu(x, "act");
    CHECK(m.node(1).name.view() == "relu");
    CHECK(m.node(2).name.view() == "relu_1");
    CHECK(m.node(3).name.view() == "act");
    CHECK(m.node(4).name.view() == "act_1");
}

// The whole DSL runs in constant expressions: a model's output shape is a compile-time fact.
constexpr Model tiny() {
    Model m("tiny");
    Tensor x = m.input({1, 8, 8});
    x = max_pool(relu(conv2d(x, {.filters = 4, .kernel = 3, .padding = same})), {.kernel = 2});
    softmax_cross_entropy(dense(flatten(x), {.units = 3}));
    return m;
}
static_assert(tiny().output_shape() == Shape{3});
static_assert(tiny().parameter_count() == 4 * 9 + 4 + 64 * 3 + 3);

TEST_CASE("constexpr models agree with run-time ones") { CHECK(tiny().nodes().size() == 7); }

TEST_CASE("shapes of the other ops of the canon") {
    Model m("canon");
    Tensor x = m.input({4, 9, 8});
    CHECK(transposed_conv2d(x, {.filters = 3, .kernel = 3, .stride = 2}).shape() ==
          Shape{3, 19, 17});
    CHECK(transposed_conv2d(x, {.filters = 3, .kernel = 4, .stride = 2, .padding = same})
              .shape() == Shape{3, 18, 16});
    CHECK(transposed_conv2d(x, {.filters = 2, .kernel = 3, .stride = 2,
                                .padding = Padding::explicit_sides, .pads = {1, 1, 1, 1},
                                .output_padding = 1})
              .shape() == Shape{2, 18, 16});
    CHECK(avg_pool(x, {.kernel = 3, .stride = 2, .padding = same}).shape() == Shape{4, 5, 4});
    CHECK(l2_pool(x).shape() == Shape{4, 4, 4});
    CHECK(global_avg_pool(x).shape() == Shape{4, 1, 1});
    CHECK(global_max_pool(x).shape() == Shape{4, 1, 1});
    CHECK(zero_pad(x, {1, 2, 3, 4}).shape() == Shape{4, 12, 15});
    CHECK(concat({x, relu(x), x}).shape() == Shape{12, 9, 8});
    CHECK(add({x, sigmoid(x)}).shape() == Shape{4, 9, 8});
    CHECK(reshape(x, {8, 36}).shape() == Shape{8, 36});
    CHECK(batch_norm(x).shape() == Shape{4, 9, 8});
    CHECK(dropout(x, 0.2f).shape() == Shape{4, 9, 8});
}

TEST_CASE("invalid configurations of the other ops name the layer and the shapes") {
    Model m("bad_canon");
    Tensor x = m.input({4, 9, 8});
    CHECK(error_of([&] { add({x, max_pool(x, {.name = "p"})}, "sum"); }) ==
          "layer 'sum' (add): inputs must have equal shapes, got [4x9x8] and [4x4x4]");
    CHECK(error_of([&] { concat({x, max_pool(x)}, "cat"); }) ==
          "layer 'cat' (concat): inputs must agree in every dimension but channels, got [4x9x8] "
          "and [4x4x4]");
    CHECK(error_of([&] { reshape(x, {5, 5, 5}, "r"); }) ==
          "layer 'r' (reshape): cannot reshape [4x9x8] to [5x5x5]");
    CHECK(error_of([&] {
              transposed_conv2d(x, {.filters = 2, .kernel = 3, .stride = 2, .output_padding = 2,
                                    .name = "up"});
          }) == "layer 'up' (transposed_conv2d): output padding must be smaller than the stride "
                "or the dilation");
    CHECK(error_of([&] { transposed_conv2d(x, {.filters = 2, .padding = full, .name = "up"}); })
              .find("FULL padding is not defined") != std::string::npos);
    CHECK(error_of([&] { transposed_conv2d(x, {.filters = 3, .groups = 2, .name = "up"}); })
              .find("groups 2 must divide") != std::string::npos);
    CHECK(error_of([&] { avg_pool(x, {.kernel = 10, .name = "big"}); })
              .find("larger than the padded input [4x9x8]") != std::string::npos);
    CHECK(error_of([&] { global_avg_pool(flatten(x), "g"); }) ==
          "layer 'g' (global_avg_pool): expects a CxHxW input, got [288]");
    CHECK(error_of([&] { dropout(x, 1.0f, "d"); }) == "layer 'd' (dropout): rate must be in [0, 1)");
    CHECK(error_of([&] { batch_norm(x, {.epsilon = 0, .name = "bn"}); }) ==
          "layer 'bn' (batch_norm): epsilon must be positive");
    CHECK(error_of([&] { leaky_relu(x, -1, "lr"); }) ==
          "layer 'lr' (leaky_relu): alpha must not be negative");
    CHECK(error_of([&] { zero_pad(x, {-1, 0, 0, 0}, "z"); }) ==
          "layer 'z' (zero_pad): padding must not be negative");
}
