// Looking up, by name, the Funcs a lowered op's Func calls (its taps, its sums, its padded input).
#pragma once

#include <Halide.h>

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

}  // namespace cnnc::schedules
