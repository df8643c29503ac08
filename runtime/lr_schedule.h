// LrSchedule: per-epoch learning-rate schedules (step, exponential, cosine, reduce-on-plateau).
#pragma once

#include <limits>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>

namespace cnnc::runtime {

// The formulas are those of torch.optim.lr_scheduler, so that a run can be compared with a
// PyTorch run epoch by epoch. `epoch` counts from 0 (torch's last_epoch after epoch - 1 calls of
// step()), so rate(0, base) == base for every schedule.
//
//   constant                                  base
//   step:every=S[,gamma=0.1]                  base * gamma^floor(epoch / S)              (StepLR)
//   exponential:gamma=G                       base * G^epoch                      (ExponentialLR)
//   cosine:epochs=T[,min=0]                   min + (base - min) * (1 + cos(pi * epoch / T)) / 2
//                                             (CosineAnnealingLR with T_max = T, eta_min = min;
//                                             like torch it rises again after epoch T)
//   plateau[:factor=0.1,patience=10,threshold=1e-4,cooldown=0,min=0]
//                                             ReduceLROnPlateau, mode "min", threshold_mode
//                                             "rel", eps 1e-8: observe() the validation loss
//                                             once per epoch; after more than `patience` epochs
//                                             without a loss below best * (1 - threshold) the
//                                             rate is multiplied by `factor` (never below min)
//
// Only reduce-on-plateau has state; it is small and goes into checkpoints through state() and
// restore(), so a resumed run takes exactly the rates an uninterrupted one would have.
struct LrSchedule {
    enum class Kind { constant, step, exponential, cosine, plateau };

    Kind kind = Kind::constant;
    int every = 1;            // step: epochs between decays
    double gamma = 0.1;       // step, exponential: decay factor
    int epochs = 1;           // cosine: T_max
    double factor = 0.1;      // plateau: multiplier on a reduction
    int patience = 10;        // plateau: bad epochs tolerated before a reduction
    double threshold = 1e-4;  // plateau: relative improvement that counts
    int cooldown = 0;         // plateau: epochs after a reduction during which nothing counts
    double min_rate = 0;      // cosine: eta_min; plateau: min_lr

    // Parses a spec as in the table above, e.g. "step:every=10,gamma=0.1". Throws
    // std::invalid_argument naming the schedule, the key or the value that is wrong: an unknown
    // schedule or key, a repeated or missing key, a value that is not a number or out of range.
    static LrSchedule parse(std::string_view spec);

    // The canonical spec, every key spelt out (parse(s.spec()) gives s back); for logs and state.
    std::string spec() const;

    // True for reduce-on-plateau: the caller must observe() a validation loss every epoch.
    bool uses_validation_loss() const { return kind == Kind::plateau; }

    // The learning rate for `epoch` (0-based) of a run whose initial rate is `base_lr`. For
    // plateau the epoch does not matter: the rate reflects the losses observed so far. Throws
    // std::invalid_argument for a negative epoch.
    double rate(int epoch, double base_lr) const;

    // Records the validation loss at the end of an epoch (torch's scheduler.step(loss)). A NaN
    // loss counts as an epoch without improvement. Does nothing for the other schedules, so a
    // training loop may call it unconditionally.
    void observe(double validation_loss);

    // Reduce-on-plateau's progress, tagged with spec(). restore() throws std::invalid_argument
    // when the state was saved for another schedule or a field is missing or malformed.
    nlohmann::json state() const;
    void restore(const nlohmann::json& state);

private:
    double best_ = std::numeric_limits<double>::infinity();  // lowest loss so far, as in torch
    int bad_epochs_ = 0;
    int cooldown_left_ = 0;
    int reductions_ = 0;  // rate() replays them from base_lr
};

}  // namespace cnnc::runtime
