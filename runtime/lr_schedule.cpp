// Learning-rate schedules: spec parsing, torch.optim.lr_scheduler's formulas, plateau state.
#include "runtime/lr_schedule.h"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <numbers>
#include <stdexcept>
#include <vector>

namespace cnnc::runtime {
namespace {

// torch.optim.lr_scheduler.ReduceLROnPlateau's default eps: reductions smaller than this are
// skipped, which also ends all later ones (the rate no longer changes).
constexpr double plateau_eps = 1e-8;

struct Item {
    std::string_view key, value;
    bool has_value = false;
};

[[noreturn]] void fail(std::string_view spec, const std::string& what) {
    throw std::invalid_argument("learning-rate schedule \"" + std::string(spec) + "\": " + what);
}

// "a=1,b=2" -> items, rejecting empty items and repeated keys.
std::vector<Item> split_items(std::string_view spec, std::string_view list) {
    std::vector<Item> items;
    size_t start = 0;
    while (true) {
        size_t comma = list.find(',', start);
        std::string_view text = list.substr(start, comma == list.npos ? list.npos : comma - start);
        if (text.empty()) fail(spec, "empty option (stray ',' or nothing after ':')");
        Item item;
        size_t eq = text.find('=');
        item.key = text.substr(0, eq);
        if (eq != text.npos) {
            item.value = text.substr(eq + 1);
            item.has_value = true;
        }
        for (const Item& seen : items)
            if (seen.key == item.key) fail(spec, "option '" + std::string(item.key) + "' repeated");
        items.push_back(item);
        if (comma == list.npos) return items;
        start = comma + 1;
    }
}

// Built by appending: GCC 12 warns falsely (-Wrestrict) about "\"" + std::string(v) + "\"".
std::string quoted(std::string_view v) {
    std::string out = "\"";
    out.append(v);
    out += '"';
    return out;
}

double number(std::string_view spec, const Item& item) {
    if (!item.has_value) fail(spec, "option '" + std::string(item.key) + "' needs a value");
    double v = 0;
    auto [end, ec] = std::from_chars(item.value.data(), item.value.data() + item.value.size(), v);
    if (ec != std::errc() || end != item.value.data() + item.value.size() || !std::isfinite(v))
        fail(spec, std::string(item.key) + " must be a number, got " + quoted(item.value));
    return v;
}

int integer(std::string_view spec, const Item& item) {
    if (!item.has_value) fail(spec, "option '" + std::string(item.key) + "' needs a value");
    int v = 0;
    auto [end, ec] = std::from_chars(item.value.data(), item.value.data() + item.value.size(), v);
    if (ec != std::errc() || end != item.value.data() + item.value.size())
        fail(spec, std::string(item.key) + " must be an integer, got " + quoted(item.value));
    return v;
}

void require(bool ok, std::string_view spec, const Item& item, const std::string& rule) {
    if (!ok) fail(spec, std::string(item.key) + " must be " + rule + ", got " + quoted(item.value));
}

// Shortest text that reads back as the same double, so spec() round-trips through parse().
std::string number_text(double v) {
    char buf[32];
    auto [end, ec] = std::to_chars(buf, buf + sizeof buf, v);
    return std::string(buf, ec == std::errc() ? end : buf);
}

const char* kind_name(LrSchedule::Kind k) {
    switch (k) {
        case LrSchedule::Kind::constant:
            return "constant";
        case LrSchedule::Kind::step:
            return "step";
        case LrSchedule::Kind::exponential:
            return "exponential";
        case LrSchedule::Kind::cosine:
            return "cosine";
        case LrSchedule::Kind::plateau:
            return "plateau";
    }
    return "?";
}

}  // namespace

LrSchedule LrSchedule::parse(std::string_view spec) {
    size_t colon = spec.find(':');
    std::string_view name = spec.substr(0, colon);
    LrSchedule s;
    const char* keys = "";
    if (name == "constant") {
        s.kind = Kind::constant;
    } else if (name == "step") {
        s.kind = Kind::step;
        keys = "every, gamma";
    } else if (name == "exponential") {
        s.kind = Kind::exponential;
        keys = "gamma";
    } else if (name == "cosine") {
        s.kind = Kind::cosine;
        keys = "epochs, min";
    } else if (name == "plateau") {
        s.kind = Kind::plateau;
        keys = "factor, patience, threshold, cooldown, min";
    } else {
        fail(spec, "unknown schedule " + quoted(name) +
                       " (expected constant, step, exponential, cosine or plateau)");
    }
    std::vector<Item> items;
    if (colon != spec.npos) items = split_items(spec, spec.substr(colon + 1));

    bool has_every = false, has_gamma = false, has_epochs = false;
    for (const Item& item : items) {
        const std::string_view k = item.key;
        if (s.kind == Kind::step && k == "every") {
            s.every = integer(spec, item);
            require(s.every >= 1, spec, item, "an integer >= 1");
            has_every = true;
        } else if ((s.kind == Kind::step || s.kind == Kind::exponential) && k == "gamma") {
            s.gamma = number(spec, item);
            require(s.gamma > 0, spec, item, "> 0");
            has_gamma = true;
        } else if (s.kind == Kind::cosine && k == "epochs") {
            s.epochs = integer(spec, item);
            require(s.epochs >= 1, spec, item, "an integer >= 1");
            has_epochs = true;
        } else if ((s.kind == Kind::cosine || s.kind == Kind::plateau) && k == "min") {
            s.min_rate = number(spec, item);
            require(s.min_rate >= 0, spec, item, ">= 0");
        } else if (s.kind == Kind::plateau && k == "factor") {
            s.factor = number(spec, item);
            require(s.factor > 0 && s.factor < 1, spec, item, "in (0, 1)");
        } else if (s.kind == Kind::plateau && k == "patience") {
            s.patience = integer(spec, item);
            require(s.patience >= 0, spec, item, "an integer >= 0");
        } else if (s.kind == Kind::plateau && k == "threshold") {
            s.threshold = number(spec, item);
            require(s.threshold >= 0 && s.threshold < 1, spec, item, "in [0, 1)");
        } else if (s.kind == Kind::plateau && k == "cooldown") {
            s.cooldown = integer(spec, item);
            require(s.cooldown >= 0, spec, item, "an integer >= 0");
        } else {
            fail(spec, "unknown option " + quoted(k) + " for schedule '" + std::string(name) +
                           "' (" + (*keys ? std::string("options: ") + keys : "it takes none") +
                           ")");
        }
    }
    // No defaults where torch has none: a step or cosine length is the whole point of the spec.
    if (s.kind == Kind::step && !has_every) fail(spec, "schedule 'step' needs every=EPOCHS");
    if (s.kind == Kind::exponential && !has_gamma)
        fail(spec, "schedule 'exponential' needs gamma=FACTOR");
    if (s.kind == Kind::cosine && !has_epochs) fail(spec, "schedule 'cosine' needs epochs=EPOCHS");
    return s;
}

std::string LrSchedule::spec() const {
    std::string s = kind_name(kind);
    switch (kind) {
        case Kind::constant:
            break;
        case Kind::step:
            s += ":every=" + std::to_string(every) + ",gamma=" + number_text(gamma);
            break;
        case Kind::exponential:
            s += ":gamma=" + number_text(gamma);
            break;
        case Kind::cosine:
            s += ":epochs=" + std::to_string(epochs) + ",min=" + number_text(min_rate);
            break;
        case Kind::plateau:
            s += ":factor=" + number_text(factor) + ",patience=" + std::to_string(patience) +
                 ",threshold=" + number_text(threshold) + ",cooldown=" + std::to_string(cooldown) +
                 ",min=" + number_text(min_rate);
            break;
    }
    return s;
}

double LrSchedule::rate(int epoch, double base_lr) const {
    if (epoch < 0)
        throw std::invalid_argument("learning-rate schedule: epoch must be >= 0, got " +
                                    std::to_string(epoch));
    // The fields are public, so a schedule built without parse() may hold a zero period.
    if ((kind == Kind::step && every < 1) || (kind == Kind::cosine && epochs < 1))
        throw std::invalid_argument("learning-rate schedule \"" + spec() + "\": " +
                                    (kind == Kind::step ? "every" : "epochs") + " must be >= 1");
    switch (kind) {
        case Kind::constant:
            return base_lr;
        case Kind::step:
            return base_lr * std::pow(gamma, double(epoch / every));
        case Kind::exponential:
            return base_lr * std::pow(gamma, double(epoch));
        case Kind::cosine:
            return min_rate + (base_lr - min_rate) *
                                  (1 + std::cos(std::numbers::pi * double(epoch) / epochs)) / 2;
        case Kind::plateau: {
            // Replaying the reductions keeps the state independent of base_lr, and repeats
            // torch's arithmetic step by step (including its eps cut-off) rather than a closed
            // form that could differ in the last bit.
            double lr = base_lr;
            for (int i = 0; i < reductions_; ++i) {
                double next = std::max(lr * factor, min_rate);
                if (lr - next <= plateau_eps) break;
                lr = next;
            }
            return lr;
        }
    }
    return base_lr;
}

void LrSchedule::observe(double validation_loss) {
    if (kind != Kind::plateau) return;
    // torch: is_better for mode "min", threshold_mode "rel"; NaN never compares better.
    if (validation_loss < best_ * (1 - threshold)) {
        best_ = validation_loss;
        bad_epochs_ = 0;
    } else {
        ++bad_epochs_;
    }
    if (cooldown_left_ > 0) {
        --cooldown_left_;
        bad_epochs_ = 0;
    }
    if (bad_epochs_ > patience) {
        ++reductions_;
        cooldown_left_ = cooldown;
        bad_epochs_ = 0;
    }
}

nlohmann::json LrSchedule::state() const {
    nlohmann::json j;
    j["schedule"] = spec();
    if (kind == Kind::plateau) {
        // JSON has no infinity: null stands for "nothing observed yet" (torch's best = inf).
        j["best"] = std::isinf(best_) ? nlohmann::json(nullptr) : nlohmann::json(best_);
        j["bad_epochs"] = bad_epochs_;
        j["cooldown_left"] = cooldown_left_;
        j["reductions"] = reductions_;
    }
    return j;
}

void LrSchedule::restore(const nlohmann::json& state) {
    auto bad = [](const std::string& what) {
        throw std::invalid_argument("learning-rate schedule state: " + what);
    };
    if (!state.is_object()) bad("expected a JSON object, got " + state.dump());
    auto it = state.find("schedule");
    if (it == state.end() || !it->is_string()) bad("missing \"schedule\"");
    if (it->get<std::string>() != spec())
        bad("saved for schedule \"" + it->get<std::string>() + "\", not for \"" + spec() + "\"");
    if (kind != Kind::plateau) return;

    auto count = [&](const char* key) {
        auto f = state.find(key);
        if (f == state.end() || !f->is_number_integer() || f->get<int64_t>() < 0 ||
            f->get<int64_t>() > std::numeric_limits<int>::max())
            bad(std::string("\"") + key + "\" must be a non-negative integer, got " +
                (f == state.end() ? std::string("nothing") : f->dump()));
        return f->get<int>();
    };
    auto b = state.find("best");
    if (b == state.end() || !(b->is_null() || b->is_number()))
        bad("\"best\" must be a number or null, got " +
            (b == state.end() ? std::string("nothing") : b->dump()));
    // Parse everything before assigning anything, so a failed restore leaves *this unchanged.
    double best = b->is_null() ? std::numeric_limits<double>::infinity() : b->get<double>();
    int bad_epochs = count("bad_epochs"), cooldown_left = count("cooldown_left"),
        reductions = count("reductions");
    best_ = best;
    bad_epochs_ = bad_epochs;
    cooldown_left_ = cooldown_left;
    reductions_ = reductions;
}

}  // namespace cnnc::runtime
