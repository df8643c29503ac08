// EarlyStopping: best-metric tracking, the stop rule and its checkpoint state.
#include "runtime/early_stopping.h"

#include <cmath>
#include <cstdio>
#include <limits>
#include <stdexcept>
#include <string>

namespace cnnc::runtime {
namespace {

std::string number_text(double v) {
    char buf[32];
    std::snprintf(buf, sizeof buf, "%g", v);
    return buf;
}

}  // namespace

EarlyStopping::EarlyStopping(int patience, double min_delta)
    : patience_(patience), min_delta_(min_delta), best_(std::numeric_limits<double>::quiet_NaN()) {
    if (patience < 1)
        throw std::invalid_argument("early stopping: patience must be >= 1, got " +
                                    std::to_string(patience));
    if (!(min_delta >= 0) || !std::isfinite(min_delta))
        throw std::invalid_argument("early stopping: min_delta must be a finite number >= 0, got " +
                                    number_text(min_delta));
}

bool EarlyStopping::improved(double validation_metric) {
    const int epoch = epochs_seen_++;
    // NaN compares false both ways, so a NaN metric never improves and a NaN best (nothing seen
    // yet) is replaced by the first finite metric.
    bool better = std::isfinite(validation_metric) &&
                  (best_epoch_ < 0 || validation_metric - min_delta_ > best_);
    if (better) {
        best_ = validation_metric;
        best_epoch_ = epoch;
        epochs_without_improvement_ = 0;
    } else {
        ++epochs_without_improvement_;
    }
    return better;
}

nlohmann::json EarlyStopping::state() const {
    nlohmann::json j;
    j["best"] = best_epoch_ < 0 ? nlohmann::json(nullptr) : nlohmann::json(best_);
    j["best_epoch"] = best_epoch_;
    j["epochs_seen"] = epochs_seen_;
    j["epochs_without_improvement"] = epochs_without_improvement_;
    return j;
}

void EarlyStopping::restore(const nlohmann::json& state) {
    auto bad = [](const std::string& what) {
        throw std::invalid_argument("early stopping state: " + what);
    };
    if (!state.is_object()) bad("expected a JSON object, got " + state.dump());
    auto integer = [&](const char* key, int64_t lowest) {
        auto f = state.find(key);
        if (f == state.end() || !f->is_number_integer() || f->get<int64_t>() < lowest ||
            f->get<int64_t>() > std::numeric_limits<int>::max())
            bad(std::string("\"") + key + "\" must be an integer >= " + std::to_string(lowest) +
                ", got " + (f == state.end() ? std::string("nothing") : f->dump()));
        return f->get<int>();
    };
    int best_epoch = integer("best_epoch", -1), epochs_seen = integer("epochs_seen", 0),
        without = integer("epochs_without_improvement", 0);
    auto b = state.find("best");
    if (b == state.end() || !(b->is_null() || b->is_number()))
        bad("\"best\" must be a number or null, got " +
            (b == state.end() ? std::string("nothing") : b->dump()));
    // The fields must tell one consistent story, or should_stop() would act on nonsense.
    if (b->is_null() != (best_epoch < 0))
        bad("\"best\" is " + b->dump() + " but \"best_epoch\" is " + std::to_string(best_epoch));
    if (best_epoch >= epochs_seen ||
        without != (best_epoch < 0 ? epochs_seen : epochs_seen - 1 - best_epoch))
        bad("inconsistent counts: best_epoch " + std::to_string(best_epoch) + ", epochs_seen " +
            std::to_string(epochs_seen) + ", epochs_without_improvement " +
            std::to_string(without));
    best_ = b->is_null() ? std::numeric_limits<double>::quiet_NaN() : b->get<double>();
    best_epoch_ = best_epoch;
    epochs_seen_ = epochs_seen;
    epochs_without_improvement_ = without;
}

}  // namespace cnnc::runtime
