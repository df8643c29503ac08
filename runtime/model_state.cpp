// Initialising, saving and loading a model's parameters.
#include "runtime/model_state.h"

#include <nlohmann/json.hpp>

#include <cmath>
#include <random>

#include "runtime/errors.h"

namespace cnnc::runtime {

std::vector<int64_t> storage_extents(const ir::Param& p) {
    return {p.extents.dims.begin(), p.extents.dims.begin() + p.extents.rank};
}

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
        f.tensors.push_back({graph->params[i].name, params[i].extents(),
                             {params[i].values().begin(), params[i].values().end()}});
    nlohmann::json meta = meta_json.empty() ? nlohmann::json::object()
                                            : nlohmann::json::parse(meta_json);
    meta["preprocessing"] = {{"mean", preprocessing.mean}, {"std", preprocessing.std}};
    f.meta_json = meta.dump();
    return f;
}

ModelState ModelState::from_file(const ir::Graph& g, const ParamFile& f, const std::string& path) {
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
        auto meta = nlohmann::json::parse(f.meta_json.empty() ? "{}" : f.meta_json);
        if (meta.contains("preprocessing")) {
            s.preprocessing.mean = meta["preprocessing"].value("mean", 0.0f);
            s.preprocessing.std = meta["preprocessing"].value("std", 1.0f);
        }
    } catch (const nlohmann::json::exception& e) {
        throw DataError(path + ": metadata is not valid JSON: " + e.what());
    }
    return s;
}

}  // namespace cnnc::runtime
