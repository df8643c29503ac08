// A small VGG-style network for Fashion-MNIST with batch normalisation and dropout.
#include "dsl/dsl.h"

using namespace cnnc;

// Two 3x3 convolutions, each normalised and rectified, then 2x2 max pooling and dropout.
constexpr Tensor conv_block(Tensor x, int filters, float drop) {
    for (int i = 0; i < 2; ++i)
        x = relu(batch_norm(conv2d(x, {.filters = filters, .kernel = 3, .padding = same,
                                       .bias = false})));
    return dropout(max_pool(x, {.kernel = 2}), drop);
}

constexpr Model fashion_cnn() {
    Model m("fashion_cnn");
    Tensor x = m.input({1, 28, 28});
    x = conv_block(x, 32, 0.1f);
    x = conv_block(x, 64, 0.1f);
    x = flatten(x);
    x = dropout(relu(batch_norm(dense(x, {.units = 256, .bias = false}))), 0.3f);
    softmax_cross_entropy(dense(x, {.units = 10}));
    return m;
}

static_assert(fashion_cnn().output_shape() == Shape{10});

CNNC_MODEL(fashion_cnn)
