// Naive double-precision reference ops, their hand-written backward passes, a sequential net.
//
// These are the independent references that cnnc's generated Halide code is checked against. They
// are written for clarity, not speed, and share nothing with the compiler: shape math, layouts and
// padding are re-derived here from the storage conventions, so a mistake in cnnc cannot be copied
// into its own check.
//
// Storage conventions (innermost dimension first, dense):
//   activation (c, x, y, n): index = c + C*(x + W*(y + H*n))
//   flat activation (f, n):  an Act with w = h = 1, so index = f + F*n
//   conv2d weight (co, kx, ky, ci): extents (Cout, KW, KH, Cin/groups), bias (co)
//   dense weight (o, i): extents (Out, In), bias (o)
//   transposed conv2d weight (co/groups, kx, ky, ci): extents (Cout/groups, KW, KH, Cin)
//   batch-norm gamma, beta, running mean and variance: (c)
//   flatten of (C, H, W): f = c*H*W + y*W + x (PyTorch's order)
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <limits>
#include <random>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace cnnc::reference {

// An activation tensor in cnnc's (c, x, y, n) layout. Flat activations use w = h = 1.
struct Act {
    int64_t c = 0, w = 0, h = 0, n = 0;
    std::vector<double> v;

    Act() = default;
    // Zero-filled. Arguments follow the storage order (c, w, h, n), not the CxHxW of shapes.
    Act(int64_t channels, int64_t width, int64_t height, int64_t batch);

    static Act flat(int64_t features, int64_t batch) { return Act(features, 1, 1, batch); }

    size_t index(int64_t ci, int64_t x, int64_t y, int64_t ni) const {
        return size_t(ci + c * (x + w * (y + h * ni)));
    }
    double& at(int64_t ci, int64_t x, int64_t y, int64_t ni) { return v[index(ci, x, y, ni)]; }
    double at(int64_t ci, int64_t x, int64_t y, int64_t ni) const { return v[index(ci, x, y, ni)]; }
    // Flat access (f, n); only meaningful when w = h = 1.
    double& at(int64_t f, int64_t ni) { return v[size_t(f + c * ni)]; }
    double at(int64_t f, int64_t ni) const { return v[size_t(f + c * ni)]; }

    bool is_flat() const { return w == 1 && h == 1; }
    int64_t features() const { return c * w * h; }
    size_t size() const { return v.size(); }
    bool same_shape(const Act& o) const { return c == o.c && w == o.w && h == o.h && n == o.n; }
    std::string shape_text() const;  // "CxHxW xN", used in error messages
};

// Padding on each side of the spatial plane; the padded region reads as zero for convolution and
// as -inf for max pooling.
struct Pads {
    int64_t top = 0, bottom = 0, left = 0, right = 0;
};

// Window geometry shared by convolution and pooling.
struct Window {
    int64_t kernel_h = 1, kernel_w = 1;
    int64_t stride_h = 1, stride_w = 1;
    int64_t dilation_h = 1, dilation_w = 1;
    Pads pads{};
};

// o = floor((i + before + after - d*(k-1) - 1) / s) + 1; throws when the window does not fit once.
int64_t window_output(int64_t in, int64_t pad_before, int64_t pad_after, int64_t kernel,
                      int64_t stride, int64_t dilation);

struct Conv2dSpec {
    int64_t filters = 0;  // Cout
    Window window{};
    int64_t groups = 1;
    bool bias = true;
};

// Extents of the conv2d weight, innermost first: (Cout, KW, KH, Cin/groups).
std::vector<int64_t> conv2d_weight_extents(const Conv2dSpec& spec, int64_t in_channels);

// ---- forward / backward pairs -------------------------------------------------------------------

// `bias` may be empty (no bias) or hold Cout values.
Act conv2d_forward(const Act& in, const Conv2dSpec& spec, std::span<const double> weight,
                   std::span<const double> bias);

struct Conv2dGrads {
    Act input;
    std::vector<double> weight;
    std::vector<double> bias;  // empty when spec.bias is false
};
Conv2dGrads conv2d_backward(const Act& in, const Conv2dSpec& spec, std::span<const double> weight,
                            const Act& grad_out);

