// Writing the inference plan as C: kernel table, value table with arena offsets, entry points.
#include "compiler/emit/plan.h"

#include <sstream>

#include "compiler/lower/inference.h"
#include "compiler/passes/memory_plan.h"
#include "compiler/passes/weight_packing.h"

namespace cnnc::emit {
namespace {

// Arguments of <model>_infer in order: images, the parameters, the output.
std::vector<std::string> argument_names(const ir::Graph& g) {
    std::vector<std::string> names{"images"};
    for (const ir::Param& p : g.params) names.push_back(lower::argument_name(p.name));
    names.push_back("output");
    return names;
}

std::vector<MetadataArgument> metadata_arguments(const ir::Graph& g) {
    const std::vector<std::string> names = argument_names(g);
    std::vector<MetadataArgument> args;
    for (size_t i = 0; i < names.size(); ++i) {
        int rank = i == 0 ? int(lower::storage_extents(g.node(g.input).shape).size()) + 1
                   : i + 1 == names.size()
                       ? int(lower::storage_extents(g.node(g.logits).shape).size()) + 1
                       : g.params[i - 1].extents.rank;
        args.push_back({names[i], i + 1 == names.size() ? 2 : 1, rank});
    }
    return args;
}

}  // namespace

namespace {

// `text` as a C string literal: layer names are any characters, and a quote or a backslash in
// one must not end or bend the literal. Octal escapes take at most three digits, so a digit
// after one stays a digit.
std::string c_string_literal(const std::string& text) {
    std::ostringstream s;
    s << '"';
    for (unsigned char c : text) {
        if (c == '"' || c == '\\')
            s << '\\' << c;
        else if (c < 0x20 || c >= 0x7f)
            s << '\\' << char('0' + (c >> 6)) << char('0' + ((c >> 3) & 7)) << char('0' + (c & 7));
        else
            s << c;
    }
    s << '"';
    return s.str();
}

// The plan's tables and `<qualifier>const cnnc_plan <plan_name>`, its kernels named
// lower::kernel_name + suffix.
std::string plan_tables(const ir::Graph& g, const passes::Partition& p, const std::string& suffix,
                        const std::string& qualifier, const std::string& plan_name) {
    const passes::MemoryPlan memory = passes::plan_memory(g, p);
    std::ostringstream s;
    for (size_t k = 0; k < p.kernels.size(); ++k)
        s << "int " << lower::kernel_name(g, k) << suffix << "_argv(void **args);\n";
    // Value 0 is the model input, value t + 1 the output of call t.
    s << "\nstatic const cnnc_plan_value values[] = {\n"
      << plan_value_row(g.node(g.input).shape, -1);
    for (const passes::Segment& seg : p.segments) {
        auto at = memory.offset.find(seg.output);
        s << plan_value_row(g.node(seg.output).shape, at == memory.offset.end() ? -1 : at->second);
    }
    std::map<int, int> value_of{{g.input, 0}};
    for (size_t t = 0; t < p.segments.size(); ++t) value_of[p.segments[t].output] = int(t) + 1;
    // A packed parameter's argument is its packing's index after the caller's parameters.
    const std::vector<bool> packed = passes::packed_weights(g);
    std::vector<int> argument_of(g.params.size());
    std::ostringstream packings;
    int num_packings = 0;
    for (size_t i = 0; i < g.params.size(); ++i) {
        argument_of[i] = packed[i] ? int(g.params.size()) + num_packings++ : int(i);
        if (!packed[i]) continue;
        const Shape& e = g.params[i].extents;
        packings << "    {" << i << ", {" << e.dims[0] << ", " << e.dims[1] << ", " << e.dims[2]
                 << ", " << e.dims[3] << "}, " << c_string_literal(g.params[i].name) << "},\n";
    }
    std::ostringstream args, steps;
    int first = 0;
    for (const passes::Segment& seg : p.segments) {
        for (int i : seg.inputs) args << value_of.at(i) << ", ";
        for (int i : seg.params) args << argument_of[size_t(i)] << ", ";
        steps << "    {" << lower::kernel_name(g, size_t(seg.kernel)) << suffix << "_argv, "
              << first << ", " << seg.inputs.size() << ", " << seg.params.size() << ", "
              << value_of.at(seg.output) << "},\n";
        first += int(seg.inputs.size() + seg.params.size());
        args << "\n";
    }
    s << "};\n\nstatic const int32_t step_args[] = {\n"
      << args.str() << "0};\n\n"
      << "static const cnnc_plan_step steps[] = {\n"
      << steps.str() << "};\n\n";
    if (num_packings > 0)
        s << "static const cnnc_plan_packing packings[] = {\n" << packings.str() << "};\n\n";
    s << qualifier << "const cnnc_plan " << plan_name << " = {" << p.segments.size() + 1
      << ", values, " << p.segments.size() << ", steps, step_args, 0, " << p.segments.size() << ", "
      << memory.arena_floats << ", " << g.params.size() << ", " << num_packings << ", "
      << (num_packings > 0 ? "packings" : "0") << "};\n\n";
    return s.str();
}

std::string plan_comment(const ir::Graph& g, const passes::Partition& p, const std::string& file) {
    std::ostringstream s;
    s << "/* " << file << ": the inference plan of the cnnc model '" << g.name
      << "' (generated by cnnc): " << p.segments.size() << " kernel calls, " << p.kernels.size()
      << " distinct kernels, an arena of " << passes::plan_memory(g, p).arena_floats * 4
      << " bytes per image. */\n";
    return s.str();
}

}  // namespace

std::string plan_source(const ir::Graph& g, const passes::Partition& p, const std::string& target) {
    const std::string m = g.name;
    std::ostringstream s;
    s << plan_comment(g, p, m + "_plan.c") << "#include <HalideRuntime.h>\n\n#include \"" << m
      << "_infer.h\"\n#include \"runtime/plan.h\"\n\n"
      << plan_tables(g, p, "", "static ", "plan");
    const std::vector<std::string> names_in = argument_names(g);
    s << "int " << m << "_infer(";
    for (size_t i = 0; i < names_in.size(); ++i)
        s << (i ? ", " : "") << "struct halide_buffer_t *" << names_in[i];
    s << ") {\n    struct halide_buffer_t *params[] = {";
    for (size_t i = 1; i + 1 < names_in.size(); ++i) s << (i > 1 ? ", " : "") << names_in[i];
    if (names_in.size() == 2) s << "0";
    s << "};\n    return cnnc_plan_run(&plan, images, params, output, 0);\n}\n\n"
      << "int " << m << "_infer_argv(void **args) {\n    return " << m << "_infer(";
    for (size_t i = 0; i < names_in.size(); ++i)
        s << (i ? ", " : "") << "(struct halide_buffer_t *)args[" << i << "]";
    s << ");\n}\n\n"
      << "const cnnc_plan *" << m << "_infer_plan(void) { return &plan; }\n\n"
      << metadata_source(m + "_infer", target, metadata_arguments(g));
    return s.str();
}

std::string variant_plan_source(const ir::Graph& g, const passes::Partition& p,
                                const std::string& suffix) {
    const std::string file = g.name + "_plan" + suffix + ".c";
    return plan_comment(g, p, file) + "#include \"runtime/plan.h\"\n\n" +
           plan_tables(g, p, suffix, "", g.name + "_plan" + suffix);
}

std::string plan_value_row(const Shape& shape, int64_t offset) {
    std::vector<int64_t> e = lower::storage_extents(shape);
    std::ostringstream s;
    s << "    {" << e.size() << ", {";
    for (size_t d = 0; d < 3; ++d) s << (d ? ", " : "") << (d < e.size() ? e[d] : 0);
    s << "}, " << offset << "},\n";
    return s.str();
}

std::string metadata_source(const std::string& function, const std::string& target,
                            const std::vector<MetadataArgument>& args) {
    std::ostringstream s;
    s << "static const struct halide_filter_argument_t arguments[] = {\n";
    for (const MetadataArgument& a : args)
        s << "    {\"" << a.name << "\", " << a.kind << ", " << a.dimensions << ", {" << a.type
          << ", 32, 1}, 0, 0, 0, 0, 0},\n";
    s << "};\nstatic const struct halide_filter_metadata_t metadata = {1, " << args.size()
      << ", arguments, \"" << target << "\", \"" << function << "\"};\n\n"
      << "const struct halide_filter_metadata_t *" << function
      << "_metadata(void) { return &metadata; }\n";
    return s.str();
}

std::string plan_header(const ir::Graph& g) {
    const std::string m = g.name;
    std::ostringstream s;
    s << "/* " << m << "_infer.h: entry points of the inference library of the cnnc model '" << m
      << "' (generated by cnnc). */\n#ifndef " << m << "_INFER_H\n#define " << m
      << "_INFER_H\n\n#ifdef __cplusplus\nextern \"C\" {\n#endif\n\n"
      << "struct halide_buffer_t;\nstruct halide_filter_metadata_t;\nstruct cnnc_plan;\n\n"
      << "/* images (c, x, y, n), the parameters in graph order, then the output (k, n) or\n"
      << " * (k, x, y, n); images and an image-shaped output stored planar, x innermost, then y,\n"
      << " * then channels (N, C, H, W); 0 on success, else a Halide error code. */\nint " << m
      << "_infer(";
    const std::vector<std::string> names = argument_names(g);
    for (size_t i = 0; i < names.size(); ++i)
        s << (i ? ", " : "") << "struct halide_buffer_t *" << names[i];
    s << ");\nint " << m << "_infer_argv(void **args);\n"
      << "/* The plan " << m << "_infer runs (runtime/plan.h): to pack weights once, then run it\n"
      << " * with cnnc_plan_run_prepared. */\n"
      << "const struct cnnc_plan *" << m << "_infer_plan(void);\n"
      << "const struct halide_filter_metadata_t *" << m << "_infer_metadata(void);\n\n"
      << "#ifdef __cplusplus\n}\n#endif\n\n#endif\n";
    return s.str();
}

}  // namespace cnnc::emit
