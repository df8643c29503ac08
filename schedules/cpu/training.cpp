// The default CPU schedule of the training step: every stage of the forward pass, the generated
// backward pass and the loss computed once (compute_root), vectorized over its innermost pure
// dimension and parallel over its outermost one, in every update too.
#include <set>

#include "schedules/cpu/templates.h"
#include "schedules/schedule.h"

namespace cnnc::schedules {

using namespace Halide;

namespace {

// Pure dimensions of an update: the args that are the definition's own variables, in order.
std::vector<Var> pure_vars_of_update(const Func& f, int update) {
    std::vector<Var> out;
    std::vector<Var> defs = f.args();
    for (const Expr& e : f.update_args(update)) {
        const auto* v = e.as<Internal::Variable>();
        if (!v) continue;
        for (const Var& d : defs)
            if (d.name() == v->name) out.push_back(d);
    }
    return out;
}

// Vector lanes over the innermost pure dimension, with guards so that any extent works (the
// batch may be partial, channels may be few); tasks over the outermost.
void vectorize_and_parallelize(Stage s, const std::vector<Var>& pure, int lanes) {
    if (pure.empty()) return;
    Var inner = pure.front(), vi(inner.name() + "_vi");
    s.split(inner, inner, vi, lanes, TailStrategy::GuardWithIf).vectorize(vi);
    if (pure.size() > 1) s.parallel(pure.back());
}

// Copies of buffer inputs made for autodiff: cheaper read in place.
bool is_wrapper(const std::string& name) {
    auto ends_with = [&](const std::string& suffix) {
        return name.size() >= suffix.size() &&
               name.compare(name.size() - suffix.size(), suffix.size(), suffix) == 0;
    };
    return ends_with("_f") || name == "input";
}

}  // namespace

std::string schedule_training_stages(const std::vector<Func>& outputs, const Target& target) {
    std::map<std::string, Internal::Function> stages;
    for (const Func& out : outputs) {
        stages.emplace(out.name(), out.function());
        for (const auto& [name, fn] : Internal::find_transitive_calls(out.function()))
            stages.emplace(name, fn);
    }
    const int lanes = cpu::float_lanes(target);
    std::string log;
    for (auto& [name, fn] : stages) {
        Func f(fn);
        if (is_wrapper(name) && !f.has_update_definition()) {
            f.compute_inline();
            log += name + ": inline\n";
            continue;
        }
        f.compute_root();
        vectorize_and_parallelize(f, f.args(), lanes);
        for (int u = 0; u < f.num_update_definitions(); ++u)
            vectorize_and_parallelize(f.update(u), pure_vars_of_update(f, u), lanes);
        log += name + ": compute_root, vectorize innermost pure dimension, parallel outermost\n";
    }
    return log;
}

}  // namespace cnnc::schedules
