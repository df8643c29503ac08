// Writing the training plan as straight-line C: one kernel call per line.
#include "compiler/emit/train_plan.h"

#include <sstream>

#include "compiler/autodiff/train_kernels.h"
#include "compiler/emit/plan.h"
#include "compiler/lower/inference.h"

namespace cnnc::emit {
namespace {

using passes::TrainCall;

// Where the step's results go: result[0] loss, result[1] correct, then one gradient per
// learnable parameter and one updated tensor per state parameter, each in graph order.
struct ResultIndex {
    std::vector<int> of_param;  // per Graph::params

    explicit ResultIndex(const ir::Graph& g) {
        int learnable = 0, state = 0;
        for (const ir::Param& p : g.params) learnable += p.learnable;
        for (const ir::Param& p : g.params)
            of_param.push_back(p.learnable ? 2 + (int(of_param.size()) - state)
                                           : 2 + learnable + state++);
    }
};

std::string call_line(const std::string& kernel, const std::vector<std::string>& args) {
    std::ostringstream s;
    s << "    CALL(" << kernel;
    for (const std::string& a : args) s << ", " << a;
    s << ");\n";
    return s.str();
}

std::string buffer(int b) { return "v[" + std::to_string(b) + "]"; }
std::string param(int p) { return "param[" + std::to_string(p) + "]"; }
std::string result(int r) { return "result[" + std::to_string(r) + "]"; }

// A segment's forward or backward call: its input values, its parameters, the seed when it
// draws dropout masks, the adjoints it sums (backward), the buffers it writes, then the step
// results it writes: updated statistics (forward) or gradients (backward).
std::string segment_call(const ir::Graph& g, const passes::TrainPlan& plan, const TrainCall& c,
                         const ResultIndex& results) {
    const passes::Segment& s = plan.partition.segments[size_t(c.segment)];
    const bool forward = c.kind == TrainCall::Kind::forward;
    std::vector<std::string> args;
    for (int b : c.inputs) args.push_back(buffer(b));
    for (int p : s.params) args.push_back(param(p));
    if (autodiff::uses_seed(g, s)) args.push_back("seed");
    for (int b : c.adjoints) args.push_back(buffer(b));
    for (int b : c.outputs) args.push_back(buffer(b));
    for (int p : s.params)
        if (g.params[size_t(p)].learnable != forward)
            args.push_back(result(results.of_param[size_t(p)]));
    const size_t k = size_t(c.kernel);
    return call_line((forward ? autodiff::forward_kernel_name(g, k)
                              : autodiff::backward_kernel_name(g, k)) + "_argv",
                     args);
}

std::string calls_source(const ir::Graph& g, const passes::TrainPlan& plan) {
    const ResultIndex results(g);
    std::ostringstream s;
    for (const TrainCall& c : plan.calls) {
        if (c.kind == TrainCall::Kind::loss)
            s << call_line(autodiff::loss_kernel_name(g) + "_argv",
                           {buffer(c.inputs.at(0)), "labels", result(0), result(1),
                            buffer(c.outputs.at(0))});
        else
            s << segment_call(g, plan, c, results);
    }
    return s.str();
}

std::string kernel_declarations(const ir::Graph& g, const passes::TrainPlan& plan) {
    std::ostringstream s;
    for (size_t k = 0; k < plan.partition.kernels.size(); ++k)
        s << "int " << autodiff::forward_kernel_name(g, k) << "_argv(void **args);\n";
    s << "int " << autodiff::loss_kernel_name(g) << "_argv(void **args);\n";
    for (size_t k = 0; k < plan.backward_kernels.size(); ++k)
        s << "int " << autodiff::backward_kernel_name(g, k) << "_argv(void **args);\n";
    return s.str();
}

std::vector<MetadataArgument> metadata_arguments(const ir::Graph& g) {
    auto rank = [](const Shape& s) { return int(lower::storage_extents(s).size()) + 1; };
    const ir::Node& scores = g.node(g.logits);
    const bool classes = g.node(g.loss).op == Op::softmax_cross_entropy;
    // Labels: a class per sample (n) or per pixel (x, y, n); float targets for squared error.
    const int label_rank = !classes ? rank(scores.shape) : scores.shape.rank == 3 ? 3 : 1;
    std::vector<MetadataArgument> args{
        {"images", 1, rank(g.node(g.input).shape)},
        {"labels", 1, label_rank, classes ? "halide_type_int" : "halide_type_float"},
        {"seed", 0, 0, "halide_type_int"}};
    for (const ir::Param& p : g.params)
        args.push_back({lower::argument_name(p.name), 1, p.extents.rank});
    args.push_back({"loss", 2, 0});
    args.push_back({"correct", 2, 0});
    for (int learnable : {1, 0})
        for (const ir::Param& p : g.params)
            if (int(p.learnable) == learnable)
                args.push_back({(learnable ? "grad_" : "updated_") + lower::argument_name(p.name),
                                2, p.extents.rank});
    return args;
}

}  // namespace

std::string train_plan_source(const ir::Graph& g, const passes::TrainPlan& plan,
                              const std::string& target) {
    const std::string m = g.name;
    std::ostringstream s, table;
    const int64_t arena = plan.arena_floats;
    int64_t all = 0;
    for (const passes::TrainBuffer& b : plan.buffers) {
        table << plan_value_row(b.shape, b.offset);
        all += b.offset < 0 ? 0 : b.shape.elements();
    }
    s << "/* " << m << "_train_plan.c: the training step of the cnnc model '" << m
      << "' (generated by cnnc): " << plan.calls.size() << " kernel calls, "
      << arena * 4 << " bytes per image for values and adjoints (" << all * 4
      << " without sharing). */\n"
      << "#include <HalideRuntime.h>\n\n#include \"" << m << "_train_step.h\"\n"
      << "#include \"runtime/plan.h\"\n\n"
      << kernel_declarations(g, plan)
      << "\n/* Buffer 0 is the images; the others live in per-thread scratch memory. */\n"
      << "static const cnnc_plan_value buffers[] = {\n" << table.str() << "};\n\n"
      << "#define CALL(kernel, ...)                 \\\n"
      << "    if (status == 0) {                    \\\n"
      << "        void *a[] = {__VA_ARGS__};        \\\n"
      << "        status = kernel(a);               \\\n"
      << "    }\n\n"
      << "int " << m << "_train_step_argv(void **args) {\n"
      << "    struct halide_buffer_t *images = (struct halide_buffer_t *)args[0];\n"
      << "    struct halide_buffer_t *labels = (struct halide_buffer_t *)args[1];\n"
      << "    void *seed = args[2];\n"
      << "    struct halide_buffer_t **param = (struct halide_buffer_t **)args + 3;\n"
      << "    /* loss, correct, the gradients, the updated state */\n"
      << "    struct halide_buffer_t **result = (struct halide_buffer_t **)args + "
      << 3 + g.params.size() << ";\n"
      << "    const int32_t batch = images->dim[images->dimensions - 1].extent;\n"
      << "    float *arena = cnnc_plan_scratch((int64_t)" << arena << " * batch);\n"
      << "    cnnc_plan_buffers buffer_views;\n"
      << "    struct halide_buffer_t **v;\n    int status = 0;\n"
      << "    (void)seed;\n    (void)param;\n"
      << "    if (!arena || cnnc_plan_buffers_open(&buffer_views, buffers, "
      << plan.buffers.size() << ", batch, arena) != 0)\n        return -1;\n"
      << "    v = buffer_views.values;\n    v[0] = images;\n"
      << calls_source(g, plan)
      << "    cnnc_plan_buffers_close(&buffer_views);\n    return status;\n}\n\n"
      << metadata_source(m + "_train_step", target, metadata_arguments(g));
    return s.str();
}

std::string train_plan_header(const ir::Graph& g) {
    const std::string m = g.name;
    std::ostringstream s;
    s << "/* " << m << "_train_step.h: the training step of the cnnc model '" << m
      << "' (generated by cnnc). */\n#ifndef " << m << "_TRAIN_STEP_H\n#define " << m
      << "_TRAIN_STEP_H\n\n#ifdef __cplusplus\nextern \"C\" {\n#endif\n\n"
      << "struct halide_filter_metadata_t;\n\n"
      << "/* args: images (c, x, y, n), labels, &seed (int32), the parameters in graph order, then\n"
      << " * the outputs: loss and correct (zero-dimensional), the gradients of the learnable\n"
      << " * parameters, the updated state parameters. 0 on success, else an error code. */\n"
      << "int " << m << "_train_step_argv(void **args);\n"
      << "const struct halide_filter_metadata_t *" << m << "_train_step_metadata(void);\n\n"
      << "#ifdef __cplusplus\n}\n#endif\n\n#endif\n";
    return s.str();
}

}  // namespace cnnc::emit
