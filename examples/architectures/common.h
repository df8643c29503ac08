// Pieces shared by the CNN canon: layer names from torchvision module paths, PyTorch's padding
// and ceil-mode pooling, and torchvision's way of counting parameters.
#pragma once

#include <cstdint>
#include <string_view>

#include "dsl/dsl.h"

// Naming rule of every architecture here: a layer with parameters is named after the torchvision
// module that holds the same tensors, its module path with '.' replaced by '_' ("layer1.0.conv1"
// -> "layer1_0_conv1", "features.0.0" -> "features_0_0"), so parameter <name>.<role> (weight,
// bias, running_mean, running_var) is state_dict key <path>.<role>. Layers without parameters
// take their torchvision module's path where one exists (a ReLU at "features.1" is "features_1")
// and otherwise their block's path plus what they do ("layer1_0_add", "Mixed_5b_concat").
namespace cnnc::arch {

namespace detail {

constexpr void append_part(Name& n, std::string_view part) {
    if (!n.empty()) n.append("_");
    n.append(part);
}
constexpr void append_part(Name& n, int index) {
    if (!n.empty()) n.append("_");
    n.append(int64_t(index));
}
constexpr void append_part(Name& n, const Name& part) { append_part(n, part.view()); }

}  // namespace detail

// path("layer", 1, "conv") == "layer_1_conv": a module path joined with '_'. The result outlives
// the layer call it names, so `.name = path(...).view()` is safe within one statement.
template <class... Parts>
constexpr Name path(const Parts&... parts) {
    Name n;
    (detail::append_part(n, parts), ...);
    return n;
}

// PyTorch's padding=p: p zeros on every side. SAME agrees on the output size but puts an odd
// padding total at the end, which shifts every stride-2 window by a pixel against torch's.
inline constexpr Padding torch_padding = Padding::explicit_sides;
constexpr Pads pad(int p) { return {p, p, p, p}; }
constexpr Pads pad(int h, int w) { return {h, h, w, w}; }

namespace detail {

// Extra rows at the end that make a VALID window count equal PyTorch's ceil_mode count: windows
// may run off the end, but the last one must start inside the input or its left padding.
constexpr int ceil_mode_extra(int64_t in, int kernel, int stride, int padding) {
    int64_t span = in + 2 * padding - kernel;
    int64_t out = (span + stride - 1) / stride + 1;
    if ((out - 1) * stride >= in + padding) --out;
    int64_t extra = (out - 1) * stride + kernel - (in + 2 * padding);
    return extra > 0 ? int(extra) : 0;
}

}  // namespace detail

// nn.MaxPool2d(kernel, stride, padding, ceil_mode=True). Max pooling pads with -inf, so the
// extra end padding reads nothing, exactly like PyTorch's partial last window.
constexpr Tensor max_pool_ceil(Tensor x, int kernel, int stride, int padding,
                               std::string_view name) {
    Shape s = x.shape();
    int extra_h = detail::ceil_mode_extra(s.height(), kernel, stride, padding);
    int extra_w = detail::ceil_mode_extra(s.width(), kernel, stride, padding);
    Pads p{padding, padding + extra_h, padding, padding + extra_w};
    return max_pool(x, {.kernel = kernel, .stride = stride, .padding = torch_padding, .pads = p,
                        .name = name});
}

// torchvision's count, sum(p.numel() for p in model.parameters()): batch norm's running
// statistics are buffers there, while Model::parameter_count() counts every stored tensor.
constexpr int64_t learnable_parameter_count(const Model& m) {
    int64_t total = 0;
    for (const Node& n : m.nodes())
        if (!n.inputs.empty())
            for (const ParamShape& p : param_shapes(n.op, n.attrs, m.node(n.inputs[0]).shape))
                if (p.learnable) total += p.extents.elements();
    return total;
}

}  // namespace cnnc::arch
