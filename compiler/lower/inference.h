// The inference pipeline of a graph: images and parameters in, class probabilities out.
#pragma once

#include <Halide.h>

#include <string>
#include <vector>

#include "compiler/ir/graph.h"
#include "compiler/passes/partition.h"

namespace cnnc::lower {

// One kernel of the inference library: a segment of the graph (passes::Partition) as a pipeline
// of its own, reading the values it needs from buffers and writing its output value.
struct KernelPipeline {
    std::vector<Halide::ImageParam> inputs;  // per Segment::inputs: (c, x, y, n) or (f, n)
    std::vector<Halide::ImageParam> params;  // per Segment::params
    std::vector<bool> packed;  // per Segment::params: read packed (passes/weight_packing.h)
    std::vector<Halide::Func> values;        // per graph node; the segment's nodes are defined
    std::vector<Halide::Func> precomputed;   // e.g. weights with batch norm folded in
    Halide::Func output;                     // the segment's value, or class probabilities
    bool planar_input = false;   // the model's input among `inputs`, stored planar (ImageOrder)
    bool planar_output = false;  // the output, (c, x, y, n), stored planar (ImageOrder::planar)

    // Inputs in calling order: the input values, then the parameters.
    std::vector<Halide::Argument> arguments() const;

    // Binds parameter i to `canonical`, in the model's layout, packed where the kernel reads it so.
    void bind_param(size_t i, const Halide::Buffer<float>& canonical);
};

// How the model's images, its input and an image-shaped (C, H, W) output, are stored: channels
// innermost, as every value between kernels is, or planar: N, C, H, W as PyTorch holds them, x
// innermost, then y, then c. The model program's `infer` reads and writes NCHW; planar images
// save it a copy of each (64 -> 64 channels @56: 0.056 ms for the input, 0.056 ms for the output,
// of 0.70). Flat outputs are the same in both orders.
enum class ImageOrder { channels_innermost, planar };

// The model program's inference (compiler/emit/aot.cpp), which `infer` calls with NCHW images,
// and so what `tune` times; an exported library's images stay channels innermost, as its header
// says.
inline constexpr ImageOrder program_images = ImageOrder::planar;

// `order` applies to the model's images the segment reads (Graph::input) or writes (its output
// is Graph::logits); values between kernels are channels innermost.
KernelPipeline build_kernel(const ir::Graph& graph, const passes::Segment& segment,
                            ImageOrder order = ImageOrder::channels_innermost);

// The inference library's kernels. A plan (emit/plan.cpp, runtime/plan.h) calls them in the
// partition's order; one Halide pipeline for a whole network compiles in time that grows faster
// than its depth (ResNet-152: over ten minutes), and Halide 14's extern stages revisit shared
// inputs once per path through the graph, which is exponential for residual networks.
struct InferencePipeline {
    passes::Partition partition;
    std::vector<KernelPipeline> kernels;  // per Partition::kernels
};

// The exported symbol of inference kernel k of a model: "<model>_k<k>".
std::string kernel_name(const ir::Graph& graph, size_t k);

// A C identifier for a parameter's buffer argument: "conv2d.weight" -> "conv2d_weight".
std::string argument_name(const std::string& param_name);

// A parameter's buffer argument, its extents (already in storage order) declared.
Halide::ImageParam parameter_input(const ir::Param& param, const std::string& name);

// A convolution's weights packed (passes::packed_weights): the buffer argument, (16 channels, ci,
// kx, ky, co / 16), and the weights as the convolution reads them, (co, kx, ky, ci), named
// "<conv>_weight_packed" (the schedules look for it).
Halide::ImageParam packed_parameter_input(const ir::Param& param, const std::string& name);
Halide::Func unpacked_weights(const Halide::ImageParam& packed, const std::string& conv_name);

// `canonical` (co, kx, ky, ci) in the packed layout, as runtime/plan.c packs it.
Halide::Buffer<float> pack_weights(const Halide::Buffer<float>& canonical);

// A buffer of n values of per-sample shape `s`, n free: a kernel's input.
Halide::ImageParam value_input(const Shape& s, const std::string& name);

// ImageParams for the graph's parameters, with their extents declared and estimated.
std::vector<Halide::ImageParam> parameter_inputs(const ir::Graph& graph, const std::string& suffix);

// The images input, its per-sample extents fixed by the graph, batch free (estimated at 64).
Halide::ImageParam image_input(const ir::Graph& graph);

// The partition the inference kernels follow: passes::partition_inference's, where, with planar
// images, a segment that reads the model's input or writes its output gets a kernel of its own if
// it shared one (a model beginning or ending with a layer equal to another one), since only it
// reads or writes planar.
passes::Partition inference_partition(const ir::Graph& graph, ImageOrder order);

// The kernels of inference_partition(graph, order).
InferencePipeline build_inference(const ir::Graph& graph,
                                  ImageOrder order = ImageOrder::channels_innermost);

// Fixes the batch (last) extent of a kernel's value inputs and output: an exported library of
// one batch size lets Halide drop the bounds arithmetic of a free extent.
void fix_batch(KernelPipeline& kernel, int batch);

// Makes `output` (a wrapper of the current output, made by a schedule) the kernel's output, with
// the same constraints on its buffer's bounds and strides.
void replace_output(KernelPipeline& kernel, Halide::Func output);

// Logical C,H,W (or F) as innermost-first storage extents: (c, x, y) or (f).
std::vector<int64_t> storage_extents(const Shape& s);

// Fixes the non-batch extents and dense strides of a buffer argument; the batch (the last
// dimension, if any) stays free, estimated at `batch_estimate`.
void declare_extents(Halide::OutputImageParam p, const std::vector<int64_t>& extents,
                     int64_t batch_estimate);

}  // namespace cnnc::lower
