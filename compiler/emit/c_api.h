// Emission of an exported library's C API: the public header and the model's description in C.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "compiler/ir/graph.h"

namespace cnnc::emit {

// One compiled variant of the library: its Halide target and the feature bits its kernels use.
struct LibraryVariant {
    std::string target;
    std::string suffix;              // of its kernels' and plan's symbols: "_v0", "_v1", ...
    std::vector<uint64_t> features;  // halide_target_feature_t bits
    int feature_count = 0;
};

// What the header promises: everything here is fixed when the library is exported.
struct LibraryInterface {
    std::vector<LibraryVariant> variants;
    int fixed_batch = 0;  // > 0: every call runs exactly this batch
    int max_batch = 0;    // the largest batch a call may run
    bool embedded_weights = true;
    int64_t arena_floats = 0;  // activations between kernels, per image
};

// <model>.h: plain C, no Halide types; constants for shapes, sizes and memory, and the context
// API (create, run, error, destroy).
std::string library_header(const ir::Graph& graph, const LibraryInterface& interface);

// <model>_library.c: the model's description for runtime/library/cnnc_library.c (parameter
// table, variants, weights) and the API functions of the header forwarding to it.
std::string library_source(const ir::Graph& graph, const LibraryInterface& interface);

// <model>-config.cmake: the library as the imported CMake target <model>::<model>.
std::string library_cmake_config(const ir::Graph& graph, const LibraryInterface& interface);

// The symbol the embedded weights file is assembled under.
std::string weights_symbol(const ir::Graph& graph);

}  // namespace cnnc::emit
