// Checkpoints: a training run's full state in a parameter file, and back.
#include "runtime/checkpoint.h"

#include <cmath>
#include <limits>
#include <map>

#include "runtime/errors.h"
#include "runtime/model_state.h"
#include "runtime/param_file.h"

namespace cnnc::runtime {
namespace {

using json = nlohmann::json;

constexpr int checkpoint_version = 1;

NamedTensor named(const std::string& name, const Tensor& t) {
    return {name, t.extents(), {t.values().begin(), t.values().end()}};
}

// JSON has no NaN: a figure that was not measured is null.
json number_or_null(double v) { return std::isfinite(v) ? json(v) : json(nullptr); }

double number_of(const json& j, const char* key) {
    auto it = j.find(key);
    if (it == j.end() || it->is_null()) return std::numeric_limits<double>::quiet_NaN();
    if (!it->is_number())
        throw std::invalid_argument(std::string("\"") + key + "\" is not a number");
    return it->get<double>();
}

json history_json(const std::vector<EpochRecord>& history) {
    json out = json::array();
    for (const EpochRecord& r : history)
        out.push_back({{"epoch", r.epoch},
                       {"train_loss", number_or_null(r.train_loss)},
                       {"train_accuracy", number_or_null(r.train_accuracy)},
                       {"validation_loss", number_or_null(r.validation_loss)},
                       {"validation_accuracy", number_or_null(r.validation_accuracy)},
                       {"learning_rate", number_or_null(r.learning_rate)},
                       {"seconds", number_or_null(r.seconds)}});
    return out;
}

std::vector<EpochRecord> history_of(const json& j) {
    if (!j.is_array()) throw std::invalid_argument("\"history\" is not a list");
    std::vector<EpochRecord> out;
    for (const json& e : j) {
        if (!e.is_object() || !e.contains("epoch") || !e["epoch"].is_number_integer())
            throw std::invalid_argument("\"history\" entry without an integer \"epoch\": " +
                                        e.dump());
        EpochRecord r;
        r.epoch = e["epoch"].get<int>();
        r.train_loss = number_of(e, "train_loss");
        r.train_accuracy = number_of(e, "train_accuracy");
        r.validation_loss = number_of(e, "validation_loss");
        r.validation_accuracy = number_of(e, "validation_accuracy");
        r.learning_rate = number_of(e, "learning_rate");
        r.seconds = number_of(e, "seconds");
        out.push_back(r);
    }
    return out;
}

}  // namespace

void save_checkpoint(const std::string& path, const ir::Graph& g, const Checkpoint& c) {
    ParamFile f;
    f.model = g.name;
    for (size_t i = 0; i < c.params.size(); ++i)
        f.tensors.push_back(named("param/" + g.params[i].name, c.params[i]));
    for (const auto& [name, t] : c.optimizer_tensors)
        f.tensors.push_back(named("optimizer/" + name, t));
    for (size_t i = 0; i < c.best_params.size(); ++i)
        f.tensors.push_back(named("best/" + g.params[i].name, c.best_params[i]));
    json meta = {{"checkpoint_version", checkpoint_version},
                 {"epochs_done", c.epochs_done},
                 {"options", c.options},
                 {"input_normalisation", c.normalisation.to_json()},
                 {"optimizer_step", c.optimizer_step},
                 {"schedule", c.schedule},
                 {"early_stopping", c.early_stopping},
                 {"has_best", !c.best_params.empty()},
                 {"history", history_json(c.history)},
                 {"images_seen", c.images_seen},
                 {"train_seconds", c.train_seconds}};
    f.meta_json = meta.dump();
    save_params(path, f);
}

Checkpoint load_checkpoint(const std::string& path, const ir::Graph& g) {
    ParamFile f = load_params(path);
    json meta;
    try {
        meta = json::parse(f.meta_json.empty() ? "{}" : f.meta_json);
    } catch (const json::exception& e) {
        throw DataError(path + ": metadata is not valid JSON: " + e.what());
    }
    if (!meta.is_object() || !meta.contains("checkpoint_version"))
        throw DataError(path +
                        " is a parameter file, not a training checkpoint (checkpoints are "
                        "written by train --checkpoint, by default <weights>.ckpt)");
    if (meta["checkpoint_version"] != checkpoint_version)
        throw DataError(path + ": checkpoint version " + meta["checkpoint_version"].dump() +
                        " is not supported (this program reads version " +
                        std::to_string(checkpoint_version) + ")");
    const bool has_best = meta.value("has_best", false);

    std::vector<std::pair<std::string, std::vector<int64_t>>> expected;
    for (const ir::Param& p : g.params)
        expected.emplace_back("param/" + p.name, storage_extents(p));
    for (const ir::Param& p : g.params)
        if (p.learnable)
            for (const char* k : {".state0", ".state1"})
                expected.emplace_back("optimizer/" + p.name + k, storage_extents(p));
    if (has_best)
        for (const ir::Param& p : g.params)
            expected.emplace_back("best/" + p.name, storage_extents(p));
    check_params_match(f, path, g.name, expected);

    std::map<std::string, const NamedTensor*> by_name;
    for (const NamedTensor& t : f.tensors) by_name[t.name] = &t;
    auto tensor = [&](const std::string& name) {
        const NamedTensor& nt = *by_name.at(name);
        Tensor t(nt.extents);
        std::copy(nt.data.begin(), nt.data.end(), t.values().begin());
        return t;
    };

    Checkpoint c;
    for (const ir::Param& p : g.params) c.params.push_back(tensor("param/" + p.name));
    for (const ir::Param& p : g.params)
        if (p.learnable)
            for (const char* k : {".state0", ".state1"})
                c.optimizer_tensors.emplace_back(p.name + k, tensor("optimizer/" + p.name + k));
    if (has_best)
        for (const ir::Param& p : g.params) c.best_params.push_back(tensor("best/" + p.name));
    try {
        auto integer = [&](const char* key) {
            if (!meta.contains(key) || !meta[key].is_number_integer() ||
                meta[key].get<int64_t>() < 0)
                throw std::invalid_argument(std::string("\"") + key +
                                            "\" must be a non-negative integer");
            return meta[key].get<int64_t>();
        };
        c.epochs_done = int(integer("epochs_done"));
        c.optimizer_step = integer("optimizer_step");
        c.images_seen = integer("images_seen");
        c.train_seconds = meta.value("train_seconds", 0.0);
        if (!meta.contains("options") || !meta["options"].is_object())
            throw std::invalid_argument("\"options\" must be an object");
        c.options = meta["options"];
        if (!meta.contains("input_normalisation"))
            throw std::invalid_argument("\"input_normalisation\" is missing");
        c.normalisation = InputNormalisation::from_json(meta["input_normalisation"]);
        c.schedule = meta.value("schedule", json());
        c.early_stopping = meta.value("early_stopping", json());
        c.history = history_of(meta.value("history", json::array()));
    } catch (const std::exception& e) {
        throw DataError(path + ": checkpoint metadata: " + e.what());
    }
    return c;
}

}  // namespace cnnc::runtime
