// Building the inference pipeline from the graph IR.
#include "compiler/lower/inference.h"

#include <algorithm>

#include "compiler/lower/lower.h"
#include "compiler/passes/fold_batch_norm.h"
#include "compiler/passes/weight_packing.h"

namespace cnnc::lower {

using namespace Halide;

std::string argument_name(const std::string& param_name) {
    std::string out = param_name;
    for (char& ch : out)
        if (!isalnum(static_cast<unsigned char>(ch))) ch = '_';
    return out;
}

// Shapes are static except the batch: declaring them lets Halide drop bounds arithmetic and lets
// schedules rely on exact extents.
void declare_extents(OutputImageParam p, const std::vector<int64_t>& extents,
                     int64_t batch_estimate) {
    int rank = p.dimensions();
    Expr stride = 1;
    for (int d = 0; d < rank; ++d) {
        bool is_batch = d == int(extents.size());
        if (!is_batch) p.dim(d).set_bounds(0, int(extents[size_t(d)]));
        p.dim(d).set_stride(stride);
        p.dim(d).set_estimate(0, is_batch ? int(batch_estimate) : int(extents[size_t(d)]));
        stride = is_batch ? stride : stride * int(extents[size_t(d)]);
        if (is_batch) p.dim(d).set_min(0);
    }
}

std::vector<int64_t> storage_extents(const Shape& s) {
    if (s.rank == 3) return {s.channels(), s.width(), s.height()};
    return std::vector<int64_t>(s.dims.begin(), s.dims.begin() + s.rank);
}

ImageParam parameter_input(const ir::Param& p, const std::string& name) {
    ImageParam ip(Float(32), p.extents.rank, name);
    declare_extents(ip, p.storage_extents(), 0);
    return ip;
}

ImageParam packed_parameter_input(const ir::Param& p, const std::string& name) {
    const std::vector<int64_t> e = p.storage_extents();  // co, kx, ky, ci
    ImageParam ip(Float(32), 5, name);
    declare_extents(ip, {passes::packed_lanes, e[3], e[1], e[2], e[0] / passes::packed_lanes}, 0);
    return ip;
}

Func unpacked_weights(const ImageParam& packed, const std::string& conv_name) {
    Var co("co"), kx("kx"), ky("ky"), ci("ci");
    Func w(conv_name + "_weight_packed");
    const int lanes = int(passes::packed_lanes);
    // Where the convolution's channel loops are vectors of whole blocks, the simplifier turns
    // these into dense loads of a block's lanes.
    w(co, kx, ky, ci) = packed(co % lanes, ci, kx, ky, co / lanes);
    return w;
}

Buffer<float> pack_weights(const Buffer<float>& canonical) {
    const int lanes = int(passes::packed_lanes);
    const int co = canonical.dim(0).extent(), kx = canonical.dim(1).extent(),
              ky = canonical.dim(2).extent(), ci = canonical.dim(3).extent();
    Buffer<float> packed(lanes, ci, kx, ky, co / lanes);
    packed.for_each_element([&](int l, int c, int x, int y, int b) {
        packed(l, c, x, y, b) = canonical(b * lanes + l, x, y, c);
    });
    return packed;
}

std::vector<ImageParam> parameter_inputs(const ir::Graph& g, const std::string& suffix) {
    std::vector<ImageParam> out;
    for (const ir::Param& p : g.params)
        out.push_back(parameter_input(p, argument_name(p.name) + suffix));
    return out;
}

ImageParam image_input(const ir::Graph& g) {
    const Shape& s = g.node(g.input).shape;
    std::vector<int64_t> extents = storage_extents(s);
    ImageParam images(Float(32), int(extents.size()) + 1, "images");
    declare_extents(images, extents, 64);
    return images;
}

ImageParam value_input(const Shape& s, const std::string& name) {
    std::vector<int64_t> extents = storage_extents(s);
    ImageParam p(Float(32), int(extents.size()) + 1, name);
    declare_extents(p, extents, 64);
    return p;
}

namespace {

// Planar strides for a buffer of images of shape `s` (c, x, y, n): x innermost, then y, c and n
// (the batch's too: images lie one after another).
void declare_planar(OutputImageParam p, const Shape& s) {
    const int c = int(s.channels()), w = int(s.width()), h = int(s.height());
    p.dim(0).set_stride(w * h);
    p.dim(1).set_stride(1);
    p.dim(2).set_stride(w);
    p.dim(3).set_stride(c * w * h);
}

// Fixes the non-batch extents of a pipeline's output buffer and, where it is planar, its strides.
void declare_output(Func f, const Shape& s, bool planar) {
    std::vector<int64_t> extents = storage_extents(s);
    OutputImageParam out = f.output_buffer();
    for (size_t d = 0; d < extents.size(); ++d) out.dim(int(d)).set_bounds(0, int(extents[d]));
    if (planar) declare_planar(out, s);
}

bool is_image(const Shape& s) { return s.rank == 3; }

}  // namespace

std::vector<Argument> KernelPipeline::arguments() const {
    std::vector<Argument> args(inputs.begin(), inputs.end());
    args.insert(args.end(), params.begin(), params.end());
    return args;
}

void KernelPipeline::bind_param(size_t i, const Buffer<float>& canonical) {
    params.at(i).set(packed.at(i) ? pack_weights(canonical) : canonical);
}

KernelPipeline build_kernel(const ir::Graph& g, const passes::Segment& s, ImageOrder order) {
    KernelPipeline k;
    k.values.resize(g.nodes.size());
    const bool planar = order == ImageOrder::planar;
    for (size_t i = 0; i < s.inputs.size(); ++i) {
        const Shape& shape = g.node(s.inputs[i]).shape;
        k.inputs.push_back(value_input(shape, "in" + std::to_string(i)));
        if (planar && s.inputs[i] == g.input && is_image(shape)) {
            declare_planar(k.inputs.back(), shape);
            k.planar_input = true;
        }
        k.values[size_t(s.inputs[i])] = wrap(k.inputs.back(), "in" + std::to_string(i) + "_f");
    }
    std::vector<Func> param_funcs(g.params.size());
    const std::vector<bool> packed = passes::packed_weights(g);
    for (size_t i = 0; i < s.params.size(); ++i) {
        const ir::Param& param = g.params[size_t(s.params[i])];
        const std::string name = "p" + std::to_string(i);
        const bool pack = packed[size_t(s.params[i])];
        ImageParam ip = pack ? packed_parameter_input(param, name) : parameter_input(param, name);
        k.params.push_back(ip);
        k.packed.push_back(pack);
        param_funcs[size_t(s.params[i])] =
            pack ? unpacked_weights(ip, g.node(param.node).name) : wrap(ip, ip.name() + "_f");
    }
    Mode inference;
    inference.folded_batch_norms = passes::foldable_batch_norms(g);
    for (int i : s.nodes) lower_node(g, i, k.values, param_funcs, inference);
    k.precomputed = inference.precomputed;
    const Shape& shape = g.node(s.output).shape;
    const Func& value = k.values.at(size_t(s.output));
    k.output = s.probabilities ? class_probabilities(value, shape) : value;
    k.planar_output = planar && s.output == g.logits && is_image(shape);
    declare_output(k.output, shape, k.planar_output);
    return k;
}

std::string kernel_name(const ir::Graph& g, size_t k) { return g.name + "_k" + std::to_string(k); }

namespace {

// Gives segment i a kernel no other segment calls; where i was its kernel's first segment, the
// kernel's next segment becomes the one it is built from.
void own_kernel(passes::Partition& p, size_t i) {
    const int old = p.segments[i].kernel;
    const auto calls_old = [&](const passes::Segment& s) { return s.kernel == old; };
    if (std::count_if(p.segments.begin(), p.segments.end(), calls_old) == 1) return;
    p.segments[i].kernel = int(p.kernels.size());
    p.kernels.push_back(int(i));
    if (p.kernels[size_t(old)] == int(i))
        p.kernels[size_t(old)] =
            int(std::find_if(p.segments.begin(), p.segments.end(), calls_old) - p.segments.begin());
}

}  // namespace

passes::Partition inference_partition(const ir::Graph& g, ImageOrder order) {
    passes::Partition p = passes::partition_inference(g);
    if (order != ImageOrder::planar) return p;
    for (size_t i = 0; i < p.segments.size(); ++i) {
        const passes::Segment& s = p.segments[i];
        const bool reads_input =
            std::find(s.inputs.begin(), s.inputs.end(), g.input) != s.inputs.end();
        if (reads_input || s.output == g.logits) own_kernel(p, i);
    }
    return p;
}

InferencePipeline build_inference(const ir::Graph& g, ImageOrder order) {
    InferencePipeline p;
    p.partition = inference_partition(g, order);
    for (int first : p.partition.kernels)
        p.kernels.push_back(build_kernel(g, p.partition.segments[size_t(first)], order));
    return p;
}

void fix_batch(KernelPipeline& k, int batch) {
    for (ImageParam& in : k.inputs) {
        in.dim(in.dimensions() - 1).set_bounds(0, batch);
        in.dim(in.dimensions() - 1).set_estimate(0, batch);
    }
    OutputImageParam out = k.output.output_buffer();
    out.dim(out.dimensions() - 1).set_bounds(0, batch);
    k.output.set_estimate(k.output.args().back(), 0, batch);
}

void replace_output(KernelPipeline& k, Func output) {
    const Internal::Parameter old = k.output.output_buffer().parameter();
    for (int d = 0; d < old.dimensions(); ++d) {
        if (old.min_constraint(d).defined() && old.extent_constraint(d).defined())
            output.output_buffer().dim(d).set_bounds(old.min_constraint(d),
                                                     old.extent_constraint(d));
        if (old.stride_constraint(d).defined())
            output.output_buffer().dim(d).set_stride(old.stride_constraint(d));
    }
    k.output = output;
}

}  // namespace cnnc::lower
