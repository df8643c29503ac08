// Named-tensor files shared with the PyTorch reference scripts, and the runners that invoke them.
#include "tests/reference/torch_bridge.h"

#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <bit>
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iterator>
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
constexpr char magic_v2[8] = {'C', 'N', 'N', 'C', 'T', 'N', 'S', '2'};
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

std::string file_tail(const std::filesystem::path& path, size_t max_bytes) {
    std::ifstream in(path, std::ios::binary);
    std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    if (text.size() > max_bytes) text = "..." + text.substr(text.size() - max_bytes);
    while (!text.empty() && (text.back() == '\n' || text.back() == ' ')) text.pop_back();
    return text;
}

// Writes `inputs`, runs `script` on them through torch_python and reads what it wrote. The
// script's stderr goes to a file whose end is quoted in the exception when it fails.
std::vector<NamedArray> run_script(const std::string& script,
                                   const std::vector<NamedArray>& inputs,
                                   const std::string& extra_args) {
    if (!std::filesystem::exists(script))
        throw std::runtime_error("PyTorch reference script not found: " + script);
    std::filesystem::path dir = make_scratch_dir();
    std::string in_path = (dir / "in.cnnt").string();
    std::string out_path = (dir / "out.cnnt").string();
    std::filesystem::path err_path = dir / "stderr.txt";
    write_tensors(in_path, inputs);

    std::string command = std::string(torch_python) + " " + shell_quote(script) + " " +
                          shell_quote(in_path) + " " + shell_quote(out_path) + extra_args;
    int status = std::system((command + " 2> " + shell_quote(err_path.string())).c_str());
    if (status != 0) {
        std::string err = file_tail(err_path, 3000);
        std::filesystem::remove_all(dir);
        // Only diagnosed after a failure, so that a working setup does not import torch twice.
        if (std::string why = torch_unavailable_reason(); !why.empty())
            throw std::runtime_error("PyTorch reference unavailable: " + why);
        throw std::runtime_error("PyTorch reference failed (status " + std::to_string(status) +
                                 "): " + command + "\n" + err);
    }
    std::vector<NamedArray> outputs = read_tensors(out_path);
    std::filesystem::remove_all(dir);
    return outputs;
}

void check_case_name(const std::string& name, const char* what) {
    if (name.find('/') != std::string::npos)
        throw std::invalid_argument(std::string(what) + " name '" + name + "' contains '/'");
}

// All cases in one file, each entry prefixed "<case>/"; the outputs split back per case.
std::vector<std::vector<NamedArray>> run_cases(const std::string& script,
                                               const std::vector<ReferenceCase>& cases) {
    std::vector<NamedArray> inputs;
    for (size_t i = 0; i < cases.size(); ++i) {
        const ReferenceCase& c = cases[i];
        if (c.name.empty()) throw std::invalid_argument("reference case without a name");
        check_case_name(c.name, "case");
        for (size_t j = 0; j < i; ++j)
            if (cases[j].name == c.name)
                throw std::invalid_argument("duplicate reference case '" + c.name + "'");
        inputs.push_back(text_array(c.name + "/spec.json", c.spec_json));
        for (const NamedArray& t : c.tensors) {
            check_case_name(t.name, "tensor");
            NamedArray copy = t;
            copy.name = c.name + "/" + t.name;
            inputs.push_back(std::move(copy));
        }
    }
    std::vector<NamedArray> outputs = run_script(script, inputs, "");
    std::vector<std::vector<NamedArray>> results(cases.size());
    for (NamedArray& o : outputs) {
        size_t slash = o.name.find('/');
        std::string case_name = slash == std::string::npos ? "" : o.name.substr(0, slash);
        size_t index = cases.size();
        for (size_t i = 0; i < cases.size(); ++i)
            if (cases[i].name == case_name) index = i;
        if (index == cases.size())
            throw std::runtime_error("PyTorch reference wrote '" + o.name +
                                     "', which belongs to no case");
        o.name = o.name.substr(slash + 1);
        results[index].push_back(std::move(o));
    }
    return results;
}

std::filesystem::path torch_script(const char* file) {
    return std::filesystem::path(CNNC_SOURCE_DIR) / "tests" / "torch" / file;
}

}  // namespace