// min_abs_input, when given, is lowered to the smallest |x| seen: a finite-difference probe whose
// perturbation moves some input by more than that may cross the kink at zero.
Act relu_forward(const Act& in, double* min_abs_input = nullptr);
// The derivative at exactly zero is taken as 0 (as PyTorch does).
Act relu_backward(const Act& in, const Act& grad_out);

// Windows scan ky outer, kx inner; the first strictly greatest element wins (PyTorch's choice), so
// ties route the gradient to the earliest element. min_margin, when given, is lowered to the
// smallest gap between a window's maximum and its runner-up.
Act max_pool_forward(const Act& in, const Window& window, double* min_margin = nullptr);
Act max_pool_backward(const Act& in, const Window& window, const Act& grad_out);

// (C, H, W) per sample -> C*H*W features in PyTorch's order f = c*H*W + y*W + x.
Act flatten_forward(const Act& in);
// Gradient of a flat tensor back to the (c, w, h) shape it was flattened from.
Act flatten_backward(const Act& grad_out, int64_t c, int64_t w, int64_t h);

// Extents of the dense weight, innermost first: (Out, In).
std::vector<int64_t> dense_weight_extents(int64_t units, int64_t inputs);

// `in` must be flat; `bias` may be empty or hold `units` values.
Act dense_forward(const Act& in, int64_t units, std::span<const double> weight,
                  std::span<const double> bias);

struct DenseGrads {
    Act input;
    std::vector<double> weight;
    std::vector<double> bias;  // always `units` values; ignore when the layer has no bias
};
DenseGrads dense_backward(const Act& in, int64_t units, std::span<const double> weight,
                          const Act& grad_out);

// Softmax over the features of each sample (flat input), computed with the max subtracted.
Act softmax_forward(const Act& logits);
// Given the probabilities p and dL/dp, returns dL/dlogits = p * (g - sum(g * p)).
Act softmax_backward(const Act& probabilities, const Act& grad_probabilities);

// Mean over the batch of -log softmax(logits)[label]. Labels must lie in [0, classes).
double softmax_cross_entropy_forward(const Act& logits, std::span<const int32_t> labels);
// dL/dlogits = grad_loss * (softmax(logits) - onehot(label)) / N.
Act softmax_cross_entropy_backward(const Act& logits, std::span<const int32_t> labels,
                                   double grad_loss = 1.0);

// ---- the rest of cnnc's op set ------------------------------------------------------------------

// Zero padding; count_include_pad divides each window by kernel_h * kernel_w, otherwise by the
// number of real (unpadded) pixels it covers (a window of padding only is an error).
Act avg_pool_forward(const Act& in, const Window& window, bool count_include_pad);
Act avg_pool_backward(const Act& in, const Window& window, bool count_include_pad,
                      const Act& grad_out);

// sqrt of the sum of squares over each window, padding reads as zero. The backward, x / out, is
// undefined where a window is all zeros.
Act l2_pool_forward(const Act& in, const Window& window);
Act l2_pool_backward(const Act& in, const Window& window, const Act& grad_out);

// (c, w, h, n) -> (c, 1, 1, n). The max routes its gradient to the first maximum in (y, x) order.
Act global_avg_pool_forward(const Act& in);
Act global_avg_pool_backward(const Act& in, const Act& grad_out);
Act global_max_pool_forward(const Act& in);
Act global_max_pool_backward(const Act& in, const Act& grad_out);

// Element-wise activations; each backward takes the forward's input.
Act sigmoid_forward(const Act& in);
Act sigmoid_backward(const Act& in, const Act& grad_out);
Act tanh_forward(const Act& in);
Act tanh_backward(const Act& in, const Act& grad_out);
// x > 0 ? x : alpha * x; the slope at exactly zero is alpha (PyTorch's choice).
Act leaky_relu_forward(const Act& in, double alpha);
Act leaky_relu_backward(const Act& in, double alpha, const Act& grad_out);
// x > 0 ? x : alpha * (exp(x) - 1); the slope at exactly zero is alpha.
Act elu_forward(const Act& in, double alpha);
Act elu_backward(const Act& in, double alpha, const Act& grad_out);

