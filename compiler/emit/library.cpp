// Building an exported library: a kernel set per target, their plans, the C API, one archive.
#include "compiler/emit/library.h"

#include <Halide.h>
#include <unistd.h>

#include <bit>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <stdexcept>

#include "compiler/emit/aot.h"
#include "compiler/emit/c_api.h"
#include "compiler/emit/plan.h"
#include "compiler/passes/memory_plan.h"

namespace cnnc::emit {
namespace fs = std::filesystem;
using Halide::Target;

namespace {

[[noreturn]] void fail(const std::string& what) { throw std::runtime_error("export: " + what); }

void write_text(const fs::path& path, const std::string& text) {
    std::ofstream out(path);
    out << text;
    if (!out) fail("cannot write " + path.string());
}

std::string shell_quoted(const std::string& s) {
    std::string out = "'";
    for (char c : s) out += c == '\'' ? std::string("'\\''") : std::string(1, c);
    return out + "'";
}

void run_tool(const std::string& command) {
    if (std::system(command.c_str()) != 0) fail("command failed: " + command);
}

// --- targets ------------------------------------------------------------------------------------

Target parse_target(const std::string& name) {
    if (name == "host") return Halide::get_host_target();
    if (!Target::validate_target_string(name))
        fail("'" + name + "' is not a Halide target (examples: host, x86-64-linux-avx2, "
             "arm-64-linux, wasm-32-wasmrt)");
    return Target(name);
}

// The clang triple of a target, or a message saying why cnnc cannot build for it.
std::string clang_triple(const Target& t, const std::string& name) {
    if (t.has_gpu_feature() && !t.has_feature(Target::CUDA))
        fail("target " + name + " asks for a GPU API other than CUDA; cnnc's GPU schedule "
             "templates are built and checked for CUDA only");
    if (t.os == Target::WebAssemblyRuntime && t.arch == Target::WebAssembly) return "wasm32";
    if (t.os != Target::Linux)
        fail("target " + name + ": cnnc exports libraries for Linux and WebAssembly (wasmrt)");
    if (t.arch == Target::X86 && t.bits == 64) return "x86_64-linux-gnu";
    if (t.arch == Target::ARM && t.bits == 64) return "aarch64-linux-gnu";
    if (t.arch == Target::ARM && t.bits == 32) return "armv7a-linux-gnueabihf";
    if (t.arch == Target::RISCV && t.bits == 64) return "riscv64-linux-gnu";
    fail("target " + name + ": no C toolchain triple for this architecture");
}

LibraryVariant describe_variant(const Target& t, size_t index) {
    LibraryVariant v;
    v.target = t.to_string();
    v.suffix = "_v" + std::to_string(index);
    v.features.assign((Target::FeatureEnd + 63) / 64, 0);
    for (int f = 0; f < Target::FeatureEnd; ++f)
        if (t.has_feature(Target::Feature(f))) v.features[size_t(f / 64)] |= 1ull << (f % 64);
    for (uint64_t w : v.features) v.feature_count += std::popcount(w);
    return v;
}

// Every variant of one library shares one Halide runtime and one C build: same OS, arch, bits.
std::vector<Target> parse_targets(const std::vector<std::string>& names) {
    if (names.empty()) fail("no --target given");
    std::vector<Target> targets;
    for (const std::string& n : names) {
        targets.push_back(parse_target(n));
        clang_triple(targets.back(), n);
        const Target& a = targets.front();
        const Target& b = targets.back();
        if (a.os != b.os || a.arch != b.arch || a.bits != b.bits)
            fail("targets " + names.front() + " and " + n + " differ in OS, architecture or "
                 "bits; one library holds variants of one platform");
        for (size_t i = 0; i + 1 < targets.size(); ++i)
            if (targets[i] == b) fail("target " + n + " is given twice");
        // The variants share the runtime of the least capable one, which would lack CUDA's.
        if (a.has_gpu_feature() != b.has_gpu_feature())
            fail("targets " + names.front() + " and " + n + ": a CUDA library has CUDA variants "
                 "only; export CPU and GPU libraries separately");
    }
    return targets;
}

// The runtime is compiled for the variant with the fewest features, so that it runs on every
// CPU one of the variants runs on.
Target runtime_target(const std::vector<LibraryVariant>& variants,
                      const std::vector<Target>& targets) {
    size_t best = 0;
    for (size_t i = 1; i < variants.size(); ++i)
        if (variants[i].feature_count < variants[best].feature_count) best = i;
    return targets[best];
}

// --- C sources and the archive ------------------------------------------------------------------

struct CBuild {
    const Toolchain& tools;
    std::string triple;
    fs::path work;

    // Compiled without the target's C library headers (runtime/library/freestanding stands in),
    // so that one clang builds for every target.
    fs::path compile(const fs::path& source, const std::string& object_name) const {
        const fs::path object = work / object_name;
        const fs::path src = tools.source_dir;
        std::string pic = triple == "wasm32" ? "" : " -fPIC";
        run_tool(shell_quoted(tools.clang) + " --target=" + triple + " -O2" + pic +
                 " -ffreestanding -nostdlibinc -fno-stack-protector -w" + " -I" +
                 shell_quoted((src / "runtime/library/freestanding").string()) + " -I" +
                 shell_quoted(src.string()) + " -I" + shell_quoted(tools.halide_include) + " -I" +
                 shell_quoted(work.string()) + " -c " + shell_quoted(source.string()) + " -o " +
                 shell_quoted(object.string()));
        return object;
    }

