// `export`: the weights file, then the model's compiler builds the library around it.
#include "runtime/export.h"

#include <sys/wait.h>
#include <unistd.h>

#include <array>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <stdexcept>
#include <string>
#include <utility>

#include "compiler/ir/fingerprint.h"
#include "runtime/library/weights_format.h"

namespace cnnc::runtime {
namespace fs = std::filesystem;

namespace {

std::string shell_quoted(const std::string& s) {
    std::string out = "'";
    for (char c : s) out += c == '\'' ? std::string("'\\''") : std::string(1, c);
    return out + "'";
}

// The two floats of the header: the exported library computes (x - mean) / std for every value
// x in [0, 1]. scale is mean 0, std 1; center keeps std 1. NOTE: one (mean, std) pair serves
// every channel. That is exact for the current examples, which are all one-channel (grey), and
// for multi-channel models whose channels share their statistics (or use scale); any other
// multi-channel normalisation is refused here until the library reads one pair per channel.
std::pair<float, float> input_normalisation(const ModelState& s) {
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

template <typename T>
void put(std::string& bytes, size_t at, T value) {
    std::memcpy(bytes.data() + at, &value, sizeof value);
}

// Runs the compiler; its three lines of output name the files it wrote.
ExportedFiles run_compiler(const std::string& command) {
    FILE* pipe = ::popen(command.c_str(), "r");
    if (!pipe) throw std::runtime_error("export: cannot run " + command);
    std::string out;
    std::array<char, 4096> chunk{};
    size_t n;
    while ((n = std::fread(chunk.data(), 1, chunk.size(), pipe)) > 0) out.append(chunk.data(), n);
    if (::pclose(pipe) != 0)
        throw std::runtime_error("export: the model compiler failed (its message is above)");
    ExportedFiles f;
    std::string* field[] = {&f.library, &f.header, &f.weights};
    size_t at = 0;
    for (std::string* s : field) {
        size_t end = out.find('\n', at);
        if (end == std::string::npos) break;
        *s = out.substr(at, end - at);
        at = end + 1;
    }
    return f;
}

}  // namespace

void write_weights_file(const ModelState& s, const std::string& path) {
    auto [mean, std] = input_normalisation(s);
    std::string header(CNNC_WEIGHTS_HEADER_BYTES, '\0');
    std::memcpy(header.data(), CNNC_WEIGHTS_MAGIC, 8);
    put(header, 8, uint32_t(CNNC_WEIGHTS_VERSION));
    put(header, 12, uint32_t(CNNC_WEIGHTS_HEADER_BYTES));
    uint64_t param_bytes = 0;
    for (const Tensor& t : s.params) param_bytes += uint64_t(t.size()) * 4;
    put(header, 16, param_bytes);
    put(header, 32, ir::weights_fingerprint(*s.graph));
    put(header, 40, mean);
    put(header, 44, std);
    if (s.graph->name.size() >= CNNC_WEIGHTS_NAME_BYTES)
        throw std::runtime_error("export: model name " + s.graph->name + " is too long");
    std::memcpy(header.data() + 48, s.graph->name.data(), s.graph->name.size());

    std::string body(CNNC_WEIGHTS_HEADER_BYTES, '\0');
    body.reserve(CNNC_WEIGHTS_HEADER_BYTES + param_bytes);
    for (const Tensor& t : s.params)
        body.append(reinterpret_cast<const char*>(t.data()), t.size() * 4);
    std::memcpy(body.data(), header.data(), header.size());
    const auto* bytes = reinterpret_cast<const unsigned char*>(body.data());
    put(body, 24, cnnc_weights_checksum(bytes + CNNC_WEIGHTS_CHECKED_FROM,
                                        body.size() - CNNC_WEIGHTS_CHECKED_FROM));
    std::ofstream out(path, std::ios::binary);
    out.write(body.data(), std::streamsize(body.size()));
    if (!out) throw std::runtime_error("export: cannot write " + path);
}

int run_model_compiler(const std::string& compiler, const std::vector<std::string>& args) {
    std::string command = shell_quoted(compiler);
    for (const std::string& a : args) command += " " + shell_quoted(a);
    const int status = std::system(command.c_str());
    return WIFEXITED(status) ? WEXITSTATUS(status) : 1;
}

ExportedFiles export_library(const ModelState& s, const std::string& compiler,
                             const ExportOptions& o) {
    fs::create_directories(o.out_dir);
    const fs::path weights = fs::absolute(o.out_dir) / ("." + s.graph->name + ".weights." +
                                                        std::to_string(::getpid()));
    write_weights_file(s, weights.string());
    std::string targets;
    for (const std::string& t : o.targets) targets += (targets.empty() ? "" : ",") + t;
    std::string command = shell_quoted(compiler) + " --export " + shell_quoted(o.out_dir) +
                          " --weights-file " + shell_quoted(weights.string()) + " --targets " +
                          shell_quoted(targets) + " --batch " + std::to_string(o.batch) +
                          " --max-batch " + std::to_string(o.max_batch) +
                          (o.external_weights ? " --external-weights" : "") +
                          (o.records_dir.empty() ? "" : " --records " + shell_quoted(o.records_dir));
    try {
        ExportedFiles f = run_compiler(command);
        fs::remove(weights);
        return f;
    } catch (...) {
        fs::remove(weights);
        throw;
    }
}

}  // namespace cnnc::runtime