// log softmax over the features of each sample (flat input); backward: g - softmax * sum(g).
Act log_softmax_forward(const Act& logits);
Act log_softmax_backward(const Act& logits, const Act& grad_out);

// Element-wise sum of equally shaped inputs; every input's gradient is grad_out.
Act add_forward(const std::vector<Act>& inputs);
std::vector<Act> add_backward(const Act& grad_out, size_t inputs);

// Concatenation along channels (features when flat), inputs in order; the backward splits
// grad_out back into pieces of the given channel counts.
Act concat_forward(const std::vector<Act>& inputs);
std::vector<Act> concat_backward(const Act& grad_out, std::span<const int64_t> channels);

Act zero_pad_forward(const Act& in, const Pads& pads);
Act zero_pad_backward(const Act& grad_out, const Pads& pads);  // crops the padding off

// Row-major reshape of each sample's CxHxW tensor into c x h x w (arguments in storage order, as
// Act's constructor and flatten_backward take them); w = h = 1 gives a flat tensor. Its backward
// is the reshape back to the input's (c, w, h).
Act reshape_forward(const Act& in, int64_t c, int64_t w, int64_t h);

// Inverted dropout with a given mask (1 keeps, 0 drops): y = x * mask / (1 - rate).
Act dropout_forward(const Act& in, const Act& mask, double rate);
Act dropout_backward(const Act& grad_out, const Act& mask, double rate);

struct BatchNormSpec {
    double eps = 1e-5;
    double momentum = 0.1;  // weight of the batch in the running averages (PyTorch's convention)
    bool training = true;
};

struct BatchNormForward {
    Act out;
    // The statistics that normalised: the batch mean and biased variance over (n, y, x) while
    // training, the running ones otherwise.
    std::vector<double> mean, var;
    // The running statistics after the op: (1 - m) * old + m * batch, with the batch's unbiased
    // variance (M / (M - 1) times the biased one, M = n*h*w); unchanged at inference.
    std::vector<double> running_mean, running_var;
};

// Per channel c (the features of a flat input): y = gamma * (x - mean) / sqrt(var + eps) + beta.
// Training needs more than one value per channel.
BatchNormForward batch_norm_forward(const Act& in, const BatchNormSpec& spec,
                                    std::span<const double> gamma, std::span<const double> beta,
                                    std::span<const double> running_mean,
                                    std::span<const double> running_var);

struct BatchNormGrads {
    Act input;
    std::vector<double> weight;  // d/d gamma
    std::vector<double> bias;    // d/d beta
};
// While training the batch statistics depend on the input, and the input gradient includes that.
BatchNormGrads batch_norm_backward(const Act& in, const BatchNormSpec& spec,
                                   std::span<const double> gamma,
                                   std::span<const double> running_mean,
                                   std::span<const double> running_var, const Act& grad_out);

// Mean over all elements of (x - t)^2.
double mse_forward(const Act& in, const Act& targets);
Act mse_backward(const Act& in, const Act& targets, double grad_loss = 1.0);

// Cross-entropy against the smoothed target q = (1 - s) * onehot(label) + s / classes, averaged
// over the batch (PyTorch's label_smoothing); s = 0 is softmax_cross_entropy_forward.
double smoothed_cross_entropy_forward(const Act& logits, std::span<const int32_t> labels,
                                      double label_smoothing);
// dL/dlogits = grad_loss * (softmax(logits) - q) / N.
Act smoothed_cross_entropy_backward(const Act& logits, std::span<const int32_t> labels,
                                    double label_smoothing, double grad_loss = 1.0);

struct TransposedConv2dSpec {
    int64_t filters = 0;  // Cout
    Window window{};      // kernel, stride, dilation; pads crop the full output
    int64_t groups = 1;
    bool bias = true;
    int64_t output_padding_h = 0, output_padding_w = 0;  // extra rows (bottom) and columns (right)
};

// o = (i - 1)*s - pad_before - pad_after + d*(k - 1) + output_padding + 1; throws unless positive.
int64_t transposed_window_output(int64_t in, int64_t pad_before, int64_t pad_after,
                                 int64_t kernel, int64_t stride, int64_t dilation,
                                 int64_t output_padding);

