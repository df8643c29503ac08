// Building the standalone inference library: weights blob, assembly stub, archive.
#include "runtime/export.h"

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <stdexcept>
#include <string>
#include <utility>

namespace cnnc::runtime {
namespace fs = std::filesystem;

namespace {

void run_tool(const std::string& command) {
    if (std::system(command.c_str()) != 0)
        throw std::runtime_error("export: command failed: " + command);
}

// Built by appending: GCC 12 warns falsely (-Wrestrict) about "'" + std::string + "'".
std::string quoted(const fs::path& p) {
    std::string out = "'";
    out += p.string();
    out += '\'';
    return out;
}

// The two floats at the front of the blob: the exported C API computes (x - mean) / std for
// every value x in [0, 1] (see compiler/emit/c_api.cpp). scale is mean 0, std 1; center keeps
// std 1. NOTE: one (mean, std) pair serves every channel. That is exact for the current
// examples, which are all one-channel (grey), and for multi-channel models whose channels share
// their statistics (or use scale); any other multi-channel normalisation is refused here until
// the C API reads one pair per channel.
std::pair<float, float> blob_normalisation(const ModelState& s) {
    const InputNormalisation& n = s.normalisation;
    if (n.mode == Normalisation::scale) return {0.0f, 1.0f};
    for (size_t c = 1; c < n.stats.mean.size(); ++c)
        if (n.stats.mean[c] != n.stats.mean[0] ||
            (n.mode == Normalisation::standardise && n.stats.std[c] != n.stats.std[0]))
            throw std::runtime_error(
                "export: the exported library applies one mean and standard deviation to every "
                "input channel, but " + s.graph->name + " was trained with '" +
                std::string(normalisation_name(n.mode)) + "' statistics that differ between its " +
                std::to_string(n.stats.mean.size()) +
                " channels; retrain with --normalise scale to export it");
    if (n.stats.mean.empty())
        throw std::runtime_error("export: the input normalisation has no statistics");
    return {n.stats.mean[0], n.mode == Normalisation::standardise ? n.stats.std[0] : 1.0f};
}

// mean, std, then every parameter in graph order: the layout <model>_standalone.c reads.
void write_blob(const ModelState& s, const fs::path& path) {
    auto [mean, std] = blob_normalisation(s);
    std::ofstream out(path, std::ios::binary);
    const float pre[2] = {mean, std};
    out.write(reinterpret_cast<const char*>(pre), sizeof pre);
    for (const Tensor& t : s.params)
        out.write(reinterpret_cast<const char*>(t.data()), std::streamsize(t.size() * 4));
    if (!out) throw std::runtime_error("export: cannot write " + path.string());
}

// .incbin places the blob in the object file as read-only data without a C array literal, so
// even large models assemble in a moment.
void write_stub(const std::string& symbol, const fs::path& blob, const fs::path& path) {
    std::ofstream out(path);
    out << "    .section .rodata\n    .balign 64\n    .globl " << symbol << "\n" << symbol
        << ":\n    .incbin \"" << blob.string() << "\"\n    .globl " << symbol << "_end\n"
        << symbol << "_end:\n    .section .note.GNU-stack,\"\",@progbits\n";
}

}  // namespace

std::string export_library(const ModelState& s, const ExportInputs& in, const std::string& dir) {
    const std::string model = s.graph->name;
    const fs::path out_dir = fs::absolute(dir), gen = in.generated_dir;
    fs::create_directories(out_dir);
    const fs::path work = out_dir / ("." + model + "_export");
    fs::create_directories(work);

    write_blob(s, work / "weights.bin");
    write_stub("cnnc_" + model + "_weights", work / "weights.bin", work / "weights.s");
    run_tool("cc -c " + quoted(work / "weights.s") + " -o " + quoted(work / "weights.o"));

    const fs::path lib = out_dir / ("lib" + model + ".a");
    const fs::path tmp = out_dir / ("lib" + model + ".a.tmp");
    fs::remove(tmp);
    // ar's MRI script merges the generated archives (plan, kernels, Halide runtime) with the two
    // objects into one library.
    std::ofstream script(work / "merge.mri");
    script << "create " << tmp.string() << "\naddlib " << (gen / (model + "_infer.a")).string()
           << "\naddlib " << (gen / (model + "_kernels.a")).string()
           << "\naddlib " << in.halide_runtime << "\naddmod " << in.standalone_object << "\naddmod " << (work / "weights.o").string()
           << "\nsave\nend\n";
    script.close();
    run_tool("ar -M < " + quoted(work / "merge.mri"));
    fs::rename(tmp, lib);  // a failed export never leaves a half-written library behind
    fs::copy_file(gen / (model + ".h"), out_dir / (model + ".h"),
                  fs::copy_options::overwrite_existing);
    fs::remove_all(work);
    return lib.string();
}

}  // namespace cnnc::runtime
