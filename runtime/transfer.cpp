// Transfer learning: parameters matched by name and extents between two models.
#include "runtime/transfer.h"

#include <algorithm>
#include <nlohmann/json.hpp>
#include <set>

#include "runtime/errors.h"

namespace cnnc::runtime {

namespace {

// A training checkpoint (runtime/checkpoint.h) holds the parameters as "param/<name>" next to
// the optimizer's state: its parameters serve as well as a weights file's.
ParamFile parameters_of(const ParamFile& f) {
    bool checkpoint = false;
    try {
        auto meta = nlohmann::json::parse(f.meta_json.empty() ? "{}" : f.meta_json);
        checkpoint = meta.is_object() && meta.contains("checkpoint_version");
    } catch (const nlohmann::json::exception&) {
    }
    if (!checkpoint) return f;
    ParamFile out;
    out.model = f.model;
    const std::string prefix = "param/";
    for (const NamedTensor& t : f.tensors)
        if (t.name.starts_with(prefix))
            out.tensors.push_back({t.name.substr(prefix.size()), t.extents, t.data});
    return out;
}

}  // namespace

TransferReport init_from(ModelState& state, const ParamFile& file, const std::string& path) {
    const ir::Graph& g = *state.graph;
    const ParamFile source = parameters_of(file);
    TransferReport r;
    std::set<std::string> used;
    for (size_t i = 0; i < g.params.size(); ++i) {
        const ir::Param& p = g.params[i];
        auto it = std::find_if(source.tensors.begin(), source.tensors.end(),
                               [&](const NamedTensor& t) { return t.name == p.name; });
        if (it == source.tensors.end()) {
            r.fresh.push_back(p.name + ": not in " + path);
            continue;
        }
        used.insert(it->name);
        if (it->extents != state.params[i].extents()) {
            r.fresh.push_back(p.name + ": extents " + extents_text(state.params[i].extents()) +
                              " here, " + extents_text(it->extents) + " in " + path);
            continue;
        }
        std::copy(it->data.begin(), it->data.end(), state.params[i].values().begin());
        r.loaded.push_back(p.name);
    }
    for (const NamedTensor& t : source.tensors)
        if (!used.count(t.name)) r.unused.push_back(t.name);
    if (r.loaded.empty())
        throw DataError("--init-from " + path + ": none of its " +
                        std::to_string(source.tensors.size()) + " tensors (model '" + source.model +
                        "') matches a parameter of " + g.name + " by name and extents");
    return r;
}

}  // namespace cnnc::runtime