    // The weights file as read-only data under `symbol`, 64-byte aligned, without a C array
    // literal: even a 500 MB file assembles in a moment.
    fs::path embed(const fs::path& blob, const std::string& symbol) const {
        std::ofstream s(work / "weights.s");
        if (triple == "wasm32")
            s << "    .section .rodata." << symbol << ",\"\",@\n";
        else
            s << "    .section .rodata\n";
        s << "    .p2align 6\n    .globl " << symbol << "\n" << symbol << ":\n    .incbin \""
          << blob.string() << "\"\n    .size " << symbol << ", " << fs::file_size(blob) << "\n";
        if (triple != "wasm32") s << "    .section .note.GNU-stack,\"\",%progbits\n";
        s.close();
        return compile(work / "weights.s", "weights.o");
    }
};

void archive(const Toolchain& tools, const fs::path& work, const fs::path& out,
             const std::vector<fs::path>& libraries, const std::vector<fs::path>& objects) {
    std::ofstream script(work / "merge.mri");
    script << "create " << out.string() << "\n";
    for (const fs::path& l : libraries) script << "addlib " << l.string() << "\n";
    for (const fs::path& o : objects) script << "addmod " << o.string() << "\n";
    script << "save\nend\n";
    script.close();
    run_tool(shell_quoted(tools.llvm_ar) + " -M < " + shell_quoted((work / "merge.mri").string()));
}

void check_request(const ir::Graph& g, const LibraryRequest& r) {
    if (r.fixed_batch < 0 || r.max_batch < 1)
        fail("the batch must be positive (--batch " + std::to_string(r.fixed_batch) +
             ", --max-batch " + std::to_string(r.max_batch) + ")");
    if (!fs::exists(r.weights_file)) fail("weights file " + r.weights_file + " does not exist");
    if (fs::absolute(r.weights_file).string().find('"') != std::string::npos)
        fail("weights file path " + r.weights_file + " contains a '\"'");
    if (g.name.find_first_not_of("abcdefghijklmnopqrstuvwxyz0123456789_") != std::string::npos)
        fail("model name '" + g.name + "' is not a lower-case C identifier");
}

}  // namespace

LibraryFiles export_library(const ir::Graph& g, const LibraryRequest& r, const Toolchain& tools) {
    check_request(g, r);
    const std::vector<Target> targets = parse_targets(r.targets);
    const fs::path out_dir = fs::absolute(r.out_dir);
    const fs::path work = out_dir / ("." + g.name + "_export_" + std::to_string(::getpid()));
    fs::create_directories(work);
    struct Cleanup {
        fs::path dir;
        ~Cleanup() { fs::remove_all(dir); }
    } cleanup{work};

    LibraryInterface li;
    li.fixed_batch = r.fixed_batch;
    li.max_batch = r.fixed_batch > 0 ? r.fixed_batch : r.max_batch;
    li.embedded_weights = r.embed_weights;
    CBuild c{tools, clang_triple(targets[0], r.targets[0]), work};
    std::vector<fs::path> libraries, objects;
    for (size_t i = 0; i < targets.size(); ++i) {
        li.variants.push_back(describe_variant(targets[i], i));
        const std::string& suffix = li.variants.back().suffix;
        const fs::path kernels = work / (g.name + "_kernels" + suffix + ".a");
        passes::Partition p =
            emit_inference_variant(g, targets[i], suffix, r.fixed_batch, kernels.string(),
                                   r.records_dir);
        li.arena_floats = passes::plan_memory(g, p).arena_floats;
        libraries.push_back(kernels);
        write_text(work / (g.name + "_plan" + suffix + ".c"), variant_plan_source(g, p, suffix));
        objects.push_back(c.compile(work / (g.name + "_plan" + suffix + ".c"),
                                    g.name + "_plan" + suffix + ".o"));
    }
    const fs::path runtime = work / "halide_runtime.a";
    Halide::compile_standalone_runtime({{Halide::OutputFileType::static_library, runtime.string()}},
                                       runtime_target(li.variants, targets));
    libraries.push_back(runtime);

    write_text(work / (g.name + ".h"), library_header(g, li));
    write_text(work / (g.name + "_library.c"), library_source(g, li));
    objects.push_back(c.compile(work / (g.name + "_library.c"), g.name + "_library.o"));
    objects.push_back(c.compile(fs::path(tools.source_dir) / "runtime/plan.c", "cnnc_plan.o"));
    objects.push_back(c.compile(fs::path(tools.source_dir) / "runtime/library/cnnc_library.c",
                                "cnnc_library.o"));
    if (r.embed_weights) objects.push_back(c.embed(fs::absolute(r.weights_file), weights_symbol(g)));

    const fs::path staged = work / ("lib" + g.name + ".a");
    archive(tools, work, staged, libraries, objects);

    // Everything built: only now does out_dir change (the library, header, CMake config and
    // weights, each replaced whole).
    LibraryFiles files{(out_dir / ("lib" + g.name + ".a")).string(),
                       (out_dir / (g.name + ".h")).string(), ""};
    fs::rename(staged, files.library);
    fs::rename(work / (g.name + ".h"), files.header);
    write_text(out_dir / (g.name + "-config.cmake"), library_cmake_config(g, li));
    if (!r.embed_weights) {
        files.weights = (out_dir / (g.name + ".weights")).string();
        fs::copy_file(r.weights_file, files.weights, fs::copy_options::overwrite_existing);
    }
    return files;
}

}  // namespace cnnc::emit