void write_tensors(const std::string& path, const std::vector<NamedArray>& arrays) {
    bool version2 = false;
    for (const NamedArray& a : arrays) version2 = version2 || a.dtype != Dtype::float32;
    std::ofstream out(path, std::ios::binary | std::ios::trunc);
    if (!out) io_fail(path, "cannot open for writing");
    out.write(version2 ? magic_v2 : magic, sizeof magic);
    put(out, uint64_t(arrays.size()));
    for (const NamedArray& a : arrays) {
        size_t count = a.dtype == Dtype::float64 ? a.values64.size() : a.values.size();
        if (a.dtype != Dtype::text && int64_t(count) != element_count(a.extents))
            io_fail(path, "tensor '" + a.name + "' has " + std::to_string(count) +
                              " values for its extents");
        if (a.dtype != Dtype::float32 && a.dtype != Dtype::float64 && a.dtype != Dtype::text)
            io_fail(path, "tensor '" + a.name + "' has an unknown dtype");
        put(out, uint32_t(a.name.size()));
        out.write(a.name.data(), std::streamsize(a.name.size()));
        if (version2) put(out, uint8_t(a.dtype));
        if (a.dtype == Dtype::text) {
            put(out, uint32_t(1));
            put(out, int64_t(a.text.size()));
            out.write(a.text.data(), std::streamsize(a.text.size()));
            continue;
        }
        put(out, uint32_t(a.extents.size()));
        for (int64_t e : a.extents) put(out, e);
        if (a.dtype == Dtype::float64)
            out.write(reinterpret_cast<const char*>(a.values64.data()),
                      std::streamsize(a.values64.size() * sizeof(double)));
        else
            out.write(reinterpret_cast<const char*>(a.values.data()),
                      std::streamsize(a.values.size() * sizeof(float)));
    }
    if (!out.flush()) io_fail(path, "write failed");
}

