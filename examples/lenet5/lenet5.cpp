// LeNet-5 for 28x28 grey images (Fashion-MNIST), written with the cnnc DSL.
#include "dsl/dsl.h"

using namespace cnnc;

constexpr Model lenet5() {
    Model m("lenet5");
    Tensor x = m.input({1, 28, 28});
    x = relu(conv2d(x, {.filters = 6, .kernel = 5, .padding = same}));
    x = max_pool(x, {.kernel = 2});
    x = relu(conv2d(x, {.filters = 16, .kernel = 5, .padding = valid}));
    x = max_pool(x, {.kernel = 2});
    x = flatten(x);
    x = relu(dense(x, {.units = 120}));
    x = relu(dense(x, {.units = 84}));
    x = dense(x, {.units = 10});
    softmax_cross_entropy(x);
    return m;
}

// The DSL runs at compile time too: the shapes are checked before anything is built.
static_assert(lenet5().output_shape() == Shape{10});
static_assert(lenet5().parameter_count() == 61706);

CNNC_MODEL(lenet5)
