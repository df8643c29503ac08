// The layer functions users call: each appends one node to the input tensor's model.
#pragma once

#include <string_view>

#include "dsl/model.h"

namespace cnnc {

inline constexpr Padding same = Padding::same;
inline constexpr Padding valid = Padding::valid;
inline constexpr Padding full = Padding::full;

// Options read naturally with designated initializers: conv2d(x, {.filters = 6, .kernel = 5}).
struct Conv2d {
    int filters = 0;
    int kernel = 3;
    int kernel_w = 0;  // 0: square kernel
    int stride = 1;
    int dilation = 1;
    Padding padding = Padding::valid;
    Pads pads{};  // with Padding::explicit_sides
    int groups = 1;
    bool bias = true;
    std::string_view name{};
};

struct Pool {
    int kernel = 2;
    int stride = 0;  // 0: equal to the kernel
    Padding padding = Padding::valid;
    Pads pads{};
    std::string_view name{};
};

struct Dense {
    int units = 0;
    int inputs = 0;  // optional: the expected input features, checked against the input
    bool bias = true;
    std::string_view name{};
};

constexpr Window square_window(int kernel, int kernel_w, int stride, int dilation, Padding padding,
                               Pads pads) {
    Window w;
    w.kernel_h = kernel;
    w.kernel_w = kernel_w > 0 ? kernel_w : kernel;
    w.stride_h = w.stride_w = stride;
    w.dilation_h = w.dilation_w = dilation;
    w.padding = padding;
    w.pads = pads;
    return w;
}

constexpr Tensor conv2d(Tensor x, const Conv2d& c) {
    Conv2dAttrs a;
    a.filters = c.filters;
    a.window = square_window(c.kernel, c.kernel_w, c.stride, c.dilation, c.padding, c.pads);
    a.groups = c.groups;
    a.bias = c.bias;
    return x.model->add(Op::conv2d, {x}, a, c.name);
}

constexpr Tensor max_pool(Tensor x, const Pool& p = {}) {
    PoolAttrs a;
    a.window = square_window(p.kernel, 0, p.stride > 0 ? p.stride : p.kernel, 1, p.padding, p.pads);
    return x.model->add(Op::max_pool, {x}, a, p.name);
}

constexpr Tensor dense(Tensor x, const Dense& d) {
    return x.model->add(Op::dense, {x}, DenseAttrs{d.units, d.inputs, d.bias}, d.name);
}

constexpr Tensor relu(Tensor x, std::string_view name = {}) {
    return x.model->add(Op::relu, {x}, {}, name);
}

// min(max(x, 0), 6): MobileNet's activation, bounded so that it survives low-precision inference.
constexpr Tensor relu6(Tensor x, std::string_view name = {}) {
    return x.model->add(Op::relu6, {x}, {}, name);
}

constexpr Tensor flatten(Tensor x, std::string_view name = {}) {
    return x.model->add(Op::flatten, {x}, {}, name);
}

struct TransposedConv2d {
    int filters = 0;
    int kernel = 3;
    int kernel_w = 0;  // 0: square kernel
    int stride = 1;
    int dilation = 1;
    Padding padding = Padding::valid;
    Pads pads{};
    int output_padding = 0;
    int groups = 1;
    bool bias = true;
    std::string_view name{};
};

struct AvgPool {
    int kernel = 2;
    int stride = 0;  // 0: equal to the kernel
    Padding padding = Padding::valid;
    Pads pads{};
    bool count_include_pad = true;
    std::string_view name{};
};

struct BatchNorm {
    float epsilon = 1e-5f;
    float momentum = 0.1f;
    std::string_view name{};
};

constexpr Tensor transposed_conv2d(Tensor x, const TransposedConv2d& c) {
    Conv2dAttrs a;
    a.filters = c.filters;
    a.window = square_window(c.kernel, c.kernel_w, c.stride, c.dilation, c.padding, c.pads);
    a.groups = c.groups;
    a.bias = c.bias;
    a.output_padding_h = a.output_padding_w = c.output_padding;
    return x.model->add(Op::transposed_conv2d, {x}, a, c.name);
}

constexpr Tensor pool(Op op, Tensor x, int kernel, int stride, Padding padding, Pads pads,
                      bool count_include_pad, std::string_view name) {
    PoolAttrs a;
    a.window = square_window(kernel, 0, stride > 0 ? stride : kernel, 1, padding, pads);
    a.count_include_pad = count_include_pad;
    return x.model->add(op, {x}, a, name);
}

constexpr Tensor avg_pool(Tensor x, const AvgPool& p = {}) {
    return pool(Op::avg_pool, x, p.kernel, p.stride, p.padding, p.pads, p.count_include_pad, p.name);
}

// sqrt of the sum of squares over each window (zero padding).
constexpr Tensor l2_pool(Tensor x, const Pool& p = {}) {
    return pool(Op::l2_pool, x, p.kernel, p.stride, p.padding, p.pads, true, p.name);
}

constexpr Tensor global_avg_pool(Tensor x, std::string_view name = {}) {
    return x.model->add(Op::global_avg_pool, {x}, {}, name);
}

constexpr Tensor global_max_pool(Tensor x, std::string_view name = {}) {
    return x.model->add(Op::global_max_pool, {x}, {}, name);
}

constexpr Tensor leaky_relu(Tensor x, float alpha = 0.01f, std::string_view name = {}) {
    return x.model->add(Op::leaky_relu, {x}, ActivationAttrs{alpha}, name);
}

constexpr Tensor elu(Tensor x, float alpha = 1.0f, std::string_view name = {}) {
    return x.model->add(Op::elu, {x}, ActivationAttrs{alpha}, name);
}

constexpr Tensor sigmoid(Tensor x, std::string_view name = {}) {
    return x.model->add(Op::sigmoid, {x}, {}, name);
}

constexpr Tensor tanh(Tensor x, std::string_view name = {}) {
    return x.model->add(Op::tanh, {x}, {}, name);
}

// Over channels: the features of a flat tensor, or each pixel's channels.
constexpr Tensor softmax(Tensor x, std::string_view name = {}) {
    return x.model->add(Op::softmax, {x}, {}, name);
}

constexpr Tensor log_softmax(Tensor x, std::string_view name = {}) {
    return x.model->add(Op::log_softmax, {x}, {}, name);
}

constexpr Tensor reshape(Tensor x, Shape to, std::string_view name = {}) {
    return x.model->add(Op::reshape, {x}, ReshapeAttrs{to}, name);
}

// Element-wise sum: residual connections.
constexpr Tensor add(std::vector<Tensor> xs, std::string_view name = {}) {
    Model* m = xs.at(0).model;
    return m->add(Op::add, std::move(xs), {}, name);
}

// Channel concatenation, inputs in order.
constexpr Tensor concat(std::vector<Tensor> xs, std::string_view name = {}) {
    Model* m = xs.at(0).model;
    return m->add(Op::concat, std::move(xs), {}, name);
}

constexpr Tensor zero_pad(Tensor x, Pads pads, std::string_view name = {}) {
    return x.model->add(Op::zero_pad, {x}, PadAttrs{pads}, name);
}

// Batch statistics while training (running averages updated), running statistics otherwise.
constexpr Tensor batch_norm(Tensor x, const BatchNorm& b = {}) {
    return x.model->add(Op::batch_norm, {x}, BatchNormAttrs{b.epsilon, b.momentum}, b.name);
}

// Inverted dropout while training (kept values scaled by 1 / (1 - rate)), identity otherwise.
constexpr Tensor dropout(Tensor x, float rate = 0.5f, std::string_view name = {}) {
    return x.model->add(Op::dropout, {x}, DropoutAttrs{rate}, name);
}

struct CrossEntropy {
    float label_smoothing = 0.0f;
    std::string_view name = "loss";
};

// Training objective over class scores (flat, or per pixel CxHxW with per-pixel labels); at
// inference the model outputs softmax probabilities.
constexpr Tensor softmax_cross_entropy(Tensor logits, const CrossEntropy& c = {}) {
    return logits.model->add(Op::softmax_cross_entropy, {logits}, LossAttrs{c.label_smoothing},
                             c.name);
}

// Mean squared error against float targets of the output's shape; inference outputs the values.
constexpr Tensor mse(Tensor x, std::string_view name = "loss") {
    return x.model->add(Op::mse, {x}, {}, name);
}

}  // namespace cnnc
