// Inference on float tensors in PyTorch's NCHW layout: the `infer` subcommand's core.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "runtime/model_state.h"
#include "runtime/pipeline.h"

namespace cnnc::runtime {

// A batch in PyTorch's layout: n images of shape (c, h, w), row-major, channels outer.
struct NchwBatch {
    int64_t n = 0;
    std::vector<int64_t> shape;  // per image, logical C,H,W (or F)
    std::vector<float> values;   // n * product(shape)
};

// A shape's logical extents, C,H,W (or F), as NchwBatch::shape holds them.
std::vector<int64_t> logical_shape(const Shape& s);

// The batch in cnnc's storage order, channels innermost ((c, x, y, n) or (f, n)).
Tensor to_storage(const NchwBatch& batch);

// n tensors of logical shape `chw` (C,H,W or F) in NCHW order as a buffer of the model program's
// inference pipeline, which reads and writes images planar (compiler/lower/inference.h,
// ImageOrder::planar): dimensions (c, x, y, n) with planar strides, or (f, n). One-channel images
// are the same memory in cnnc's (c, x, y, n) order. Pipelines never write their inputs, so an
// input's values may be const. Not copyable: the buffer points at the view's own dimensions.
class NchwView {
public:
    NchwView() = default;
    NchwView(const float* values, int64_t n, const std::vector<int64_t>& chw) {
        point(values, n, chw);
    }
    NchwView(const NchwView&) = delete;
    NchwView& operator=(const NchwView&) = delete;
    void point(const float* values, int64_t n, const std::vector<int64_t>& chw);
    halide_buffer_t* raw() { return &buffer_; }

private:
    halide_buffer_t buffer_{};
    halide_dimension_t dims_[4]{};
};

// Inference on NCHW batches that keeps its output buffer from one call to the next while the
// batch size stays the same (no allocation, zero fill or page faults per call). The model
// program's pipeline reads the images and writes the output in NCHW order itself
// (compiler/lower/inference.h, ImageOrder::planar): no copy comes before or after it. It packs the
// weights the plan reads packed once, so `state` must not change while it lives. `run` throws as
// infer_nchw does.
class NchwInference {
public:
    NchwInference(const ModelState& state, const PipelineEntry& infer);
    const NchwBatch& run(const NchwBatch& input);

private:
    const ModelState& state_;
    PreparedParams params_;
    NchwBatch out_;
    NchwView output_;  // of out_.values
};

// Runs the inference pipeline on `input` as it is (no input normalisation: the values are what
// the first layer sees) and returns the output in the same layout: class probabilities (n, k),
// or per-pixel probabilities (n, k, h, w). Throws DataError when the image shape differs from the
// model's input, naming both shapes.
NchwBatch infer_nchw(const ModelState& state, const PipelineEntry& infer, const NchwBatch& input);

// Reads raw little-endian float32 values holding whole images of `shape`. Throws DataError
// naming the file when it is missing, empty or not a whole number of images (with its size and
// the size of one image).
NchwBatch read_nchw_file(const std::string& path, const std::vector<int64_t>& shape);

// Writes the values as raw little-endian float32, replacing the file only once it is complete.
void write_f32_file(const std::string& path, const std::vector<float>& values);

}  // namespace cnnc::runtime
