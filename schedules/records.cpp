// Tuned schedule records: layer keys, the text format, files and lookup by layer and target.
#include "schedules/records.h"

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <stdexcept>

#include "runtime/library/weights_format.h"

namespace cnnc::schedules {
namespace fs = std::filesystem;

int ScheduleParams::get(const std::string& name, int fallback) const {
    auto it = values.find(name);
    return it == values.end() ? fallback : it->second;
}

std::string ScheduleParams::text() const {
    if (values.empty()) return "default";
    std::string out;
    for (const auto& [name, value] : values)
        out += (out.empty() ? "" : " ") + name + "=" + std::to_string(value);
    return out;
}

namespace {

std::string shape_text(const Shape& s) {
    std::string out;
    for (int d = 0; d < s.rank; ++d) out += (d ? "x" : "") + std::to_string(s.dims[size_t(d)]);
    return out;
}

std::string window_text(const Window& w) {
    std::ostringstream s;
    s << " k" << w.kernel_h << "x" << w.kernel_w << " s" << w.stride_h << "x" << w.stride_w << " d"
      << w.dilation_h << "x" << w.dilation_w << " p" << w.pads.top << "," << w.pads.bottom << ","
      << w.pads.left << "," << w.pads.right;
    return s.str();
}

std::string trim(const std::string& s) {
    size_t a = s.find_first_not_of(" \t\r"), b = s.find_last_not_of(" \t\r");
    return a == std::string::npos ? "" : s.substr(a, b - a + 1);
}

ScheduleParams parse_params(const std::string& text, const std::string& where) {
    ScheduleParams p;
    if (text == "default") return p;
    std::istringstream in(text);
    std::string item;
    while (in >> item) {
        size_t eq = item.find('=');
        if (eq == std::string::npos || eq == 0)
            throw std::runtime_error(where + ": parameter '" + item + "' is not name=value");
        try {
            p.values[item.substr(0, eq)] = std::stoi(item.substr(eq + 1));
        } catch (const std::exception&) {
            throw std::runtime_error(where + ": parameter '" + item + "' has no integer value");
        }
    }
    return p;
}

}  // namespace

std::string layer_key(const ir::Graph& g, const ir::Node& n) {
    const std::string in = n.inputs.empty() ? "" : shape_text(g.node(n.inputs[0]).shape);
    const std::string head = std::string(op_name(n.op)) + " " + in + " -> " + shape_text(n.shape);
    switch (n.op) {
        case Op::conv2d:
        case Op::transposed_conv2d: {
            const auto& a = std::get<Conv2dAttrs>(n.attrs);
            return head + window_text(a.window) + " g" + std::to_string(a.groups);
        }
        case Op::max_pool:
            return head + window_text(std::get<PoolAttrs>(n.attrs).window);
        case Op::dense:
            return head;
        default:
            return "";
    }
}

std::string training_key(const ir::Graph& g, const std::vector<int>& nodes,
                         const std::string& role) {
    std::string key = role;
    for (size_t i = 0; i < nodes.size(); ++i) {
        const ir::Node& n = g.node(nodes[i]);
        std::string layer = layer_key(g, n);
        if (layer.empty()) layer = std::string(op_name(n.op)) + " " + shape_text(n.shape);
        key += (i ? " | " : " ") + layer;
    }
    return key;
}

std::string print_record(const Record& r) {
    std::ostringstream s;
    s << "# cnnc tuned schedule: written by `<model> tune`, read by every build for this target\n"
      << "layer: " << r.key.layer << "\n"
      << "target: " << r.key.target << "\n"
      << "cnnc: " << r.key.cnnc_version << "\n"
      << "halide: " << r.key.halide_version << "\n"
      << "revision: " << r.key.revision << "\n"
      << "params: " << r.params.text() << "\n"
      << "default_ms: " << r.default_ms << "\n"
      << "tuned_ms: " << r.tuned_ms << "\n"
      << "candidates: " << r.candidates << "\n";
    return s.str();
}

Record parse_record(const std::string& text, const std::string& origin) {
    Record r;
    std::map<std::string, std::string> fields;
    std::istringstream in(text);
    std::string line;
    for (int number = 1; std::getline(in, line); ++number) {
        line = trim(line);
        if (line.empty() || line[0] == '#') continue;
        size_t colon = line.find(':');
        if (colon == std::string::npos)
            throw std::runtime_error(origin + ":" + std::to_string(number) + ": no 'name: value'");
        fields[trim(line.substr(0, colon))] = trim(line.substr(colon + 1));
    }
    for (const char* need : {"layer", "target", "cnnc", "halide", "revision", "params"})
        if (!fields.count(need))
            throw std::runtime_error(origin + ": the record has no '" + need + "' line");
    r.key = {fields["layer"], fields["target"], fields["cnnc"], fields["halide"],
             std::atoi(fields["revision"].c_str())};
    r.params = parse_params(fields["params"], origin);
    r.default_ms = std::atof(fields["default_ms"].c_str());
    r.tuned_ms = std::atof(fields["tuned_ms"].c_str());
    r.candidates = std::atoi(fields["candidates"].c_str());
    return r;
}

std::string record_path(const std::string& folder, const RecordKey& key) {
    const std::string id = key.layer + "\n" + key.cnnc_version + "\n" + key.halide_version + "\n" +
                           std::to_string(key.revision);
    const uint64_t h =
        cnnc_weights_checksum(reinterpret_cast<const unsigned char*>(id.data()), id.size());
    char hex[17];
    std::snprintf(hex, sizeof hex, "%016llx", static_cast<unsigned long long>(h));
    const std::string op = key.layer.substr(0, key.layer.find(' '));
    return (fs::path(folder) / key.target / (op + "-" + std::string(hex, 12) + ".txt")).string();
}

RecordSet::RecordSet(const std::string& folder, std::string target) : target_(std::move(target)) {
    if (folder.empty() || !fs::is_directory(folder)) return;
    std::vector<fs::path> files;
    for (const auto& e : fs::recursive_directory_iterator(folder))
        if (e.is_regular_file() && e.path().extension() == ".txt") files.push_back(e.path());
    std::sort(files.begin(), files.end());  // the same warnings in the same order every build
    for (const fs::path& f : files) {
        std::ifstream in(f);
        std::stringstream text;
        text << in.rdbuf();
        records_.emplace_back(f.string(), parse_record(text.str(), f.string()));
    }
}

std::optional<ScheduleParams> RecordSet::find(const std::string& layer) const {
    std::optional<ScheduleParams> found;
    for (const auto& [origin, r] : records_) {
        if (r.key.layer != layer) continue;
        std::string why;
        if (r.key.target != target_) why = "target " + r.key.target;
        else if (r.key.cnnc_version != cnnc_version()) why = "cnnc " + r.key.cnnc_version;
        else if (r.key.halide_version != halide_version()) why = "Halide " + r.key.halide_version;
        else if (r.key.revision != template_revision)
            why = "template revision " + std::to_string(r.key.revision);
        if (why.empty()) {
            found = r.params;
            continue;
        }
        warnings_.push_back(origin + ": made for " + why + ", not " +
                            (r.key.target != target_ ? target_ : "this build") +
                            "; ignored (the default schedule applies)");
    }
    return found;
}

std::string cnnc_version() { return CNNC_VERSION; }
std::string halide_version() { return CNNC_HALIDE_VERSION; }

}  // namespace cnnc::schedules
