// EarlyStopping: ends training once the validation metric stops improving for `patience` epochs.
#pragma once

#include <nlohmann/json.hpp>

namespace cnnc::runtime {

// Keras' EarlyStopping for a metric where higher is better (validation accuracy): an epoch
// improves when its metric exceeds the best so far by more than min_delta; training should stop
// once `patience` epochs in a row have not improved. The first finite metric always improves;
// a NaN metric never does.
class EarlyStopping {
public:
    // Throws std::invalid_argument naming the value for patience < 1 (0 would stop before the
    // first improvement could be seen) or a negative or non-finite min_delta.
    EarlyStopping(int patience, double min_delta);

    // Records one epoch's metric; true when it is a new best, i.e. when the caller should keep
    // this epoch's weights.
    bool improved(double validation_metric);
    bool should_stop() const { return epochs_without_improvement_ >= patience_; }

    // 0-based index of the improved() call that set best(); -1 before any improvement.
    int best_epoch() const { return best_epoch_; }
    // The best metric so far; NaN before any improvement.
    double best() const { return best_; }
    int epochs_seen() const { return epochs_seen_; }
    int epochs_without_improvement() const { return epochs_without_improvement_; }
    int patience() const { return patience_; }
    double min_delta() const { return min_delta_; }

    // The progress so far, for checkpoints. restore() keeps this object's patience and
    // min_delta, so a resumed run may be given more patience; it throws std::invalid_argument
    // naming the field when one is missing or malformed (and then changes nothing).
    nlohmann::json state() const;
    void restore(const nlohmann::json& state);

private:
    int patience_;
    double min_delta_;
    double best_;
    int best_epoch_ = -1;
    int epochs_seen_ = 0;
    int epochs_without_improvement_ = 0;
};

}  // namespace cnnc::runtime
