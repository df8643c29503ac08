// Looking up, by name, the Funcs a lowered op's Func calls (its taps, its sums, its padded input).
#pragma once

#include <Halide.h>

#include <cctype>
#include <optional>
#include <stdexcept>
#include <string>

#include "compiler/ir/graph.h"

namespace cnnc::schedules {

// A Func that `f` calls directly, by name (Halide renames a Func whose name is taken in the
// process, as in the JIT tests: "<name>$1").
inline std::optional<Halide::Func> called_func(const Halide::Func& f, const std::string& name) {
    for (const auto& [called, fn] : Halide::Internal::find_direct_calls(f.function()))
        if (called == name || called.rfind(name + "$", 0) == 0) return Halide::Func(fn);
    return std::nullopt;
}

// The Func that holds a convolution's sums: the convolution itself, or, with a batch norm folded
// in, the "<name>_sums" it scales (lower::conv2d).
inline Halide::Func accumulation(const Halide::Func& conv, const ir::Node& node) {
    if (conv.has_update_definition()) return conv;
    if (std::optional<Halide::Func> sums = called_func(conv, node.name + "_sums")) return *sums;
    throw std::logic_error("conv2d " + node.name + ": neither an update nor sums to schedule");
}

// The Func a training stage computes or differentiates: "conv2d_1_padded$1_0_d_def__" and
// "conv2d_1_weight_f_1_0_d_def__$1" -> "conv2d_1_padded", "conv2d_1_weight_f". Autodiff works on
// a copy of the pipeline whose Funcs may carry a "$<k>" suffix, and names a derivative
// "<name>_<update>_d_def__" with that "$" turned into "_". The graph's Func names all end in a
// word ("_out", "_padded", "_f", "input"), so every trailing "_<digits>" goes.
inline std::string base_name(const std::string& name) {
    std::string base = name.substr(0, name.find('$'));
    const size_t d = base.find("_d_def__");
    if (d == std::string::npos) return base;
    base.resize(d);
    for (;;) {
        const size_t u = base.rfind('_');
        if (u == std::string::npos || u + 1 == base.size()) return base;
        for (size_t i = u + 1; i < base.size(); ++i)
            if (!std::isdigit(static_cast<unsigned char>(base[i]))) return base;
        base.resize(u);
    }
}

}  // namespace cnnc::schedules
