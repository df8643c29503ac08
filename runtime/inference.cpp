// Inference on float tensors in PyTorch's NCHW layout, and the raw float32 files around it.
#include "runtime/inference.h"

#include <bit>
#include <cstring>
#include <filesystem>
#include <stdexcept>

#include "runtime/errors.h"
#include "runtime/files.h"
#include "runtime/layout.h"

namespace cnnc::runtime {
namespace {

static_assert(std::endian::native == std::endian::little, "raw float32 files are little-endian");

int64_t product(const std::vector<int64_t>& v) {
    int64_t n = 1;
    for (int64_t e : v) n *= e;
    return n;
}

std::string shape_text(const std::vector<int64_t>& shape) {
    std::string s;
    for (int64_t e : shape) s += (s.empty() ? "" : "x") + std::to_string(e);
    return s;
}

// Copies n images from PyTorch's (c, h, w) order into cnnc's channels-innermost (h, w, c)
// order. Flat (f) tensors are the same in both.
void to_channels_innermost(const float* from, float* to, int64_t n,
                           const std::vector<int64_t>& chw) {
    if (chw.size() != 3) {
        std::memcpy(to, from, size_t(n * product(chw)) * sizeof(float));
        return;
    }
    nchw_to_channels_last(from, to, n, chw[0], chw[1] * chw[2], on_pipeline_threads);
}

// Storage extents (innermost first) of n tensors of logical shape `chw`.
std::vector<int64_t> batch_extents(const std::vector<int64_t>& chw, int64_t n) {
    std::vector<int64_t> e = chw.size() == 3 ? std::vector<int64_t>{chw[0], chw[2], chw[1]} : chw;
    e.push_back(n);
    return e;
}

}  // namespace

void NchwView::point(const float* values, int64_t n, const std::vector<int64_t>& chw) {
    const int32_t count = int32_t(n), per_image = int32_t(product(chw));
    const bool image = chw.size() == 3;
    if (image) {
        const int32_t c = int32_t(chw[0]), h = int32_t(chw[1]), w = int32_t(chw[2]);
        dims_[0] = {0, c, h * w, 0};
        dims_[1] = {0, w, 1, 0};
        dims_[2] = {0, h, w, 0};
    } else {
        dims_[0] = {0, per_image, 1, 0};
    }
    const int rank = image ? 3 : 1;
    dims_[rank] = {0, count, per_image, 0};
    buffer_ = halide_buffer_t{};
    buffer_.host = reinterpret_cast<uint8_t*>(const_cast<float*>(values));
    buffer_.type = halide_type_t(halide_type_float, 32);
    buffer_.dimensions = rank + 1;
    buffer_.dim = dims_;
}

std::vector<int64_t> logical_shape(const Shape& s) {
    return std::vector<int64_t>(s.dims.begin(), s.dims.begin() + s.rank);
}

Tensor to_storage(const NchwBatch& b) {
    Tensor t(batch_extents(b.shape, b.n));
    to_channels_innermost(b.values.data(), t.data(), b.n, b.shape);
    return t;
}

NchwInference::NchwInference(const ModelState& state, const PipelineEntry& infer)
    : state_(state), params_(infer, state.raw_params()) {}

const NchwBatch& NchwInference::run(const NchwBatch& input) {
    const ir::Graph& g = *state_.graph;
    const std::vector<int64_t> in_shape = logical_shape(g.node(g.input).shape);
    if (input.shape != in_shape)
        throw DataError(g.name + " expects input images of " + shape_text(in_shape) + ", not " +
                        shape_text(input.shape));
    if (int64_t(input.values.size()) != input.n * product(input.shape))
        throw std::logic_error("NchwInference: " + std::to_string(input.values.size()) +
                               " values for " + std::to_string(input.n) + " images of " +
                               shape_text(input.shape));
    if (out_.n != input.n || out_.values.empty()) {
        out_ = {input.n, logical_shape(g.node(g.logits).shape), {}};
        out_.values.resize(size_t(input.n * product(out_.shape)));
        output_.point(out_.values.data(), out_.n, out_.shape);
    }
    NchwView images(input.values.data(), input.n, input.shape);
    params_.run(images.raw(), output_.raw());
    return out_;
}

NchwBatch infer_nchw(const ModelState& state, const PipelineEntry& infer, const NchwBatch& input) {
    return NchwInference(state, infer).run(input);
}

NchwBatch read_nchw_file(const std::string& path, const std::vector<int64_t>& shape) {
    const std::vector<char> bytes = read_whole_file(path, "input file");
    const int64_t image_bytes = product(shape) * int64_t(sizeof(float));
    if (bytes.empty() || int64_t(bytes.size()) % image_bytes != 0)
        throw DataError(path + ": " + std::to_string(bytes.size()) +
                        " bytes is not a whole number of float32 images of " + shape_text(shape) +
                        " (" + std::to_string(image_bytes) + " bytes each)");
    NchwBatch b{int64_t(bytes.size()) / image_bytes, shape, {}};
    b.values.resize(bytes.size() / sizeof(float));
    std::memcpy(b.values.data(), bytes.data(), bytes.size());
    return b;
}

void write_f32_file(const std::string& path, const std::vector<float>& values) {
    write_atomically(path,
                     std::string(reinterpret_cast<const char*>(values.data()),
                                 values.size() * sizeof(float)),
                     "float32 values");
}

}  // namespace cnnc::runtime