// Extents of the transposed conv2d weight, innermost first: (Cout/groups, KW, KH, Cin), i.e.
// index co_g + Cout_g*(kx + KW*(ky + KH*ci)).
std::vector<int64_t> transposed_conv2d_weight_extents(const TransposedConv2dSpec& spec,
                                                      int64_t in_channels);

// Input pixel (ix, iy) of channel ci (group g = ci / (Cin/groups)) adds in * w(co_g, kx, ky, ci) to
// output (g*Cout_g + co_g, ix*s_w - pad_left + kx*d_w, iy*s_h - pad_top + ky*d_h) when that lies in
// the output; `bias` may be empty or hold Cout values.
Act transposed_conv2d_forward(const Act& in, const TransposedConv2dSpec& spec,
                              std::span<const double> weight, std::span<const double> bias);
Conv2dGrads transposed_conv2d_backward(const Act& in, const TransposedConv2dSpec& spec,
                                       std::span<const double> weight, const Act& grad_out);

// ---- sequential network -------------------------------------------------------------------------

enum class LayerKind { conv2d, relu, max_pool, flatten, dense };

// A named parameter in cnnc storage layout (extents innermost first).
struct Param {
    std::string name;
    std::vector<int64_t> extents;
    std::vector<double> values;
};

struct Layer {
    LayerKind kind = LayerKind::relu;
    std::string name;       // parameter prefix ("conv2d", "dense_1"); empty without parameters
    Conv2dSpec conv{};      // conv2d
    Window pool{};          // max_pool
    int64_t units = 0;      // dense
    bool bias = true;       // dense
    int weight_param = -1;  // index into SequentialNet::params(), -1 when absent
    int bias_param = -1;
    // Shape of the layer's input, recorded when the layer is added.
    int64_t in_c = 0, in_w = 0, in_h = 0;
};

// Where a forward pass came closest to a non-differentiable point; finite differences whose
// perturbation moves activations by more than these margins may straddle a kink.
struct KinkMargins {
    double min_relu_input = std::numeric_limits<double>::infinity();
    double min_pool_margin = std::numeric_limits<double>::infinity();
};

struct Evaluation {
    double loss = 0;
    Act logits;         // (class, n)
    Act probabilities;  // (class, n)
    // Gradients of the loss, parallel to SequentialNet::params(); empty without the backward pass.
    std::vector<std::vector<double>> grads;
    Act grad_input;  // gradient of the loss with respect to the images
    KinkMargins margins;
};

// A chain of layers ending in softmax cross-entropy. Parameters are created (zero-filled) as layers
// are added, because each layer's input shape is known from the ones before it.
class SequentialNet {
public:
    // The input shape as CxHxW (images passed to evaluate() are Act(in_c, in_w, in_h, n)).
    SequentialNet(int64_t in_c, int64_t in_h, int64_t in_w);

    SequentialNet& conv2d(std::string name, const Conv2dSpec& spec);
    SequentialNet& relu();
    SequentialNet& max_pool(const Window& window);
    SequentialNet& flatten();
    SequentialNet& dense(std::string name, int64_t units, bool bias = true);

    const std::vector<Layer>& layers() const { return layers_; }
    std::vector<Param>& params() { return params_; }
    const std::vector<Param>& params() const { return params_; }
    Param& param(std::string_view name);  // throws when absent
    const Param& param(std::string_view name) const;

    int64_t in_c() const { return in_c_; }
    int64_t in_h() const { return in_h_; }
    int64_t in_w() const { return in_w_; }
    int64_t classes() const;  // features of the last layer; must be flat

    // PyTorch-like default init: weights and biases uniform in +-1/sqrt(fan_in).
    void randomize(uint64_t seed);
    // Rounds every parameter to float32, so that a float32 exchange with another implementation
    // hands both sides exactly the same values.
    void round_params_to_float();

    // Forward to the loss and, when `backward`, back to every parameter and the input.
    Evaluation evaluate(const Act& images, std::span<const int32_t> labels,
                        bool backward = true) const;
    double loss(const Act& images, std::span<const int32_t> labels) const;

private:
    int add_param(std::string name, std::vector<int64_t> extents);

