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

constexpr Tensor flatten(Tensor x, std::string_view name = {}) {
    return x.model->add(Op::flatten, {x}, {}, name);
}

// Training objective over class scores; at inference the model outputs softmax probabilities.
constexpr Tensor softmax_cross_entropy(Tensor logits, std::string_view name = "loss") {
    return logits.model->add(Op::softmax_cross_entropy, {logits}, {}, name);
}

}  // namespace cnnc
