// Building the inference pipeline from the graph IR.
#include "compiler/lower/inference.h"

#include "compiler/lower/lower.h"
#include "compiler/passes/fold_batch_norm.h"

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

std::vector<ImageParam> parameter_inputs(const ir::Graph& g, const std::string& suffix) {
    std::vector<ImageParam> out;
    for (const ir::Param& p : g.params) {
        ImageParam ip(Float(32), p.extents.rank, argument_name(p.name) + suffix);
        // Parameter extents are already in storage order.
        declare_extents(ip, {p.extents.dims.begin(), p.extents.dims.begin() + p.extents.rank}, 0);
        out.push_back(ip);
    }
    return out;
}

ImageParam image_input(const ir::Graph& g) {
    const Shape& s = g.node(g.input).shape;
    std::vector<int64_t> extents = storage_extents(s);
    ImageParam images(Float(32), int(extents.size()) + 1, "images");
    declare_extents(images, extents, 64);
    return images;
}

std::vector<Argument> InferencePipeline::arguments() const {
    std::vector<Argument> args{images};
    for (const ImageParam& p : params) args.push_back(p);
    return args;
}

InferencePipeline build_inference(const ir::Graph& g) {
    InferencePipeline p;
    p.images = image_input(g);
    p.params = parameter_inputs(g, "");
    std::vector<Func> param_funcs;
    for (const ImageParam& ip : p.params) param_funcs.push_back(wrap(ip, ip.name() + "_f"));
    Mode inference;
    inference.folded_batch_norms = passes::foldable_batch_norms(g);
    p.values = lower_graph(g, wrap(p.images, "input"), param_funcs, inference);
    p.precomputed = inference.precomputed;
    const Shape& shape = g.node(g.logits).shape;
    const Func& scores = p.values.at(size_t(g.logits));
    if (g.loss >= 0 && g.node(g.loss).op == Op::softmax_cross_entropy) {
        p.output = class_probabilities(scores, shape);
    } else {
        p.output = Func("output");
        std::vector<Var> at = activation_vars(shape);
        p.output(at) = scores(at);
    }
    std::vector<int64_t> extents = storage_extents(shape);
    Region estimates;
    for (size_t d = 0; d < extents.size(); ++d) {
        p.output.output_buffer().dim(int(d)).set_bounds(0, int(extents[d]));
        estimates.push_back(Range(0, int(extents[d])));
    }
    estimates.push_back(Range(0, 64));
    p.output.set_estimates(estimates);
    return p;
}

}  // namespace cnnc::lower
