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

// Inference on NCHW batches that keeps its storage-order buffers from one call to the next while
// the batch size stays the same (no allocation, zero fill or page faults per call), and makes
// the layout copies on the pipelines' threads. It packs the weights the plan reads packed once,
// so `state` must not change while it lives. `run` throws as infer_nchw does.
class NchwInference {
public:
    NchwInference(const ModelState& state, const PipelineEntry& infer);
    const NchwBatch& run(const NchwBatch& input);
    // The pipeline alone on the last input's storage-order copy, without the layout copies:
    // what `bench` times as the kernels' share. Needs a `run` first.
    void rerun_pipeline();

private:
    const ModelState& state_;
    PreparedParams params_;
    Tensor images_;
    NchwBatch out_;
    // out_.values as the pipeline's output buffer: the model program's pipeline writes its
    // output in NCHW order itself (planar, compiler/lower/inference.h), so no copy follows.
    halide_buffer_t output_{};
    halide_dimension_t output_dims_[4]{};
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
