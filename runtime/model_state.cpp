// Initialising, saving and loading a model's parameters.
#include "runtime/model_state.h"

#include <cmath>
#include <nlohmann/json.hpp>
#include <random>
#include <stdexcept>

#include "runtime/errors.h"

namespace cnnc::runtime {

std::vector<int64_t> storage_extents(const ir::Param& p) { return p.storage_extents(); }

int input_channels(const ir::Graph& g) { return int(g.node(g.input).shape.channels()); }

ModelState ModelState::initialised(const ir::Graph& g, uint64_t seed) {
    ModelState s;
    s.graph = &g;
    std::mt19937_64 rng(seed);
    for (const ir::Param& p : g.params) {
        Tensor t(storage_extents(p));
        float bound = 1.0f / std::sqrt(float(p.fan_in));
        std::uniform_real_distribution<float> dist(-bound, bound);
        for (float& v : t.values())
            v = p.init == Init::ones ? 1.0f : p.init == Init::zeros ? 0.0f : dist(rng);
        s.params.push_back(std::move(t));
    }
    return s;
}

ParamFile ModelState::to_file(const std::string& meta_json) const {
    ParamFile f;
    f.model = graph->name;
    for (size_t i = 0; i < params.size(); ++i)
        f.tensors.push_back({graph->params[i].name,
                             params[i].extents(),
                             {params[i].values().begin(), params[i].values().end()}});
    nlohmann::json meta =
        meta_json.empty() ? nlohmann::json::object() : nlohmann::json::parse(meta_json);
    meta["input_normalisation"] = normalisation.to_json();
    f.meta_json = meta.dump();
    return f;
}

ModelState ModelState::from_file(const ir::Graph& g, const ParamFile& f, const std::string& path) {
    nlohmann::json meta;
    try {
        meta = nlohmann::json::parse(f.meta_json.empty() ? "{}" : f.meta_json);
    } catch (const nlohmann::json::exception& e) {
        throw DataError(path + ": metadata is not valid JSON: " + e.what());
    }
    if (meta.is_object() && meta.contains("checkpoint_version"))
        throw DataError(path +
                        " is a training checkpoint, not a parameter file: continue it with "
                        "`train --resume " +
                        path + "`, or use the weights file it saves");
    std::vector<std::pair<std::string, std::vector<int64_t>>> expected;
    for (const ir::Param& p : g.params) expected.emplace_back(p.name, storage_extents(p));
    check_params_match(f, path, g.name, expected);
    ModelState s;
    s.graph = &g;
    for (size_t i = 0; i < g.params.size(); ++i) {
        Tensor t(storage_extents(g.params[i]));
        // check_params_match accepts any order: find each tensor by name.
        for (const NamedTensor& nt : f.tensors)
            if (nt.name == g.params[i].name)
                std::copy(nt.data.begin(), nt.data.end(), t.values().begin());
        s.params.push_back(std::move(t));
    }
    try {
        if (meta.is_object() && meta.contains("input_normalisation")) {
            s.normalisation = InputNormalisation::from_json(meta["input_normalisation"]);
        } else if (meta.is_object() && meta.contains("preprocessing")) {
            const nlohmann::json& pre = meta["preprocessing"];
            s.normalisation.mode = Normalisation::standardise;
            s.normalisation.stats = {{pre.value("mean", 0.0f)}, {pre.value("std", 1.0f)}};
        }
    } catch (const std::exception& e) {
        throw DataError(path + ": metadata: " + e.what());
    }
    if (s.normalisation.mode != Normalisation::scale &&
        s.normalisation.stats.mean.size() != size_t(input_channels(g)))
        throw DataError(path + ": the input normalisation has " +
                        std::to_string(s.normalisation.stats.mean.size()) +
                        " channel statistics, the model's input has " +
                        std::to_string(input_channels(g)) + " channels");
    return s;
}

std::vector<halide_buffer_t*> ModelState::raw_params() const {
    std::vector<halide_buffer_t*> raw;
    for (const Tensor& t : params) raw.push_back(t.raw());
    return raw;
}

}  // namespace cnnc::runtime
