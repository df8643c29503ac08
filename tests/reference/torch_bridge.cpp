// Named-tensor files shared with the PyTorch reference script, and the runner that invokes it.
#include "tests/reference/torch_bridge.h"

#include <unistd.h>

#include <atomic>
#include <bit>
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <stdexcept>

#ifndef CNNC_SOURCE_DIR
#error "CNNC_SOURCE_DIR must be defined to the repository root (see tests/reference/CMakeLists.txt)"
#endif

namespace cnnc::reference {

namespace {

// The format is little-endian; writing host-order bytes is only correct on such a host.
static_assert(std::endian::native == std::endian::little, "tensor files assume little-endian");

constexpr char magic[8] = {'C', 'N', 'N', 'C', 'T', 'N', 'S', '1'};
// Guards against reading garbage as a huge allocation when a file is corrupt.
constexpr uint32_t max_name_length = 4096;
constexpr uint32_t max_rank = 16;

[[noreturn]] void io_fail(const std::string& path, const std::string& what) {
    throw std::runtime_error("tensor file '" + path + "': " + what);
}

template <typename T>
void put(std::ofstream& out, const T& value) {
    out.write(reinterpret_cast<const char*>(&value), sizeof value);
}

template <typename T>
T get(std::ifstream& in, const std::string& path) {
    T value{};
    if (!in.read(reinterpret_cast<char*>(&value), sizeof value)) io_fail(path, "truncated");
    return value;
}

int64_t element_count(const std::vector<int64_t>& extents) {
    int64_t n = 1;
    for (int64_t e : extents) n *= e;
    return n;
}

// Unique per process and call, so concurrent test executables never share a scratch folder.
std::filesystem::path make_scratch_dir() {
    static std::atomic<int> counter{0};
    auto stamp = std::chrono::steady_clock::now().time_since_epoch().count();
    auto dir = std::filesystem::temp_directory_path() /
               ("cnnc-torch-" + std::to_string(::getpid()) + "-" + std::to_string(counter++) + "-" +
                std::to_string(stamp));
    std::filesystem::create_directories(dir);
    return dir;
}

std::string shell_quote(const std::string& s) {
    std::string q = "'";
    for (char c : s) q += c == '\'' ? std::string("'\\''") : std::string(1, c);
    return q + "'";
}

}  // namespace

void write_tensors(const std::string& path, const std::vector<NamedArray>& arrays) {
    std::ofstream out(path, std::ios::binary | std::ios::trunc);
    if (!out) io_fail(path, "cannot open for writing");
    out.write(magic, sizeof magic);
    put(out, uint64_t(arrays.size()));
    for (const NamedArray& a : arrays) {
        if (int64_t(a.values.size()) != element_count(a.extents))
            io_fail(path, "tensor '" + a.name + "' has " + std::to_string(a.values.size()) +
                              " values for its extents");
        put(out, uint32_t(a.name.size()));
        out.write(a.name.data(), std::streamsize(a.name.size()));
        put(out, uint32_t(a.extents.size()));
        for (int64_t e : a.extents) put(out, e);
        out.write(reinterpret_cast<const char*>(a.values.data()),
                  std::streamsize(a.values.size() * sizeof(float)));
    }
    if (!out.flush()) io_fail(path, "write failed");
}

std::vector<NamedArray> read_tensors(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    if (!in) io_fail(path, "cannot open for reading");
    char head[sizeof magic];
    if (!in.read(head, sizeof head) || !std::equal(head, head + sizeof head, magic))
        io_fail(path, "bad magic (expected CNNCTNS1)");
    auto count = get<uint64_t>(in, path);
    std::vector<NamedArray> arrays;
    for (uint64_t t = 0; t < count; ++t) {
        NamedArray a;
        auto name_length = get<uint32_t>(in, path);
        if (name_length > max_name_length) io_fail(path, "implausible name length");
        a.name.resize(name_length);
        if (!in.read(a.name.data(), name_length)) io_fail(path, "truncated name");
        auto rank = get<uint32_t>(in, path);
        if (rank > max_rank) io_fail(path, "implausible rank for '" + a.name + "'");
        for (uint32_t r = 0; r < rank; ++r) {
            auto e = get<int64_t>(in, path);
            if (e < 0) io_fail(path, "negative extent in '" + a.name + "'");
            a.extents.push_back(e);
        }
        a.values.resize(size_t(element_count(a.extents)));
        if (!in.read(reinterpret_cast<char*>(a.values.data()),
                     std::streamsize(a.values.size() * sizeof(float))))
            io_fail(path, "truncated data for '" + a.name + "'");
        arrays.push_back(std::move(a));
    }
    return arrays;
}

const NamedArray& find_tensor(const std::vector<NamedArray>& arrays, std::string_view name) {
    for (const NamedArray& a : arrays)
        if (a.name == name) return a;
    std::string names;
    for (const NamedArray& a : arrays) names += (names.empty() ? "" : ", ") + a.name;
    throw std::runtime_error("no tensor named '" + std::string(name) + "' (have: " + names + ")");
}

NamedArray to_named_array(std::string name, std::vector<int64_t> extents,
                          std::span<const double> values) {
    NamedArray a{std::move(name), std::move(extents), {}};
    if (int64_t(values.size()) != element_count(a.extents))
        throw std::invalid_argument("to_named_array: '" + a.name + "' has " +
                                    std::to_string(values.size()) + " values for its extents");
    a.values.reserve(values.size());
    for (double v : values) a.values.push_back(float(v));
    return a;
}

std::vector<double> to_doubles(const NamedArray& array) {
    return std::vector<double>(array.values.begin(), array.values.end());
}

std::string lenet_reference_script() {
    return (std::filesystem::path(CNNC_SOURCE_DIR) / "tests" / "torch" / "lenet_reference.py")
        .string();
}

std::string torch_unavailable_reason() {
    // Importing torch takes about a second, and the answer cannot change within one process.
    static const std::string reason = []() -> std::string {
        if (!std::filesystem::exists(torch_python))
            return std::string(torch_python) + " does not exist (install Debian's python3)";
        std::string command =
            std::string(torch_python) + " -c 'import torch, numpy' > /dev/null 2>&1";
        if (std::system(command.c_str()) != 0)
            return std::string(torch_python) +
                   " cannot import torch and numpy (install Debian's python3-torch and "
                   "python3-numpy; the PyTorch reference needs that interpreter, not the python3 "
                   "first on PATH)";
        return {};
    }();
    return reason;
}

std::vector<NamedArray> lenet_reference_inputs(const SequentialNet& net, const Act& images,
                                               std::span<const int32_t> labels) {
    std::vector<NamedArray> inputs;
    for (const Param& p : net.params())
        inputs.push_back(to_named_array(p.name, p.extents, p.values));
    inputs.push_back(to_named_array("images", {images.c, images.w, images.h, images.n}, images.v));
    std::vector<double> label_values(labels.begin(), labels.end());
    inputs.push_back(to_named_array("labels", {int64_t(labels.size())}, label_values));
    return inputs;
}

std::vector<NamedArray> run_lenet_reference(const std::vector<NamedArray>& inputs,
                                            const TorchRunOptions& options) {
    std::string script = lenet_reference_script();
    if (!std::filesystem::exists(script))
        throw std::runtime_error("PyTorch reference script not found: " + script);

    std::filesystem::path dir = make_scratch_dir();
    std::string in_path = (dir / "in.cnnt").string();
    std::string out_path = (dir / "out.cnnt").string();
    write_tensors(in_path, inputs);

    std::ostringstream command;
    command << torch_python << " " << shell_quote(script) << " " << shell_quote(in_path) << " "
            << shell_quote(out_path);
    if (options.momentum_steps > 0) {
        command.precision(17);
        command << " --momentum-steps " << options.momentum_steps << " --lr " << options.lr
                << " --momentum " << options.momentum;
    }
    int status = std::system(command.str().c_str());
    if (status != 0) {
        std::filesystem::remove_all(dir);
        // Only diagnosed after a failure, so that a working setup does not import torch twice.
        if (std::string why = torch_unavailable_reason(); !why.empty())
            throw std::runtime_error("PyTorch reference unavailable: " + why);
        throw std::runtime_error("PyTorch reference failed (status " + std::to_string(status) +
                                 "): " + command.str());
    }
    std::vector<NamedArray> outputs = read_tensors(out_path);
    std::filesystem::remove_all(dir);
    return outputs;
}

}  // namespace cnnc::reference
