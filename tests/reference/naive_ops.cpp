// Naive double-precision reference ops, their hand-written backward passes and finite differences.
#include "tests/reference/naive_ops.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <numeric>
#include <stdexcept>

namespace cnnc::reference {

namespace {

constexpr double inf = std::numeric_limits<double>::infinity();

[[noreturn]] void fail(const std::string& what) { throw std::invalid_argument(what); }

void require(bool ok, const std::string& what) {
    if (!ok) fail(what);
}

void require_span(std::span<const double> s, size_t expected, const char* op, const char* what) {
    if (s.size() != expected)
        fail(std::string(op) + ": " + what + " has " + std::to_string(s.size()) +
             " values, expected " + std::to_string(expected));
}

struct ConvDims {
    int64_t cin, cout, cin_per_group, cout_per_group, kw, kh, ow, oh;
};

ConvDims conv_dims(int64_t in_c, int64_t in_w, int64_t in_h, const Conv2dSpec& spec) {
    const Window& w = spec.window;
    require(spec.filters > 0, "conv2d: filters must be positive");
    require(spec.groups > 0, "conv2d: groups must be positive");
    require(in_c % spec.groups == 0 && spec.filters % spec.groups == 0,
            "conv2d: groups " + std::to_string(spec.groups) + " must divide input channels " +
                std::to_string(in_c) + " and filters " + std::to_string(spec.filters));
    ConvDims d{};
    d.cin = in_c;
    d.cout = spec.filters;
    d.cin_per_group = in_c / spec.groups;
    d.cout_per_group = spec.filters / spec.groups;
    d.kw = w.kernel_w;
    d.kh = w.kernel_h;
    d.ow = window_output(in_w, w.pads.left, w.pads.right, w.kernel_w, w.stride_w, w.dilation_w);
    d.oh = window_output(in_h, w.pads.top, w.pads.bottom, w.kernel_h, w.stride_h, w.dilation_h);
    return d;
}

size_t conv_weight_index(const ConvDims& d, int64_t co, int64_t kx, int64_t ky, int64_t ci) {
    return size_t(co + d.cout * (kx + d.kw * (ky + d.kh * ci)));
}

// Visits every (output, input, weight) triple of the convolution that reads real (unpadded) input,
// so forward and backward share one statement of the index math.
template <typename Visit>
void for_each_conv_tap(const Act& in, const Conv2dSpec& spec, const ConvDims& d, Visit&& visit) {
    const Window& w = spec.window;
    for (int64_t n = 0; n < in.n; ++n)
        for (int64_t oy = 0; oy < d.oh; ++oy)
            for (int64_t ox = 0; ox < d.ow; ++ox)
                for (int64_t co = 0; co < d.cout; ++co) {
                    int64_t group = co / d.cout_per_group;
                    for (int64_t cl = 0; cl < d.cin_per_group; ++cl) {
                        int64_t ci = group * d.cin_per_group + cl;
                        for (int64_t ky = 0; ky < d.kh; ++ky) {
                            int64_t iy = oy * w.stride_h - w.pads.top + ky * w.dilation_h;
                            if (iy < 0 || iy >= in.h) continue;
                            for (int64_t kx = 0; kx < d.kw; ++kx) {
                                int64_t ix = ox * w.stride_w - w.pads.left + kx * w.dilation_w;
                                if (ix < 0 || ix >= in.w) continue;
                                visit(in.index(ci, ix, iy, n), conv_weight_index(d, co, kx, ky, cl),
                                      co, ox, oy, n);
                            }
                        }
                    }
                }
}

struct PoolDims {
    int64_t ow, oh;
};

PoolDims pool_dims(const Act& in, const Window& w) {
    return {window_output(in.w, w.pads.left, w.pads.right, w.kernel_w, w.stride_w, w.dilation_w),
            window_output(in.h, w.pads.top, w.pads.bottom, w.kernel_h, w.stride_h, w.dilation_h)};
}

// The winner of one pooling window: the first strictly greatest element in (ky, kx) scan order;
// padded positions read as -inf and so never win over a real element.
struct PoolWinner {
    double best = -inf, second = -inf;
    int64_t index = -1;  // flat index into the input, -1 when the window saw only padding
};

PoolWinner pool_window(const Act& in, const Window& w, int64_t c, int64_t ox, int64_t oy,
                       int64_t n) {
    PoolWinner r;
    for (int64_t ky = 0; ky < w.kernel_h; ++ky) {
        int64_t iy = oy * w.stride_h - w.pads.top + ky * w.dilation_h;
        for (int64_t kx = 0; kx < w.kernel_w; ++kx) {
            int64_t ix = ox * w.stride_w - w.pads.left + kx * w.dilation_w;
            bool inside = iy >= 0 && iy < in.h && ix >= 0 && ix < in.w;
            double v = inside ? in.at(c, ix, iy, n) : -inf;
            if (v > r.best) {
                r.second = r.best;
                r.best = v;
                r.index = int64_t(in.index(c, ix, iy, n));
            } else if (v > r.second) {  // a tie with the best lands here: margin 0
                r.second = v;
            }
        }
    }
    return r;
}

void require_flat(const Act& a, const char* op) {
    require(a.is_flat(), std::string(op) + ": expects a flat input, got " + a.shape_text());
}

}  // namespace

// ---- Act ----------------------------------------------------------------------------------------

Act::Act(int64_t channels, int64_t width, int64_t height, int64_t batch)
    : c(channels), w(width), h(height), n(batch) {
    require(c >= 0 && w >= 0 && h >= 0 && n >= 0, "Act: negative extent");
    v.assign(size_t(c * w * h * n), 0.0);
}

std::string Act::shape_text() const {
    return std::to_string(c) + "x" + std::to_string(h) + "x" + std::to_string(w) + " x" +
           std::to_string(n);
}

int64_t window_output(int64_t in, int64_t pad_before, int64_t pad_after, int64_t kernel,
                      int64_t stride, int64_t dilation) {
    require(kernel > 0 && stride > 0 && dilation > 0 && pad_before >= 0 && pad_after >= 0,
            "window: kernel, stride and dilation must be positive, pads non-negative");
    int64_t span = dilation * (kernel - 1) + 1;
    int64_t padded = in + pad_before + pad_after;
    require(padded >= span, "window: dilated kernel " + std::to_string(span) +
                                " does not fit the padded input " + std::to_string(padded));
    return (padded - span) / stride + 1;
}

std::vector<int64_t> conv2d_weight_extents(const Conv2dSpec& spec, int64_t in_channels) {
    return {spec.filters, spec.window.kernel_w, spec.window.kernel_h, in_channels / spec.groups};
}

std::vector<int64_t> dense_weight_extents(int64_t units, int64_t inputs) { return {units, inputs}; }

// ---- conv2d -------------------------------------------------------------------------------------

Act conv2d_forward(const Act& in, const Conv2dSpec& spec, std::span<const double> weight,
                   std::span<const double> bias) {
    ConvDims d = conv_dims(in.c, in.w, in.h, spec);
    require_span(weight, size_t(d.cout * d.kw * d.kh * d.cin_per_group), "conv2d", "weight");
    if (!bias.empty()) require_span(bias, size_t(d.cout), "conv2d", "bias");
    Act out(d.cout, d.ow, d.oh, in.n);
    if (!bias.empty())
        for (int64_t n = 0; n < out.n; ++n)
            for (int64_t y = 0; y < out.h; ++y)
                for (int64_t x = 0; x < out.w; ++x)
                    for (int64_t co = 0; co < out.c; ++co) out.at(co, x, y, n) = bias[size_t(co)];
    for_each_conv_tap(in, spec, d,
                      [&](size_t i, size_t wi, int64_t co, int64_t ox, int64_t oy, int64_t n) {
                          out.at(co, ox, oy, n) += in.v[i] * weight[wi];
                      });
    return out;
}

Conv2dGrads conv2d_backward(const Act& in, const Conv2dSpec& spec, std::span<const double> weight,
                            const Act& grad_out) {
    ConvDims d = conv_dims(in.c, in.w, in.h, spec);
    require_span(weight, size_t(d.cout * d.kw * d.kh * d.cin_per_group), "conv2d", "weight");
    require(grad_out.c == d.cout && grad_out.w == d.ow && grad_out.h == d.oh && grad_out.n == in.n,
            "conv2d backward: output gradient " + grad_out.shape_text() + " does not match");
    Conv2dGrads g;
    g.input = Act(in.c, in.w, in.h, in.n);
    g.weight.assign(weight.size(), 0.0);
    for_each_conv_tap(in, spec, d,
                      [&](size_t i, size_t wi, int64_t co, int64_t ox, int64_t oy, int64_t n) {
                          double go = grad_out.at(co, ox, oy, n);
                          g.input.v[i] += go * weight[wi];
                          g.weight[wi] += go * in.v[i];
                      });
    if (spec.bias) {
        g.bias.assign(size_t(d.cout), 0.0);
        for (size_t i = 0; i < grad_out.v.size(); ++i)
            g.bias[i % size_t(d.cout)] += grad_out.v[i];  // co is the innermost dimension
    }
    return g;
}

// ---- relu ---------------------------------------------------------------------------------------

Act relu_forward(const Act& in, double* min_abs_input) {
    Act out = in;
    for (double& x : out.v) {
        if (min_abs_input) *min_abs_input = std::min(*min_abs_input, std::abs(x));
        x = x > 0 ? x : 0.0;
    }
    return out;
}

Act relu_backward(const Act& in, const Act& grad_out) {
    require(in.same_shape(grad_out), "relu backward: gradient " + grad_out.shape_text() +
                                         " does not match input " + in.shape_text());
    Act g = grad_out;
    for (size_t i = 0; i < g.v.size(); ++i)
        if (!(in.v[i] > 0)) g.v[i] = 0.0;
    return g;
}

// ---- max_pool -----------------------------------------------------------------------------------

Act max_pool_forward(const Act& in, const Window& window, double* min_margin) {
    PoolDims d = pool_dims(in, window);
    Act out(in.c, d.ow, d.oh, in.n);
    for (int64_t n = 0; n < in.n; ++n)
        for (int64_t y = 0; y < d.oh; ++y)
            for (int64_t x = 0; x < d.ow; ++x)
                for (int64_t c = 0; c < in.c; ++c) {
                    PoolWinner r = pool_window(in, window, c, x, y, n);
                    out.at(c, x, y, n) = r.best;
                    if (min_margin && r.index >= 0 && r.second != -inf)
                        *min_margin = std::min(*min_margin, r.best - r.second);
                }
    return out;
}

Act max_pool_backward(const Act& in, const Window& window, const Act& grad_out) {
    PoolDims d = pool_dims(in, window);
    require(grad_out.c == in.c && grad_out.w == d.ow && grad_out.h == d.oh && grad_out.n == in.n,
            "max_pool backward: output gradient " + grad_out.shape_text() + " does not match");
    Act g(in.c, in.w, in.h, in.n);
    for (int64_t n = 0; n < in.n; ++n)
        for (int64_t y = 0; y < d.oh; ++y)
            for (int64_t x = 0; x < d.ow; ++x)
                for (int64_t c = 0; c < in.c; ++c) {
                    PoolWinner r = pool_window(in, window, c, x, y, n);
                    if (r.index >= 0) g.v[size_t(r.index)] += grad_out.at(c, x, y, n);
                }
    return g;
}

// ---- flatten ------------------------------------------------------------------------------------

Act flatten_forward(const Act& in) {
    Act out = Act::flat(in.features(), in.n);
    for (int64_t n = 0; n < in.n; ++n)
        for (int64_t y = 0; y < in.h; ++y)
            for (int64_t x = 0; x < in.w; ++x)
                for (int64_t c = 0; c < in.c; ++c)
                    out.at(c * in.h * in.w + y * in.w + x, n) = in.at(c, x, y, n);
    return out;
}

Act flatten_backward(const Act& grad_out, int64_t c, int64_t w, int64_t h) {
    require_flat(grad_out, "flatten backward");
    require(grad_out.c == c * w * h, "flatten backward: " + std::to_string(grad_out.c) +
                                         " features do not match " + std::to_string(c) + "x" +
                                         std::to_string(h) + "x" + std::to_string(w));
    Act g(c, w, h, grad_out.n);
    for (int64_t n = 0; n < g.n; ++n)
        for (int64_t y = 0; y < h; ++y)
            for (int64_t x = 0; x < w; ++x)
                for (int64_t ci = 0; ci < c; ++ci)
                    g.at(ci, x, y, n) = grad_out.at(ci * h * w + y * w + x, n);
    return g;
}

// ---- dense --------------------------------------------------------------------------------------

Act dense_forward(const Act& in, int64_t units, std::span<const double> weight,
                  std::span<const double> bias) {
    require_flat(in, "dense");
    require_span(weight, size_t(units * in.c), "dense", "weight");
    if (!bias.empty()) require_span(bias, size_t(units), "dense", "bias");
    Act out = Act::flat(units, in.n);
    for (int64_t n = 0; n < in.n; ++n)
        for (int64_t o = 0; o < units; ++o) {
            double acc = bias.empty() ? 0.0 : bias[size_t(o)];
            for (int64_t i = 0; i < in.c; ++i) acc += weight[size_t(o + units * i)] * in.at(i, n);
            out.at(o, n) = acc;
        }
    return out;
}

DenseGrads dense_backward(const Act& in, int64_t units, std::span<const double> weight,
                          const Act& grad_out) {
    require_flat(in, "dense backward");
    require_span(weight, size_t(units * in.c), "dense", "weight");
    require(grad_out.is_flat() && grad_out.c == units && grad_out.n == in.n,
            "dense backward: output gradient " + grad_out.shape_text() + " does not match");
    DenseGrads g;
    g.input = Act::flat(in.c, in.n);
    g.weight.assign(weight.size(), 0.0);
    g.bias.assign(size_t(units), 0.0);
    for (int64_t n = 0; n < in.n; ++n)
        for (int64_t o = 0; o < units; ++o) {
            double go = grad_out.at(o, n);
            g.bias[size_t(o)] += go;
            for (int64_t i = 0; i < in.c; ++i) {
                g.weight[size_t(o + units * i)] += go * in.at(i, n);
                g.input.at(i, n) += go * weight[size_t(o + units * i)];
            }
        }
    return g;
}

// ---- softmax and the loss -----------------------------------------------------------------------

Act softmax_forward(const Act& logits) {
    require_flat(logits, "softmax");
    Act p = Act::flat(logits.c, logits.n);
    for (int64_t n = 0; n < logits.n; ++n) {
        double m = -inf;
        for (int64_t k = 0; k < logits.c; ++k) m = std::max(m, logits.at(k, n));
        double sum = 0;
        for (int64_t k = 0; k < logits.c; ++k) sum += p.at(k, n) = std::exp(logits.at(k, n) - m);
        for (int64_t k = 0; k < logits.c; ++k) p.at(k, n) /= sum;
    }
    return p;
}

Act softmax_backward(const Act& probabilities, const Act& grad_probabilities) {
    require_flat(probabilities, "softmax backward");
    require(probabilities.same_shape(grad_probabilities),
            "softmax backward: gradient " + grad_probabilities.shape_text() + " does not match " +
                probabilities.shape_text());
    Act g = Act::flat(probabilities.c, probabilities.n);
    for (int64_t n = 0; n < g.n; ++n) {
        double dot = 0;
        for (int64_t k = 0; k < g.c; ++k)
            dot += grad_probabilities.at(k, n) * probabilities.at(k, n);
        for (int64_t k = 0; k < g.c; ++k)
            g.at(k, n) = probabilities.at(k, n) * (grad_probabilities.at(k, n) - dot);
    }
    return g;
}

namespace {

void require_labels(const Act& logits, std::span<const int32_t> labels) {
    require_flat(logits, "softmax_cross_entropy");
    require(int64_t(labels.size()) == logits.n,
            "softmax_cross_entropy: " + std::to_string(labels.size()) + " labels for batch " +
                std::to_string(logits.n));
    for (int32_t l : labels)
        require(l >= 0 && l < logits.c, "softmax_cross_entropy: label " + std::to_string(l) +
                                            " outside [0, " + std::to_string(logits.c) + ")");
}

}  // namespace

double softmax_cross_entropy_forward(const Act& logits, std::span<const int32_t> labels) {
    require_labels(logits, labels);
    double total = 0;
    for (int64_t n = 0; n < logits.n; ++n) {
        double m = -inf;
        for (int64_t k = 0; k < logits.c; ++k) m = std::max(m, logits.at(k, n));
        double sum = 0;
        for (int64_t k = 0; k < logits.c; ++k) sum += std::exp(logits.at(k, n) - m);
        total += m + std::log(sum) - logits.at(labels[size_t(n)], n);
    }
    return total / double(logits.n);
}

Act softmax_cross_entropy_backward(const Act& logits, std::span<const int32_t> labels,
                                   double grad_loss) {
    require_labels(logits, labels);
    Act g = softmax_forward(logits);
    double scale = grad_loss / double(logits.n);
    for (int64_t n = 0; n < g.n; ++n) {
        g.at(labels[size_t(n)], n) -= 1.0;
        for (int64_t k = 0; k < g.c; ++k) g.at(k, n) *= scale;
    }
    return g;
}

// ---- average, L2 and global pooling -------------------------------------------------------------

namespace {

// Visits the real (unpadded) input pixels of one pooling window; returns how many there were.
template <typename Visit>
int64_t for_each_window_pixel(const Act& in, const Window& w, int64_t c, int64_t ox, int64_t oy,
                              int64_t n, Visit&& visit) {
    int64_t count = 0;
    for (int64_t ky = 0; ky < w.kernel_h; ++ky) {
        int64_t iy = oy * w.stride_h - w.pads.top + ky * w.dilation_h;
        if (iy < 0 || iy >= in.h) continue;
        for (int64_t kx = 0; kx < w.kernel_w; ++kx) {
            int64_t ix = ox * w.stride_w - w.pads.left + kx * w.dilation_w;
            if (ix < 0 || ix >= in.w) continue;
            visit(in.index(c, ix, iy, n));
            ++count;
        }
    }
    return count;
}

void require_pool_grad(const Act& in, const PoolDims& d, const Act& grad_out, const char* op) {
    require(grad_out.c == in.c && grad_out.w == d.ow && grad_out.h == d.oh && grad_out.n == in.n,
            std::string(op) + " backward: output gradient " + grad_out.shape_text() +
                " does not match");
}

double avg_divisor(const Window& w, bool count_include_pad, int64_t real_pixels) {
    if (count_include_pad) return double(w.kernel_h * w.kernel_w);
    require(real_pixels > 0, "avg_pool: a window covers padding only");
    return double(real_pixels);
}

}  // namespace

Act avg_pool_forward(const Act& in, const Window& window, bool count_include_pad) {
    PoolDims d = pool_dims(in, window);
    Act out(in.c, d.ow, d.oh, in.n);
    for (int64_t n = 0; n < in.n; ++n)
        for (int64_t y = 0; y < d.oh; ++y)
            for (int64_t x = 0; x < d.ow; ++x)
                for (int64_t c = 0; c < in.c; ++c) {
                    double sum = 0;
                    int64_t count = for_each_window_pixel(in, window, c, x, y, n,
                                                          [&](size_t i) { sum += in.v[i]; });
                    out.at(c, x, y, n) = sum / avg_divisor(window, count_include_pad, count);
                }
    return out;
}

Act avg_pool_backward(const Act& in, const Window& window, bool count_include_pad,
                      const Act& grad_out) {
    PoolDims d = pool_dims(in, window);
    require_pool_grad(in, d, grad_out, "avg_pool");
    Act g(in.c, in.w, in.h, in.n);
    for (int64_t n = 0; n < in.n; ++n)
        for (int64_t y = 0; y < d.oh; ++y)
            for (int64_t x = 0; x < d.ow; ++x)
                for (int64_t c = 0; c < in.c; ++c) {
                    int64_t count = for_each_window_pixel(in, window, c, x, y, n, [](size_t) {});
                    double share =
                        grad_out.at(c, x, y, n) / avg_divisor(window, count_include_pad, count);
                    for_each_window_pixel(in, window, c, x, y, n,
                                          [&](size_t i) { g.v[i] += share; });
                }
    return g;
}

Act l2_pool_forward(const Act& in, const Window& window) {
    PoolDims d = pool_dims(in, window);
    Act out(in.c, d.ow, d.oh, in.n);
    for (int64_t n = 0; n < in.n; ++n)
        for (int64_t y = 0; y < d.oh; ++y)
            for (int64_t x = 0; x < d.ow; ++x)
                for (int64_t c = 0; c < in.c; ++c) {
                    double sum = 0;
                    for_each_window_pixel(in, window, c, x, y, n,
                                          [&](size_t i) { sum += in.v[i] * in.v[i]; });
                    out.at(c, x, y, n) = std::sqrt(sum);
                }
    return out;
}

Act l2_pool_backward(const Act& in, const Window& window, const Act& grad_out) {
    PoolDims d = pool_dims(in, window);
    require_pool_grad(in, d, grad_out, "l2_pool");
    Act out = l2_pool_forward(in, window);
    Act g(in.c, in.w, in.h, in.n);
    for (int64_t n = 0; n < in.n; ++n)
        for (int64_t y = 0; y < d.oh; ++y)
            for (int64_t x = 0; x < d.ow; ++x)
                for (int64_t c = 0; c < in.c; ++c) {
                    double scale = grad_out.at(c, x, y, n) / out.at(c, x, y, n);
                    for_each_window_pixel(in, window, c, x, y, n,
                                          [&](size_t i) { g.v[i] += scale * in.v[i]; });
                }
    return g;
}

namespace {

void require_global_grad(const Act& in, const Act& grad_out, const char* op) {
    require(grad_out.c == in.c && grad_out.w == 1 && grad_out.h == 1 && grad_out.n == in.n,
            std::string(op) + " backward: output gradient " + grad_out.shape_text() +
                " does not match input " + in.shape_text());
}

}  // namespace

Act global_avg_pool_forward(const Act& in) {
    Act out(in.c, 1, 1, in.n);
    double count = double(in.w * in.h);
    for (int64_t n = 0; n < in.n; ++n)
        for (int64_t y = 0; y < in.h; ++y)
            for (int64_t x = 0; x < in.w; ++x)
                for (int64_t c = 0; c < in.c; ++c) out.at(c, 0, 0, n) += in.at(c, x, y, n) / count;
    return out;
}

Act global_avg_pool_backward(const Act& in, const Act& grad_out) {
    require_global_grad(in, grad_out, "global_avg_pool");
    Act g(in.c, in.w, in.h, in.n);
    double count = double(in.w * in.h);
    for (int64_t n = 0; n < in.n; ++n)
        for (int64_t y = 0; y < in.h; ++y)
            for (int64_t x = 0; x < in.w; ++x)
                for (int64_t c = 0; c < in.c; ++c)
                    g.at(c, x, y, n) = grad_out.at(c, 0, 0, n) / count;
    return g;
}

namespace {

// Index of the first maximum of channel c of sample n, scanning y outer, x inner.
size_t global_argmax(const Act& in, int64_t c, int64_t n) {
    require(in.w > 0 && in.h > 0, "global_max_pool: empty plane");
    size_t best = in.index(c, 0, 0, n);
    for (int64_t y = 0; y < in.h; ++y)
        for (int64_t x = 0; x < in.w; ++x)
            if (in.at(c, x, y, n) > in.v[best]) best = in.index(c, x, y, n);
    return best;
}

}  // namespace

Act global_max_pool_forward(const Act& in) {
    Act out(in.c, 1, 1, in.n);
    for (int64_t n = 0; n < in.n; ++n)
        for (int64_t c = 0; c < in.c; ++c) out.at(c, 0, 0, n) = in.v[global_argmax(in, c, n)];
    return out;
}

Act global_max_pool_backward(const Act& in, const Act& grad_out) {
    require_global_grad(in, grad_out, "global_max_pool");
    Act g(in.c, in.w, in.h, in.n);
    for (int64_t n = 0; n < in.n; ++n)
        for (int64_t c = 0; c < in.c; ++c) g.v[global_argmax(in, c, n)] += grad_out.at(c, 0, 0, n);
    return g;
}

// ---- element-wise activations -------------------------------------------------------------------

namespace {

template <typename F>
Act map_values(const Act& in, F&& f) {
    Act out = in;
    for (double& x : out.v) x = f(x);
    return out;
}

// grad_out * f'(x), with f' given as a function of the input.
template <typename F>
Act map_backward(const Act& in, const Act& grad_out, const char* op, F&& derivative) {
    require(in.same_shape(grad_out), std::string(op) + " backward: gradient " +
                                         grad_out.shape_text() + " does not match input " +
                                         in.shape_text());
    Act g = grad_out;
    for (size_t i = 0; i < g.v.size(); ++i) g.v[i] *= derivative(in.v[i]);
    return g;
}

double sigmoid(double x) { return 1.0 / (1.0 + std::exp(-x)); }

}  // namespace

Act sigmoid_forward(const Act& in) { return map_values(in, sigmoid); }

Act sigmoid_backward(const Act& in, const Act& grad_out) {
    return map_backward(in, grad_out, "sigmoid", [](double x) {
        double s = sigmoid(x);
        return s * (1 - s);
    });
}

Act tanh_forward(const Act& in) { return map_values(in, [](double x) { return std::tanh(x); }); }

Act tanh_backward(const Act& in, const Act& grad_out) {
    return map_backward(in, grad_out, "tanh", [](double x) {
        double t = std::tanh(x);
        return 1 - t * t;
    });
}

Act leaky_relu_forward(const Act& in, double alpha) {
    return map_values(in, [&](double x) { return x > 0 ? x : alpha * x; });
}

Act leaky_relu_backward(const Act& in, double alpha, const Act& grad_out) {
    return map_backward(in, grad_out, "leaky_relu",
                        [&](double x) { return x > 0 ? 1.0 : alpha; });
}

Act elu_forward(const Act& in, double alpha) {
    return map_values(in, [&](double x) { return x > 0 ? x : alpha * std::expm1(x); });
}

Act elu_backward(const Act& in, double alpha, const Act& grad_out) {
    return map_backward(in, grad_out, "elu",
                        [&](double x) { return x > 0 ? 1.0 : alpha * std::exp(x); });
}

Act log_softmax_forward(const Act& logits) {
    require_flat(logits, "log_softmax");
    Act out = Act::flat(logits.c, logits.n);
    for (int64_t n = 0; n < logits.n; ++n) {
        double m = -inf;
        for (int64_t k = 0; k < logits.c; ++k) m = std::max(m, logits.at(k, n));
        double sum = 0;
        for (int64_t k = 0; k < logits.c; ++k) sum += std::exp(logits.at(k, n) - m);
        double log_sum = m + std::log(sum);
        for (int64_t k = 0; k < logits.c; ++k) out.at(k, n) = logits.at(k, n) - log_sum;
    }
    return out;
}

Act log_softmax_backward(const Act& logits, const Act& grad_out) {
    require_flat(logits, "log_softmax backward");
    require(logits.same_shape(grad_out), "log_softmax backward: gradient " +
                                             grad_out.shape_text() + " does not match " +
                                             logits.shape_text());
    Act p = softmax_forward(logits);
    Act g = Act::flat(logits.c, logits.n);
    for (int64_t n = 0; n < g.n; ++n) {
        double total = 0;
        for (int64_t k = 0; k < g.c; ++k) total += grad_out.at(k, n);
        for (int64_t k = 0; k < g.c; ++k) g.at(k, n) = grad_out.at(k, n) - p.at(k, n) * total;
    }
    return g;
}

// ---- structural ops -----------------------------------------------------------------------------

Act add_forward(const std::vector<Act>& inputs) {
    require(!inputs.empty(), "add: no inputs");
    Act out = inputs[0];
    for (size_t k = 1; k < inputs.size(); ++k) {
        require(inputs[k].same_shape(out), "add: input " + std::to_string(k) + " is " +
                                               inputs[k].shape_text() + ", input 0 " +
                                               out.shape_text());
        for (size_t i = 0; i < out.v.size(); ++i) out.v[i] += inputs[k].v[i];
    }
    return out;
}

std::vector<Act> add_backward(const Act& grad_out, size_t inputs) {
    return std::vector<Act>(inputs, grad_out);
}

Act concat_forward(const std::vector<Act>& inputs) {
    require(!inputs.empty(), "concat: no inputs");
    const Act& first = inputs[0];
    int64_t channels = 0;
    for (const Act& a : inputs) {
        require(a.w == first.w && a.h == first.h && a.n == first.n,
                "concat: input " + a.shape_text() + " differs from " + first.shape_text() +
                    " in more than channels");
        channels += a.c;
    }
    Act out(channels, first.w, first.h, first.n);
    int64_t offset = 0;
    for (const Act& a : inputs) {
        for (int64_t n = 0; n < a.n; ++n)
            for (int64_t y = 0; y < a.h; ++y)
                for (int64_t x = 0; x < a.w; ++x)
                    for (int64_t c = 0; c < a.c; ++c) out.at(offset + c, x, y, n) = a.at(c, x, y, n);
        offset += a.c;
    }
    return out;
}

std::vector<Act> concat_backward(const Act& grad_out, std::span<const int64_t> channels) {
    int64_t total = 0;
    for (int64_t c : channels) total += c;
    require(total == grad_out.c, "concat backward: channel counts sum to " +
                                     std::to_string(total) + ", the gradient has " +
                                     std::to_string(grad_out.c));
    std::vector<Act> grads;
    int64_t offset = 0;
    for (int64_t channel_count : channels) {
        Act g(channel_count, grad_out.w, grad_out.h, grad_out.n);
        for (int64_t n = 0; n < g.n; ++n)
            for (int64_t y = 0; y < g.h; ++y)
                for (int64_t x = 0; x < g.w; ++x)
                    for (int64_t c = 0; c < g.c; ++c)
                        g.at(c, x, y, n) = grad_out.at(offset + c, x, y, n);
        grads.push_back(std::move(g));
        offset += channel_count;
    }
    return grads;
}

Act zero_pad_forward(const Act& in, const Pads& pads) {
    require(pads.top >= 0 && pads.bottom >= 0 && pads.left >= 0 && pads.right >= 0,
            "zero_pad: negative padding");
    Act out(in.c, in.w + pads.left + pads.right, in.h + pads.top + pads.bottom, in.n);
    for (int64_t n = 0; n < in.n; ++n)
        for (int64_t y = 0; y < in.h; ++y)
            for (int64_t x = 0; x < in.w; ++x)
                for (int64_t c = 0; c < in.c; ++c)
                    out.at(c, x + pads.left, y + pads.top, n) = in.at(c, x, y, n);
    return out;
}

Act zero_pad_backward(const Act& grad_out, const Pads& pads) {
    int64_t w = grad_out.w - pads.left - pads.right, h = grad_out.h - pads.top - pads.bottom;
    require(w > 0 && h > 0, "zero_pad backward: the padding is larger than the gradient " +
                                grad_out.shape_text());
    Act g(grad_out.c, w, h, grad_out.n);
    for (int64_t n = 0; n < g.n; ++n)
        for (int64_t y = 0; y < h; ++y)
            for (int64_t x = 0; x < w; ++x)
                for (int64_t c = 0; c < g.c; ++c)
                    g.at(c, x, y, n) = grad_out.at(c, x + pads.left, y + pads.top, n);
    return g;
}

Act reshape_forward(const Act& in, int64_t c, int64_t w, int64_t h) {
    require(c * w * h == in.features(), "reshape: " + in.shape_text() + " cannot become " +
                                            std::to_string(c) + "x" + std::to_string(h) + "x" +
                                            std::to_string(w));
    // Row-major per sample means through PyTorch's (c, y, x) order on both sides.
    return flatten_backward(flatten_forward(in), c, w, h);
}

Act dropout_forward(const Act& in, const Act& mask, double rate) {
    require(in.same_shape(mask), "dropout: mask " + mask.shape_text() + " does not match input " +
                                     in.shape_text());
    require(rate >= 0 && rate < 1, "dropout: rate must be in [0, 1)");
    Act out = in;
    for (size_t i = 0; i < out.v.size(); ++i) out.v[i] *= mask.v[i] / (1 - rate);
    return out;
}

Act dropout_backward(const Act& grad_out, const Act& mask, double rate) {
    return dropout_forward(grad_out, mask, rate);  // linear in x with the same coefficients
}

// ---- batch normalisation ------------------------------------------------------------------------

namespace {

void require_channel_vector(std::span<const double> v, const Act& in, const char* what) {
    if (!v.empty()) require_span(v, size_t(in.c), "batch_norm", what);
}

double gamma_at(std::span<const double> gamma, int64_t c) {
    return gamma.empty() ? 1.0 : gamma[size_t(c)];
}

// Per-channel mean and biased variance over (n, y, x); channels are innermost, so the flat index
// modulo C is the channel.
void batch_moments(const Act& in, std::vector<double>& mean, std::vector<double>& var) {
    size_t channels = size_t(in.c);
    double count = double(in.n * in.h * in.w);
    mean.assign(channels, 0.0);
    var.assign(channels, 0.0);
    for (size_t i = 0; i < in.v.size(); ++i) mean[i % channels] += in.v[i];
    for (double& m : mean) m /= count;
    for (size_t i = 0; i < in.v.size(); ++i) {
        double d = in.v[i] - mean[i % channels];
        var[i % channels] += d * d;
    }
    for (double& v : var) v /= count;
}

}  // namespace

BatchNormForward batch_norm_forward(const Act& in, const BatchNormSpec& spec,
                                    std::span<const double> gamma, std::span<const double> beta,
                                    std::span<const double> running_mean,
                                    std::span<const double> running_var) {
    require(spec.eps > 0, "batch_norm: eps must be positive");
    require_channel_vector(gamma, in, "gamma");
    require_channel_vector(beta, in, "beta");
    require_span(running_mean, size_t(in.c), "batch_norm", "running mean");
    require_span(running_var, size_t(in.c), "batch_norm", "running variance");
    BatchNormForward f;
    f.running_mean.assign(running_mean.begin(), running_mean.end());
    f.running_var.assign(running_var.begin(), running_var.end());
    if (spec.training) {
        int64_t count = in.n * in.h * in.w;
        require(count > 1, "batch_norm: training needs more than one value per channel");
        batch_moments(in, f.mean, f.var);
        double unbias = double(count) / double(count - 1);
        for (size_t c = 0; c < size_t(in.c); ++c) {
            f.running_mean[c] = (1 - spec.momentum) * f.running_mean[c] + spec.momentum * f.mean[c];
            f.running_var[c] =
                (1 - spec.momentum) * f.running_var[c] + spec.momentum * f.var[c] * unbias;
        }
    } else {
        f.mean = f.running_mean;
        f.var = f.running_var;
    }
    f.out = in;
    size_t channels = size_t(in.c);
    for (size_t i = 0; i < f.out.v.size(); ++i) {
        size_t c = i % channels;
        double xhat = (in.v[i] - f.mean[c]) / std::sqrt(f.var[c] + spec.eps);
        f.out.v[i] = gamma_at(gamma, int64_t(c)) * xhat + (beta.empty() ? 0.0 : beta[c]);
    }
    return f;
}

BatchNormGrads batch_norm_backward(const Act& in, const BatchNormSpec& spec,
                                   std::span<const double> gamma,
                                   std::span<const double> running_mean,
                                   std::span<const double> running_var, const Act& grad_out) {
    require(in.same_shape(grad_out), "batch_norm backward: gradient " + grad_out.shape_text() +
                                         " does not match input " + in.shape_text());
    BatchNormForward f = batch_norm_forward(in, spec, gamma, {}, running_mean, running_var);
    size_t channels = size_t(in.c);
    std::vector<double> inv_std(channels), xhat(in.v.size());
    for (size_t c = 0; c < channels; ++c) inv_std[c] = 1.0 / std::sqrt(f.var[c] + spec.eps);
    for (size_t i = 0; i < in.v.size(); ++i)
        xhat[i] = (in.v[i] - f.mean[i % channels]) * inv_std[i % channels];

    BatchNormGrads g;
    g.weight.assign(channels, 0.0);
    g.bias.assign(channels, 0.0);
    for (size_t i = 0; i < in.v.size(); ++i) {
        g.weight[i % channels] += grad_out.v[i] * xhat[i];
        g.bias[i % channels] += grad_out.v[i];
    }
    g.input = in;
    if (!spec.training) {
        for (size_t i = 0; i < in.v.size(); ++i) {
            size_t c = i % channels;
            g.input.v[i] = grad_out.v[i] * gamma_at(gamma, int64_t(c)) * inv_std[c];
        }
        return g;
    }
    // With dxhat = g * gamma: dx = inv_std * (dxhat - mean(dxhat) - xhat * mean(dxhat * xhat)),
    // and per channel sum(dxhat) = gamma * dbeta, sum(dxhat * xhat) = gamma * dgamma.
    double count = double(in.n * in.h * in.w);
    for (size_t i = 0; i < in.v.size(); ++i) {
        size_t c = i % channels;
        double gm = gamma_at(gamma, int64_t(c));
        double dxhat = grad_out.v[i] * gm;
        g.input.v[i] = inv_std[c] * (dxhat - gm * g.bias[c] / count -
                                     xhat[i] * gm * g.weight[c] / count);
    }
    return g;
}

// ---- losses -------------------------------------------------------------------------------------

double mse_forward(const Act& in, const Act& targets) {
    require(in.same_shape(targets), "mse: targets " + targets.shape_text() +
                                        " do not match input " + in.shape_text());
    require(!in.v.empty(), "mse: empty input");
    double total = 0;
    for (size_t i = 0; i < in.v.size(); ++i) total += (in.v[i] - targets.v[i]) * (in.v[i] - targets.v[i]);
    return total / double(in.v.size());
}

Act mse_backward(const Act& in, const Act& targets, double grad_loss) {
    require(in.same_shape(targets), "mse backward: targets " + targets.shape_text() +
                                        " do not match input " + in.shape_text());
    Act g = in;
    double scale = 2 * grad_loss / double(in.v.size());
    for (size_t i = 0; i < g.v.size(); ++i) g.v[i] = scale * (in.v[i] - targets.v[i]);
    return g;
}

double smoothed_cross_entropy_forward(const Act& logits, std::span<const int32_t> labels,
                                      double label_smoothing) {
    require_labels(logits, labels);
    require(label_smoothing >= 0 && label_smoothing <= 1,
            "smoothed cross-entropy: label smoothing must be in [0, 1]");
    Act logp = log_softmax_forward(logits);
    double off = label_smoothing / double(logits.c);
    double total = 0;
    for (int64_t n = 0; n < logits.n; ++n)
        for (int64_t k = 0; k < logits.c; ++k) {
            double q = off + (k == labels[size_t(n)] ? 1 - label_smoothing : 0.0);
            total -= q * logp.at(k, n);
        }
    return total / double(logits.n);
}

Act smoothed_cross_entropy_backward(const Act& logits, std::span<const int32_t> labels,
                                    double label_smoothing, double grad_loss) {
    require_labels(logits, labels);
    Act g = softmax_forward(logits);
    double off = label_smoothing / double(logits.c);
    double scale = grad_loss / double(logits.n);
    for (int64_t n = 0; n < g.n; ++n)
        for (int64_t k = 0; k < g.c; ++k) {
            double q = off + (k == labels[size_t(n)] ? 1 - label_smoothing : 0.0);
            g.at(k, n) = scale * (g.at(k, n) - q);
        }
    return g;
}

// ---- transposed conv2d --------------------------------------------------------------------------

int64_t transposed_window_output(int64_t in, int64_t pad_before, int64_t pad_after,
                                 int64_t kernel, int64_t stride, int64_t dilation,
                                 int64_t output_padding) {
    require(in > 0 && kernel > 0 && stride > 0 && dilation > 0 && pad_before >= 0 &&
                pad_after >= 0 && output_padding >= 0,
            "transposed window: input, kernel, stride and dilation must be positive, pads and "
            "output padding non-negative");
    int64_t out = (in - 1) * stride - pad_before - pad_after + dilation * (kernel - 1) +
                  output_padding + 1;
    require(out > 0, "transposed window: pads " + std::to_string(pad_before) + " + " +
                         std::to_string(pad_after) + " leave no output");
    return out;
}

std::vector<int64_t> transposed_conv2d_weight_extents(const TransposedConv2dSpec& spec,
                                                      int64_t in_channels) {
    return {spec.filters / spec.groups, spec.window.kernel_w, spec.window.kernel_h, in_channels};
}

namespace {

struct TransposedDims {
    int64_t cin_per_group, cout_per_group, kw, kh, ow, oh;
};

TransposedDims transposed_dims(const Act& in, const TransposedConv2dSpec& spec) {
    const Window& w = spec.window;
    require(spec.filters > 0, "transposed_conv2d: filters must be positive");
    require(spec.groups > 0, "transposed_conv2d: groups must be positive");
    require(in.c % spec.groups == 0 && spec.filters % spec.groups == 0,
            "transposed_conv2d: groups " + std::to_string(spec.groups) +
                " must divide input channels " + std::to_string(in.c) + " and filters " +
                std::to_string(spec.filters));
    TransposedDims d{};
    d.cin_per_group = in.c / spec.groups;
    d.cout_per_group = spec.filters / spec.groups;
    d.kw = w.kernel_w;
    d.kh = w.kernel_h;
    d.ow = transposed_window_output(in.w, w.pads.left, w.pads.right, w.kernel_w, w.stride_w,
                                    w.dilation_w, spec.output_padding_w);
    d.oh = transposed_window_output(in.h, w.pads.top, w.pads.bottom, w.kernel_h, w.stride_h,
                                    w.dilation_h, spec.output_padding_h);
    return d;
}

// Visits every (input, weight, output) triple that lands inside the cropped output.
template <typename Visit>
void for_each_transposed_tap(const Act& in, const TransposedConv2dSpec& spec,
                             const TransposedDims& d, Visit&& visit) {
    const Window& w = spec.window;
    for (int64_t n = 0; n < in.n; ++n)
        for (int64_t iy = 0; iy < in.h; ++iy)
            for (int64_t ix = 0; ix < in.w; ++ix)
                for (int64_t ci = 0; ci < in.c; ++ci) {
                    int64_t group = ci / d.cin_per_group;
                    for (int64_t ky = 0; ky < d.kh; ++ky) {
                        int64_t oy = iy * w.stride_h - w.pads.top + ky * w.dilation_h;
                        if (oy < 0 || oy >= d.oh) continue;
                        for (int64_t kx = 0; kx < d.kw; ++kx) {
                            int64_t ox = ix * w.stride_w - w.pads.left + kx * w.dilation_w;
                            if (ox < 0 || ox >= d.ow) continue;
                            for (int64_t cg = 0; cg < d.cout_per_group; ++cg) {
                                size_t wi = size_t(cg + d.cout_per_group * (kx + d.kw * (ky + d.kh * ci)));
                                visit(in.index(ci, ix, iy, n), wi,
                                      group * d.cout_per_group + cg, ox, oy, n);
                            }
                        }
                    }
                }
}

}  // namespace

Act transposed_conv2d_forward(const Act& in, const TransposedConv2dSpec& spec,
                              std::span<const double> weight, std::span<const double> bias) {
    TransposedDims d = transposed_dims(in, spec);
    require_span(weight, size_t(d.cout_per_group * d.kw * d.kh * in.c), "transposed_conv2d",
                 "weight");
    if (!bias.empty()) require_span(bias, size_t(spec.filters), "transposed_conv2d", "bias");
    Act out(spec.filters, d.ow, d.oh, in.n);
    if (!bias.empty())
        for (size_t i = 0; i < out.v.size(); ++i) out.v[i] = bias[i % size_t(spec.filters)];
    for_each_transposed_tap(in, spec, d,
                            [&](size_t i, size_t wi, int64_t co, int64_t ox, int64_t oy, int64_t n) {
                                out.at(co, ox, oy, n) += in.v[i] * weight[wi];
                            });
    return out;
}

Conv2dGrads transposed_conv2d_backward(const Act& in, const TransposedConv2dSpec& spec,
                                       std::span<const double> weight, const Act& grad_out) {
    TransposedDims d = transposed_dims(in, spec);
    require_span(weight, size_t(d.cout_per_group * d.kw * d.kh * in.c), "transposed_conv2d",
                 "weight");
    require(grad_out.c == spec.filters && grad_out.w == d.ow && grad_out.h == d.oh &&
                grad_out.n == in.n,
            "transposed_conv2d backward: output gradient " + grad_out.shape_text() +
                " does not match");
    Conv2dGrads g;
    g.input = Act(in.c, in.w, in.h, in.n);
    g.weight.assign(weight.size(), 0.0);
    for_each_transposed_tap(in, spec, d,
                            [&](size_t i, size_t wi, int64_t co, int64_t ox, int64_t oy, int64_t n) {
                                double go = grad_out.at(co, ox, oy, n);
                                g.input.v[i] += go * weight[wi];
                                g.weight[wi] += go * in.v[i];
                            });
    if (spec.bias) {
        g.bias.assign(size_t(spec.filters), 0.0);
        for (size_t i = 0; i < grad_out.v.size(); ++i) g.bias[i % size_t(spec.filters)] += grad_out.v[i];
    }
    return g;
}

// ---- SequentialNet ------------------------------------------------------------------------------

SequentialNet::SequentialNet(int64_t in_c, int64_t in_h, int64_t in_w)
    : in_c_(in_c), in_h_(in_h), in_w_(in_w), cur_c_(in_c), cur_w_(in_w), cur_h_(in_h) {
    require(in_c > 0 && in_h > 0 && in_w > 0, "SequentialNet: input extents must be positive");
}

int SequentialNet::add_param(std::string name, std::vector<int64_t> extents) {
    for (const Param& p : params_) require(p.name != name, "SequentialNet: duplicate " + name);
    int64_t count = 1;
    for (int64_t e : extents) count *= e;
    params_.push_back(
        Param{std::move(name), std::move(extents), std::vector<double>(size_t(count))});
    return int(params_.size()) - 1;
}

SequentialNet& SequentialNet::conv2d(std::string name, const Conv2dSpec& spec) {
    require(!flat_, "SequentialNet: conv2d '" + name + "' after flatten");
    Layer l;
    l.kind = LayerKind::conv2d;
    l.name = name;
    l.conv = spec;
    l.in_c = cur_c_, l.in_w = cur_w_, l.in_h = cur_h_;
    // Validates through the same function the forward uses, so a bad spec fails here, by name.
    ConvDims d = conv_dims(cur_c_, cur_w_, cur_h_, spec);
    l.weight_param = add_param(name + ".weight", conv2d_weight_extents(spec, cur_c_));
    if (spec.bias) l.bias_param = add_param(name + ".bias", {spec.filters});
    cur_c_ = spec.filters;
    cur_w_ = d.ow;
    cur_h_ = d.oh;
    layers_.push_back(std::move(l));
    return *this;
}

SequentialNet& SequentialNet::relu() {
    Layer l;
    l.kind = LayerKind::relu;
    l.in_c = cur_c_, l.in_w = cur_w_, l.in_h = cur_h_;
    layers_.push_back(std::move(l));
    return *this;
}

SequentialNet& SequentialNet::max_pool(const Window& window) {
    require(!flat_, "SequentialNet: max_pool after flatten");
    Layer l;
    l.kind = LayerKind::max_pool;
    l.pool = window;
    l.in_c = cur_c_, l.in_w = cur_w_, l.in_h = cur_h_;
    const Window& w = window;
    cur_w_ = window_output(cur_w_, w.pads.left, w.pads.right, w.kernel_w, w.stride_w, w.dilation_w);
    cur_h_ = window_output(cur_h_, w.pads.top, w.pads.bottom, w.kernel_h, w.stride_h, w.dilation_h);
    layers_.push_back(std::move(l));
    return *this;
}

SequentialNet& SequentialNet::flatten() {
    Layer l;
    l.kind = LayerKind::flatten;
    l.in_c = cur_c_, l.in_w = cur_w_, l.in_h = cur_h_;
    cur_c_ = cur_c_ * cur_w_ * cur_h_;
    cur_w_ = cur_h_ = 1;
    flat_ = true;
    layers_.push_back(std::move(l));
    return *this;
}

SequentialNet& SequentialNet::dense(std::string name, int64_t units, bool bias) {
    require(flat_, "SequentialNet: dense '" + name + "' needs a flatten first");
    require(units > 0, "SequentialNet: dense '" + name + "' needs positive units");
    Layer l;
    l.kind = LayerKind::dense;
    l.name = name;
    l.units = units;
    l.bias = bias;
    l.in_c = cur_c_, l.in_w = 1, l.in_h = 1;
    l.weight_param = add_param(name + ".weight", dense_weight_extents(units, cur_c_));
    if (bias) l.bias_param = add_param(name + ".bias", {units});
    cur_c_ = units;
    layers_.push_back(std::move(l));
    return *this;
}

Param& SequentialNet::param(std::string_view name) {
    for (Param& p : params_)
        if (p.name == name) return p;
    fail("SequentialNet: no parameter named '" + std::string(name) + "'");
}

const Param& SequentialNet::param(std::string_view name) const {
    return const_cast<SequentialNet*>(this)->param(name);
}

int64_t SequentialNet::classes() const {
    require(flat_, "SequentialNet: the last layer is not flat");
    return cur_c_;
}

void SequentialNet::randomize(uint64_t seed) {
    std::mt19937_64 rng(seed);
    for (const Layer& l : layers_) {
        if (l.weight_param < 0) continue;
        int64_t fan_in =
            l.kind == LayerKind::conv2d
                ? (l.in_c / l.conv.groups) * l.conv.window.kernel_h * l.conv.window.kernel_w
                : l.in_c;
        double bound = 1.0 / std::sqrt(double(fan_in));
        for (int p : {l.weight_param, l.bias_param})
            if (p >= 0) {
                auto& values = params_[size_t(p)].values;
                values = random_values(values.size(), rng, -bound, bound);
            }
    }
}

void SequentialNet::round_params_to_float() {
    for (Param& p : params_)
        for (double& x : p.values) x = double(float(x));
}

namespace {

std::span<const double> param_values(const std::vector<Param>& params, int index) {
    if (index < 0) return {};
    return params[size_t(index)].values;
}

}  // namespace

Evaluation SequentialNet::evaluate(const Act& images, std::span<const int32_t> labels,
                                   bool backward) const {
    require(images.c == in_c_ && images.w == in_w_ && images.h == in_h_,
            "SequentialNet: images " + images.shape_text() + " do not match the input " +
                std::to_string(in_c_) + "x" + std::to_string(in_h_) + "x" + std::to_string(in_w_));
    Evaluation e;
    // inputs[i] is the input of layer i; the backward pass needs all of them.
    std::vector<Act> inputs;
    inputs.reserve(layers_.size() + 1);
    inputs.push_back(images);
    for (const Layer& l : layers_) {
        const Act& x = inputs.back();
        switch (l.kind) {
            case LayerKind::conv2d:
                inputs.push_back(conv2d_forward(x, l.conv, param_values(params_, l.weight_param),
                                                param_values(params_, l.bias_param)));
                break;
            case LayerKind::relu:
                inputs.push_back(relu_forward(x, &e.margins.min_relu_input));
                break;
            case LayerKind::max_pool:
                inputs.push_back(max_pool_forward(x, l.pool, &e.margins.min_pool_margin));
                break;
            case LayerKind::flatten:
                inputs.push_back(flatten_forward(x));
                break;
            case LayerKind::dense:
                inputs.push_back(dense_forward(x, l.units, param_values(params_, l.weight_param),
                                               param_values(params_, l.bias_param)));
                break;
        }
    }
    e.logits = inputs.back();
    e.probabilities = softmax_forward(e.logits);
    e.loss = softmax_cross_entropy_forward(e.logits, labels);
    if (!backward) return e;

    e.grads.resize(params_.size());
    Act g = softmax_cross_entropy_backward(e.logits, labels);
    for (size_t i = layers_.size(); i-- > 0;) {
        const Layer& l = layers_[i];
        const Act& x = inputs[i];
        switch (l.kind) {
            case LayerKind::conv2d: {
                Conv2dGrads cg =
                    conv2d_backward(x, l.conv, param_values(params_, l.weight_param), g);
                e.grads[size_t(l.weight_param)] = std::move(cg.weight);
                if (l.bias_param >= 0) e.grads[size_t(l.bias_param)] = std::move(cg.bias);
                g = std::move(cg.input);
                break;
            }
            case LayerKind::relu:
                g = relu_backward(x, g);
                break;
            case LayerKind::max_pool:
                g = max_pool_backward(x, l.pool, g);
                break;
            case LayerKind::flatten:
                g = flatten_backward(g, l.in_c, l.in_w, l.in_h);
                break;
            case LayerKind::dense: {
                DenseGrads dg =
                    dense_backward(x, l.units, param_values(params_, l.weight_param), g);
                e.grads[size_t(l.weight_param)] = std::move(dg.weight);
                if (l.bias_param >= 0) e.grads[size_t(l.bias_param)] = std::move(dg.bias);
                g = std::move(dg.input);
                break;
            }
        }
    }
    e.grad_input = std::move(g);
    return e;
}

double SequentialNet::loss(const Act& images, std::span<const int32_t> labels) const {
    return evaluate(images, labels, false).loss;
}

SequentialNet lenet5() {
    SequentialNet net(1, 28, 28);
    Conv2dSpec c1;
    c1.filters = 6;
    c1.window.kernel_h = c1.window.kernel_w = 5;
    c1.window.pads = Pads{2, 2, 2, 2};  // SAME for a 5x5 kernel at stride 1
    Conv2dSpec c2;
    c2.filters = 16;
    c2.window.kernel_h = c2.window.kernel_w = 5;
    Window pool;
    pool.kernel_h = pool.kernel_w = 2;
    pool.stride_h = pool.stride_w = 2;
    net.conv2d("conv2d", c1).relu().max_pool(pool);
    net.conv2d("conv2d_1", c2).relu().max_pool(pool);
    net.flatten().dense("dense", 120).relu().dense("dense_1", 84).relu().dense("dense_2", 10);
    return net;
}

void sgd_momentum_step(SequentialNet& net, const std::vector<std::vector<double>>& grads,
                       std::vector<std::vector<double>>& velocity, double lr, double momentum) {
    auto& params = net.params();
    require(grads.size() == params.size(), "sgd_momentum_step: gradient count mismatch");
    if (velocity.empty())
        for (const Param& p : params) velocity.emplace_back(p.values.size(), 0.0);
    for (size_t p = 0; p < params.size(); ++p) {
        require(grads[p].size() == params[p].values.size(),
                "sgd_momentum_step: gradient size mismatch for " + params[p].name);
        for (size_t i = 0; i < grads[p].size(); ++i) {
            velocity[p][i] = momentum * velocity[p][i] + grads[p][i];
            params[p].values[i] -= lr * velocity[p][i];
        }
    }
}

// ---- random inputs ------------------------------------------------------------------------------

std::vector<double> random_values(size_t count, std::mt19937_64& rng, double lo, double hi) {
    std::uniform_real_distribution<double> dist(lo, hi);
    std::vector<double> v(count);
    for (double& x : v) x = dist(rng);
    return v;
}

Act random_act(int64_t c, int64_t w, int64_t h, int64_t n, std::mt19937_64& rng, double lo,
               double hi) {
    Act a(c, w, h, n);
    a.v = random_values(a.v.size(), rng, lo, hi);
    return a;
}

std::vector<int32_t> random_labels(int64_t n, int32_t classes, std::mt19937_64& rng) {
    std::uniform_int_distribution<int32_t> dist(0, classes - 1);
    std::vector<int32_t> labels(static_cast<size_t>(n));
    for (int32_t& l : labels) l = dist(rng);
    return labels;
}

// ---- finite differences -------------------------------------------------------------------------

namespace {

// f with params[i] moved by `delta` from `base`, restoring nothing (the caller restores).
double eval_at(const std::function<double()>& f, std::span<double> params, size_t i, double base,
               double delta) {
    params[i] = base + delta;
    return f();
}

}  // namespace

double central_difference(const std::function<double()>& f, std::span<double> params, size_t i,
                          double eps) {
    require(i < params.size(), "central_difference: index out of range");
    double base = params[i];
    double plus = eval_at(f, params, i, base, eps);
    double minus = eval_at(f, params, i, base, -eps);
    params[i] = base;
    return (plus - minus) / (2 * eps);
}

DerivativeProbe probe_derivative(const std::function<double()>& f, std::span<double> params,
                                 size_t i, double eps) {
    require(i < params.size(), "probe_derivative: index out of range");
    double base = params[i];
    double h = eps / 2;
    double s[5];
    for (int k = 0; k < 5; ++k) s[k] = k == 2 ? 0.0 : eval_at(f, params, i, base, (k - 2) * h);
    params[i] = base;
    s[2] = f();  // evaluated at the restored value, so it is exactly f(p)

    DerivativeProbe r;
    double d_full = (s[4] - s[0]) / (2 * eps);
    double d_half = (s[3] - s[1]) / eps;
    r.value = (4 * d_half - d_full) / 3;
    double third_a = s[3] - 3 * s[2] + 3 * s[1] - s[0];
    double third_b = s[4] - 3 * s[3] + 3 * s[2] - s[1];
    r.kink = std::max(std::abs(third_a), std::abs(third_b)) / h;
    double f_scale = 0;
    for (int k = 0; k < 5; ++k) f_scale = std::max(f_scale, std::abs(s[k]));
    for (int k = 0; k < 4; ++k)
        r.slope_scale = std::max(r.slope_scale, std::abs(s[k + 1] - s[k]) / h);
    // Each sample carries up to a few ulps of |f|; the coefficients sum to 8/3 / eps for `value`
    // and 8 / h for a third difference. Doubled for the error of f's own evaluation.
    constexpr double ulp = std::numeric_limits<double>::epsilon();
    r.value_noise = 2 * (8.0 / 3.0) * ulp * f_scale / eps;
    r.kink_noise = 2 * 8 * ulp * f_scale / h;
    return r;
}

std::string GradientCheckReport::summary() const {
    char buf[256];
    std::snprintf(buf, sizeof buf,
                  "checked %zu, skipped %zu at kinks, failed %zu; max relative error %.3g at "
                  "index %zu (analytic %.12g, numeric %.12g)",
                  checked, skipped_kinks, failed, max_error, worst_index, worst_analytic,
                  worst_numeric);
    return buf;
}

GradientCheckReport check_gradient(const std::function<double()>& f, std::span<double> params,
                                   std::span<const double> analytic,
                                   std::span<const size_t> indices,
                                   const FiniteDifferenceOptions& options) {
    require(analytic.size() == params.size(), "check_gradient: analytic gradient has " +
                                                  std::to_string(analytic.size()) + " values for " +
                                                  std::to_string(params.size()) + " parameters");
    std::vector<size_t> all;
    if (indices.empty()) {
        all.resize(params.size());
        std::iota(all.begin(), all.end(), size_t(0));
        indices = all;
    }
    GradientCheckReport report;
    for (size_t i : indices) {
        DerivativeProbe p = probe_derivative(f, params, i, options.eps);
        if (p.kink > options.kink_tol * std::max(p.slope_scale, options.abs_floor) + p.kink_noise) {
            ++report.skipped_kinks;
            continue;
        }
        ++report.checked;
        double a = analytic[i];
        double scale = std::max({std::abs(a), std::abs(p.value), options.abs_floor});
        double error = std::abs(a - p.value) / scale;
        if (std::isnan(error)) error = inf;  // a NaN must fail, not compare as "not worse"
        if (!(error <= options.rel_tol + p.value_noise / scale)) ++report.failed;
        if (report.checked == 1 || error > report.max_error) {
            report.max_error = error;
            report.worst_index = i;
            report.worst_analytic = a;
            report.worst_numeric = p.value;
        }
    }
    return report;
}

std::vector<size_t> sample_indices(size_t count, size_t max_samples, uint64_t seed) {
    std::vector<size_t> all(count);
    std::iota(all.begin(), all.end(), size_t(0));
    if (count <= max_samples) return all;
    std::mt19937_64 rng(seed);
    std::shuffle(all.begin(), all.end(), rng);
    all.resize(max_samples);
    std::sort(all.begin(), all.end());
    return all;
}

}  // namespace cnnc::reference
