// Writing an exported library's C header and the C description of its model.
#include "compiler/emit/c_api.h"

#include <sstream>

#include "compiler/ir/fingerprint.h"
#include "compiler/lower/inference.h"
#include "runtime/library/weights_format.h"

namespace cnnc::emit {
namespace {

std::string upper(std::string s) {
    for (char& c : s) c = char(toupper(static_cast<unsigned char>(c)));
    return s;
}

int64_t weights_bytes(const ir::Graph& g) {
    return int64_t(CNNC_WEIGHTS_HEADER_BYTES) + g.parameter_count() * 4;
}

std::string layout_comment(const Shape& s) {
    return s.rank == 3 ? "rows top to bottom, pixels left to right, channels innermost (H, W, C)"
                       : "one value per entry";
}

std::string constants(const ir::Graph& g, const LibraryInterface& li) {
    const std::string M = upper(g.name);
    const Shape& in = g.node(g.input).shape;
    const Shape& out = g.node(g.logits).shape;
    std::ostringstream s;
    s << "/* One image: " << layout_comment(in) << ". */\n";
    if (in.rank == 3)
        s << "#define " << M << "_INPUT_CHANNELS " << in.channels() << "\n#define " << M
          << "_INPUT_HEIGHT " << in.height() << "\n#define " << M << "_INPUT_WIDTH "
          << in.width() << "\n";
    s << "#define " << M << "_INPUT_SIZE " << in.elements() << " /* floats per image */\n"
      << "/* One image's output: " << layout_comment(out) << ". */\n";
    if (out.rank == 3)
        s << "#define " << M << "_OUTPUT_CHANNELS " << out.channels() << "\n#define " << M
          << "_OUTPUT_HEIGHT " << out.height() << "\n#define " << M << "_OUTPUT_WIDTH "
          << out.width() << "\n";
    s << "#define " << M << "_OUTPUT_SIZE " << out.elements() << " /* floats per image */\n"
      << "#define " << M << "_CLASSES " << out.channels() << "\n"
      << "#define " << M << "_PARAMETERS " << g.parameter_count() << "\n"
      << "/* Bytes of the weights (the external weights file's size). */\n"
      << "#define " << M << "_WEIGHTS_BYTES " << weights_bytes(g) << "\n"
      << "#define " << M << "_EXTERNAL_WEIGHTS " << (li.embedded_weights ? 0 : 1) << "\n"
      << "/* Peak memory of the activations between layers, per image of a batch. */\n"
      << "#define " << M << "_ACTIVATION_BYTES " << li.arena_floats * 4 << "\n"
      << "/* Batches: " << M << "_FIXED_BATCH > 0 means every run takes exactly that batch; "
      << "otherwise any batch\n * from 1 to " << M << "_MAX_BATCH. */\n"
      << "#define " << M << "_FIXED_BATCH " << li.fixed_batch << "\n"
      << "#define " << M << "_MAX_BATCH " << li.max_batch << "\n\n"
      << "/* Error codes of every function that returns int. */\n"
      << "#define " << M << "_OK 0\n"
      << "#define " << M << "_ERROR_ARGUMENT 1 /* a null pointer, a wrong size, a batch out of "
      << "range */\n"
      << "#define " << M << "_ERROR_WEIGHTS 2  /* weights missing, unreadable, corrupted or made "
      << "for another model */\n"
      << "#define " << M << "_ERROR_MEMORY 3   /* out of memory, or caller memory too small */\n"
      << "#define " << M << "_ERROR_PIPELINE 4 /* a generated kernel failed */\n\n";
    return s.str();
}

std::string functions(const ir::Graph& g, const LibraryInterface& li) {
    const std::string m = g.name, M = upper(g.name);
    std::ostringstream s;
    s << "typedef struct " << m << "_context " << m << "_context;\n\n"
      << "/* Options of " << m << "_create; zero-initialise, then set what you need. */\n"
      << "typedef struct " << m << "_options {\n"
      << "    /* External weights (" << M << "_EXTERNAL_WEIGHTS): a weights file written by `" << m
      << " export\n     * --external-weights`, read and checked (size, model, checksum) at create; "
      << "or the same\n     * bytes already in memory, checked and used in place (they must "
      << "outlive the context).\n     * Both NULL for a library with embedded weights. */\n"
      << "    const char *weights_path;\n    const void *weights_data;\n"
      << "    size_t weights_bytes;\n"
      << "    /* Memory for the context, at least " << m << "_context_bytes(max_batch) bytes, "
      << "or NULL to\n     * allocate. The context then never allocates; the kernels still "
      << "allocate their scratch\n     * through Halide's runtime. */\n"
      << "    void *memory;\n    size_t memory_bytes;\n"
      << "    /* The largest batch this context runs (0: " << M << "_FIXED_BATCH, or 1). A context "
      << "on its own\n     * memory grows for larger batches up to " << M
      << "_MAX_BATCH; one on caller memory cannot. */\n"
      << "    int max_batch;\n} " << m << "_options;\n\n"
      << "/* Bytes of caller memory a context for batches up to max_batch needs. */\n"
      << "size_t " << m << "_context_bytes(int max_batch);\n\n"
      << "/* Creates a context: checks the weights, lays out memory and picks the fastest target "
      << "variant\n * this CPU supports. options may be NULL (embedded weights, own memory). "
      << "Returns " << M << "_OK and\n * sets *context, or an error code; " << m
      << "_error(NULL) then says why. */\n"
      << "int " << m << "_create(" << m << "_context **context, const " << m
      << "_options *options);\n\n"
      << "/* Runs the batch in `images` (image_floats = batch x " << M << "_INPUT_SIZE values in "
      << "[0, 1]) and\n * writes batch x " << M << "_OUTPUT_SIZE " << "floats (class "
      << "probabilities) to `output` (output_floats of room).\n * One thread at a time per "
      << "context. Returns " << M << "_OK or an error code; " << m << "_error(context)\n"
      << " * says why. */\n"
      << "int " << m << "_run(" << m << "_context *context, const float *images, size_t "
      << "image_floats,\n" << std::string(m.size() + 9, ' ') << "float *output, size_t "
      << "output_floats);\n\n"
      << "/* The most probable class of one image, or -1 on error. */\n"
      << "int " << m << "_classify(" << m << "_context *context, const float *image);\n\n"
      << "/* The last error of a context as text (\"\" if none); of the last failed " << m
      << "_create on\n * this thread when context is NULL. */\n"
      << "const char *" << m << "_error(const " << m << "_context *context);\n\n"
      << "/* The Halide target of the variant the context runs. */\n"
      << "const char *" << m << "_target(const " << m << "_context *context);\n\n"
      << "/* Frees what the context allocated (caller memory is the caller's); NULL is "
      << "ignored. */\n"
      << "void " << m << "_destroy(" << m << "_context *context);\n\n";
    (void)li;
    return s.str();
}

std::string targets_text(const LibraryInterface& li) {
    std::string t;
    for (const LibraryVariant& v : li.variants) t += (t.empty() ? "" : ", ") + v.target;
    return t;
}

}  // namespace

std::string weights_symbol(const ir::Graph& g) { return "cnnc_" + g.name + "_weights"; }

std::string library_cmake_config(const ir::Graph& g, const LibraryInterface& li) {
    const std::string m = g.name;
    std::ostringstream s;
    s << "# " << m << "-config.cmake: lib" << m << ".a as the imported target " << m
      << "::" << m << " (generated by `" << m << " export`).\n"
      << "#   find_package(" << m << " REQUIRED CONFIG)   # with -D" << m << "_DIR=<this folder>\n"
      << "#   target_link_libraries(app PRIVATE " << m << "::" << m << ")\n"
      << "if(NOT TARGET " << m << "::" << m << ")\n"
      << "    find_package(Threads REQUIRED)\n"
      << "    add_library(" << m << "::" << m << " STATIC IMPORTED)\n"
      << "    set_target_properties(" << m << "::" << m << " PROPERTIES\n"
      << "        IMPORTED_LOCATION \"${CMAKE_CURRENT_LIST_DIR}/lib" << m << ".a\"\n"
      << "        INTERFACE_INCLUDE_DIRECTORIES \"${CMAKE_CURRENT_LIST_DIR}\"\n"
      << "        INTERFACE_LINK_LIBRARIES \"Threads::Threads;${CMAKE_DL_LIBS};m\")\n"
      << "endif()\n";
    if (!li.embedded_weights)
        s << "# The weights file to pass as weights_path.\n"
          << "set(" << m << "_WEIGHTS \"${CMAKE_CURRENT_LIST_DIR}/" << m << ".weights\")\n";
    return s.str();
}

std::string library_header(const ir::Graph& g, const LibraryInterface& li) {
    const std::string m = g.name, M = upper(g.name);
    std::ostringstream s;
    s << "/* " << m << ".h: the C API of lib" << m << ".a, standalone inference for the cnnc "
      << "model '" << m << "'\n * (generated by `" << m << " export`). Targets: "
      << targets_text(li) << ".\n *\n"
      << " *     " << m << "_context *ctx;\n"
      << " *     if (" << m << "_create(&ctx, NULL) != " << M << "_OK) { puts(" << m
      << "_error(NULL)); return 1; }\n"
      << " *     float out[" << M << "_OUTPUT_SIZE];\n"
      << " *     if (" << m << "_run(ctx, image, " << M << "_INPUT_SIZE, out, " << M
      << "_OUTPUT_SIZE) != " << M << "_OK) puts(" << m << "_error(ctx));\n"
      << " *     " << m << "_destroy(ctx);\n *\n"
      << " * Link: cc app.c lib" << m << ".a -lpthread -ldl -lm (nothing else). Plain C; "
      << "usable from C++. */\n"
      << "#ifndef " << M << "_H\n#define " << M << "_H\n\n#include <stddef.h>\n\n"
      << "#ifdef __cplusplus\nextern \"C\" {\n#endif\n\n"
      << constants(g, li) << functions(g, li)
      << "#ifdef __cplusplus\n}\n#endif\n\n#endif\n";
    return s.str();
}

namespace {

std::string extents_row(const Shape& shape) {
    std::vector<int64_t> e = lower::storage_extents(shape);
    std::ostringstream s;
    s << e.size() << ", {";
    for (size_t d = 0; d < 3; ++d) s << (d ? ", " : "") << (d < e.size() ? e[d] : 1);
    s << "}";
    return s.str();
}

std::string param_tables(const ir::Graph& g) {
    std::ostringstream s;
    s << "static const int32_t param_rank[] = {";
    for (const ir::Param& p : g.params) s << p.extents.rank << ", ";
    s << "0};\nstatic const int32_t param_extents[][4] = {";
    for (const ir::Param& p : g.params) {
        s << "{";
        for (int d = 0; d < 4; ++d) s << (d < p.extents.rank ? p.extents[d] : 1) << ", ";
        s << "}, ";
    }
    s << "{0}};\n";
    return s.str();
}

std::string variant_table(const ir::Graph& g, const LibraryInterface& li) {
    std::ostringstream decls, rows;
    for (size_t i = 0; i < li.variants.size(); ++i) {
        const LibraryVariant& v = li.variants[i];
        decls << "extern const cnnc_plan " << g.name << "_plan" << v.suffix << ";\n"
              << "static const uint64_t features" << v.suffix << "[] = {";
        for (uint64_t w : v.features) decls << w << "ull, ";
        decls << "};\n";
        rows << "    {&" << g.name << "_plan" << v.suffix << ", \"" << v.target << "\", "
             << v.features.size() << ", features" << v.suffix << ", " << v.feature_count
             << "},\n";
    }
    return decls.str() + "static const cnnc_lib_variant variants[] = {\n" + rows.str() + "};\n";
}

std::string model_description(const ir::Graph& g, const LibraryInterface& li) {
    std::ostringstream s;
    s << "static const cnnc_lib_model model = {\n    \"" << g.name << "\",\n    "
      << g.node(g.input).shape.elements() << ", " << extents_row(g.node(g.input).shape)
      << ",\n    " << g.node(g.logits).shape.elements() << ", "
      << extents_row(g.node(g.logits).shape) << ",\n    " << g.params.size()
      << ", param_rank, param_extents, " << g.parameter_count() << ",\n    "
      << ir::weights_fingerprint(g) << "ull,\n    " << li.fixed_batch << ", " << li.max_batch
      << ",\n    " << li.variants.size() << ", variants,\n    "
      << (li.embedded_weights ? weights_symbol(g) : "NULL") << "};\n\n";
    return s.str();
}

std::string forwarding_functions(const ir::Graph& g) {
    const std::string m = g.name;
    const std::string ctx = "(cnnc_lib_context *)context";
    std::ostringstream s;
    s << "size_t " << m << "_context_bytes(int max_batch) {\n"
      << "    return cnnc_lib_context_bytes(&model, max_batch);\n}\n\n"
      << "int " << m << "_create(" << m << "_context **context, const " << m
      << "_options *options) {\n"
      << "    cnnc_lib_options o = {0};\n"
      << "    if (options) {\n"
      << "        o.weights_path = options->weights_path;\n"
      << "        o.weights_data = options->weights_data;\n"
      << "        o.weights_bytes = options->weights_bytes;\n"
      << "        o.memory = options->memory;\n"
      << "        o.memory_bytes = options->memory_bytes;\n"
      << "        o.max_batch = options->max_batch;\n    }\n"
      << "    return cnnc_lib_create(&model, (cnnc_lib_context **)context, options ? &o : NULL);"
      << "\n}\n\n"
      << "int " << m << "_run(" << m << "_context *context, const float *images, size_t "
      << "image_floats,\n" << std::string(m.size() + 9, ' ')
      << "float *output, size_t output_floats) {\n"
      << "    return cnnc_lib_run(" << ctx << ", images, image_floats, output, output_floats);\n"
      << "}\n\n"
      << "int " << m << "_classify(" << m << "_context *context, const float *image) {\n"
      << "    float p[" << upper(m) << "_OUTPUT_SIZE];\n    int best = 0, k;\n"
      << "    if (cnnc_lib_run(" << ctx << ", image, " << upper(m) << "_INPUT_SIZE, p, "
      << upper(m) << "_OUTPUT_SIZE) != 0)\n        return -1;\n"
      << "    for (k = 1; k < " << upper(m) << "_OUTPUT_SIZE; ++k)\n"
      << "        if (p[k] > p[best]) best = k;\n    return best;\n}\n\n"
      << "const char *" << m << "_error(const " << m << "_context *context) {\n"
      << "    return cnnc_lib_error((const cnnc_lib_context *)context);\n}\n\n"
      << "const char *" << m << "_target(const " << m << "_context *context) {\n"
      << "    return cnnc_lib_variant_target((const cnnc_lib_context *)context);\n}\n\n"
      << "void " << m << "_destroy(" << m << "_context *context) {\n"
      << "    cnnc_lib_destroy(" << ctx << ");\n}\n";
    return s.str();
}

}  // namespace

std::string library_source(const ir::Graph& g, const LibraryInterface& li) {
    std::ostringstream s;
    s << "/* " << g.name << "_library.c: the model behind " << g.name
      << ".h for runtime/library/cnnc_library.c (generated by cnnc). */\n"
      << "#include <stdint.h>\n\n#include \"" << g.name << ".h\"\n"
      << "#include \"runtime/library/cnnc_library.h\"\n\n"
      << param_tables(g) << "\n" << variant_table(g, li) << "\n";
    if (li.embedded_weights)
        s << "/* The weights file, assembled into the library by `" << g.name << " export`. */\n"
          << "extern const unsigned char " << weights_symbol(g) << "[];\n\n";
    s << model_description(g, li) << forwarding_functions(g);
    return s.str();
}

}  // namespace cnnc::emit