    int64_t in_c_, in_h_, in_w_;
    int64_t cur_c_, cur_w_, cur_h_;  // shape after the last layer (w = h = 1 once flat)
    bool flat_ = false;
    std::vector<Layer> layers_;
    std::vector<Param> params_;
};

// LeNet-5 on 1x28x28: conv 6@5x5 pad 2 -> relu -> maxpool 2 -> conv 16@5x5 -> relu -> maxpool 2 ->
// flatten -> dense 120 -> relu -> dense 84 -> relu -> dense 10. Parameter names follow the DSL's
// automatic naming: conv2d, conv2d_1, dense, dense_1, dense_2 (each with .weight and .bias).
SequentialNet lenet5();

// One SGD-with-momentum step in PyTorch's semantics (dampening 0, no Nesterov, no weight decay):
// v = momentum * v + g; p = p - lr * v. `velocity` is resized (zero) on first use.
void sgd_momentum_step(SequentialNet& net, const std::vector<std::vector<double>>& grads,
                       std::vector<std::vector<double>>& velocity, double lr, double momentum);

// ---- random inputs ------------------------------------------------------------------------------

std::vector<double> random_values(size_t count, std::mt19937_64& rng, double lo = -1.0,
                                  double hi = 1.0);
Act random_act(int64_t c, int64_t w, int64_t h, int64_t n, std::mt19937_64& rng, double lo = -1.0,
               double hi = 1.0);
std::vector<int32_t> random_labels(int64_t n, int32_t classes, std::mt19937_64& rng);

// ---- finite differences -------------------------------------------------------------------------

// (f(p + eps) - f(p - eps)) / (2 eps) with respect to params[i]; params[i] is restored afterwards.
double central_difference(const std::function<double()>& f, std::span<double> params, size_t i,
                          double eps);

// A derivative estimate that knows when it straddled a kink (ReLU at zero, a max-pool tie).
//
// f is sampled at p + k*eps/2 for k = -2..2. For a smooth f the third differences of those five
// samples are O(eps^3) (plus rounding); a kink anywhere in [p - eps, p + eps] makes one of them of
// the order of eps * |slope jump|, so `kink` = max|third difference| / (eps/2) estimates the jump.
// The error a kink can cause in `value` is bounded by a small multiple of `kink`, which is why a
// probe that passes the kink test can be held to the same tolerance as a smooth one.
struct DerivativeProbe {
    double value = 0;  // Richardson extrapolation (4*D(eps/2) - D(eps)) / 3 of central differences
    double kink = 0;
    double slope_scale = 0;  // max |one-sided slope| over the four sub-intervals
    // Rounding bounds from the size of f: what `value` and `kink` cannot resolve below.
    double value_noise = 0;
    double kink_noise = 0;
};
DerivativeProbe probe_derivative(const std::function<double()>& f, std::span<double> params,
                                 size_t i, double eps);

struct FiniteDifferenceOptions {
    double eps = 1e-5;
    // Pass when |analytic - numeric| <= rel_tol * max(|analytic|, |numeric|, abs_floor)
    // + value_noise (rounding of f is not the analytic gradient's fault).
    double rel_tol = 1e-6;
    double abs_floor = 1e-6;
    // A probe is taken as smooth when kink <= kink_tol * max(slope_scale, abs_floor) + kink_noise;
    // others are skipped (counted, not failed).
    double kink_tol = 1e-6;
};

struct GradientCheckReport {
    size_t checked = 0;
    size_t skipped_kinks = 0;
    size_t failed = 0;
    double max_error = 0;  // max relative error over the checked probes, rounding included
    size_t worst_index = 0;
    double worst_analytic = 0, worst_numeric = 0;
    std::string summary() const;
};

// Compares analytic[i] with probe_derivative(f, params, i) for each i in `indices` (all when
// empty).
GradientCheckReport check_gradient(const std::function<double()>& f, std::span<double> params,
                                   std::span<const double> analytic,
                                   std::span<const size_t> indices,
                                   const FiniteDifferenceOptions& options);

// Up to `max_samples` distinct indices in [0, count), sorted; all of them when count is smaller.
std::vector<size_t> sample_indices(size_t count, size_t max_samples, uint64_t seed);

}  // namespace cnnc::reference