std::vector<NamedArray> read_tensors(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    if (!in) io_fail(path, "cannot open for reading");
    char head[sizeof magic];
    if (!in.read(head, sizeof head)) io_fail(path, "bad magic (expected CNNCTNS1 or CNNCTNS2)");
    bool version2 = std::equal(head, head + sizeof head, magic_v2);
    if (!version2 && !std::equal(head, head + sizeof head, magic))
        io_fail(path, "bad magic (expected CNNCTNS1 or CNNCTNS2)");
    auto count = get<uint64_t>(in, path);
    std::vector<NamedArray> arrays;
    for (uint64_t t = 0; t < count; ++t) {
        NamedArray a;
        auto name_length = get<uint32_t>(in, path);
        if (name_length > max_name_length) io_fail(path, "implausible name length");
        a.name.resize(name_length);
        if (!in.read(a.name.data(), name_length)) io_fail(path, "truncated name");
        if (version2) {
            auto dtype = get<uint8_t>(in, path);
            if (dtype > uint8_t(Dtype::text))
                io_fail(path, "unknown dtype " + std::to_string(dtype) + " for '" + a.name + "'");
            a.dtype = Dtype(dtype);
        }
        auto rank = get<uint32_t>(in, path);
        if (rank > max_rank) io_fail(path, "implausible rank for '" + a.name + "'");
        for (uint32_t r = 0; r < rank; ++r) {
            auto e = get<int64_t>(in, path);
            if (e < 0) io_fail(path, "negative extent in '" + a.name + "'");
            a.extents.push_back(e);
        }
        if (a.dtype == Dtype::text) {
            if (rank != 1) io_fail(path, "text entry '" + a.name + "' must have rank 1");
            if (a.extents[0] > (int64_t(1) << 30)) io_fail(path, "implausible text length");
            a.text.resize(size_t(a.extents[0]));
            if (!in.read(a.text.data(), std::streamsize(a.text.size())))
                io_fail(path, "truncated text for '" + a.name + "'");
        } else if (a.dtype == Dtype::float64) {
            a.values64.resize(size_t(element_count(a.extents)));
            if (!in.read(reinterpret_cast<char*>(a.values64.data()),
                         std::streamsize(a.values64.size() * sizeof(double))))
                io_fail(path, "truncated data for '" + a.name + "'");
            a.values.assign(a.values64.begin(), a.values64.end());
        } else {
            a.values.resize(size_t(element_count(a.extents)));
            if (!in.read(reinterpret_cast<char*>(a.values.data()),
                         std::streamsize(a.values.size() * sizeof(float))))
                io_fail(path, "truncated data for '" + a.name + "'");
        }
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

NamedArray to_named_array64(std::string name, std::vector<int64_t> extents,
                            std::span<const double> values) {
    NamedArray a{std::move(name), std::move(extents), {}};
    if (int64_t(values.size()) != element_count(a.extents))
        throw std::invalid_argument("to_named_array64: '" + a.name + "' has " +
                                    std::to_string(values.size()) + " values for its extents");
    a.dtype = Dtype::float64;
    a.values64.assign(values.begin(), values.end());
    a.values.assign(values.begin(), values.end());
    return a;
}

NamedArray text_array(std::string name, std::string text) {
    NamedArray a{std::move(name), {int64_t(text.size())}, {}};
    a.dtype = Dtype::text;
    a.text = std::move(text);
    return a;
}

std::vector<double> to_doubles(const NamedArray& array) {
    if (array.dtype == Dtype::text)
        throw std::invalid_argument("to_doubles: '" + array.name + "' is a text entry");
    if (array.dtype == Dtype::float64) return array.values64;
    return std::vector<double>(array.values.begin(), array.values.end());
}

NamedArray act_to_named_array(std::string name, const Act& act) {
    if (act.is_flat()) return to_named_array64(std::move(name), {act.c, act.n}, act.v);
    return to_named_array64(std::move(name), {act.c, act.w, act.h, act.n}, act.v);
}

Act named_array_to_act(const NamedArray& array) {
    std::vector<double> values = to_doubles(array);
    const std::vector<int64_t>& e = array.extents;
    Act a;
    if (e.size() == 4)
        a = Act(e[0], e[1], e[2], e[3]);
    else if (e.size() == 2)
        a = Act::flat(e[0], e[1]);
    else if (e.size() == 1)
        a = Act::flat(e[0], 1);
    else
        throw std::invalid_argument("named_array_to_act: '" + array.name + "' has rank " +
                                    std::to_string(e.size()) + ", expected 4, 2 or 1");
    a.v = std::move(values);
    return a;
}

std::string lenet_reference_script() { return torch_script("lenet_reference.py").string(); }
std::string op_reference_script() { return torch_script("op_reference.py").string(); }
std::string optim_reference_script() { return torch_script("optim_reference.py").string(); }

std::string torch_unavailable_reason() {
    // The answer cannot change within one process. The modules are located, not imported:
    // importing torch takes about a second, and a broken installation still fails loudly when a
    // script runs (run_script reports its error output).
    static const std::string reason = []() -> std::string {
        if (!std::filesystem::exists(torch_python))
            return std::string(torch_python) + " does not exist (install Debian's python3)";
        std::string command = std::string(torch_python) +
                              " -c 'import importlib.util as u, sys; sys.exit(0 if "
                              "u.find_spec(\"torch\") and u.find_spec(\"numpy\") else 1)'"
                              " > /dev/null 2>&1";
        if (std::system(command.c_str()) != 0)
            return std::string(torch_python) +
                   " cannot find torch and numpy (install Debian's python3-torch and "
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
    std::ostringstream args;
    if (options.momentum_steps > 0) {
        args.precision(17);
        args << " --momentum-steps " << options.momentum_steps << " --lr " << options.lr
             << " --momentum " << options.momentum;
    }
    return run_script(lenet_reference_script(), inputs, args.str());
}

std::vector<NamedArray> run_op_reference(const std::string& spec_json,
                                         const std::vector<NamedArray>& tensors) {
    return run_op_references({ReferenceCase{"op", spec_json, tensors}}).at(0);
}

std::vector<std::vector<NamedArray>> run_op_references(const std::vector<ReferenceCase>& cases) {
    return run_cases(op_reference_script(), cases);
}

std::vector<NamedArray> run_optimizer_reference(const std::string& spec_json,
                                                const std::vector<NamedArray>& tensors) {
    return run_optimizer_references({ReferenceCase{"optimizer", spec_json, tensors}}).at(0);
}

std::vector<std::vector<NamedArray>> run_optimizer_references(
    const std::vector<ReferenceCase>& cases) {
    return run_cases(optim_reference_script(), cases);
}

std::vector<NamedArray> optimizer_reference_inputs(
    const std::vector<std::vector<double>>& params,
    const std::vector<std::vector<std::vector<double>>>& grads) {
    std::vector<NamedArray> inputs;
    for (size_t i = 0; i < params.size(); ++i)
        inputs.push_back(to_named_array64("param." + std::to_string(i),
                                          {int64_t(params[i].size())}, params[i]));
    for (size_t k = 0; k < grads.size(); ++k) {
        if (grads[k].size() != params.size())
            throw std::invalid_argument("optimizer_reference_inputs: step " + std::to_string(k) +
                                        " has " + std::to_string(grads[k].size()) +
                                        " gradients for " + std::to_string(params.size()) +
                                        " parameters");
        for (size_t i = 0; i < params.size(); ++i)
            inputs.push_back(to_named_array64(
                "grad." + std::to_string(i) + ".step" + std::to_string(k),
                {int64_t(grads[k][i].size())}, grads[k][i]));
    }
    return inputs;
}

}  // namespace cnnc::reference
