// Building an exported library: kernels per target, plans, C API, weights, one archive.
#pragma once

#include <string>
#include <vector>

#include "compiler/ir/graph.h"

namespace cnnc::emit {

struct LibraryRequest {
    std::string out_dir;  // gets lib<model>.a, <model>.h, <model>-config.cmake, <model>.weights
    std::vector<std::string> targets;  // Halide target strings; "host" is this machine
    std::string weights_file;          // runtime/library/weights_format.h, written by `export`
    bool embed_weights = true;
    int fixed_batch = 0;  // > 0: the library runs exactly this batch
    int max_batch = 64;   // otherwise any batch up to this
    std::string records_dir;  // tuned schedule records; each variant uses its target's
};

// Where the C compiler finds cnnc's runtime sources and Halide's runtime header, and the tools
// (the build fills these in; tests may point them elsewhere).
struct Toolchain {
    std::string source_dir;      // the repository root: runtime/plan.c, runtime/library/
    std::string halide_include;  // the folder of HalideRuntime.h
    std::string clang = "clang-14";
    std::string llvm_ar = "llvm-ar-14";
};

struct LibraryFiles {
    std::string library, header, weights;  // weights: "" when embedded
};

// Checks the request (targets that share architecture, OS and bits; a fixed batch within
// range; no GPU features) and builds the library. Nothing in out_dir changes unless every step
// succeeds; errors name the target or file at fault.
LibraryFiles export_library(const ir::Graph& graph, const LibraryRequest& request,
                            const Toolchain& tools);

}  // namespace cnnc::emit
