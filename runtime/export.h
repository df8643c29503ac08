// `export`: a standalone static library and C header, for any targets, weights embedded or not.
#pragma once

#include <string>
#include <vector>

#include "runtime/model_state.h"

namespace cnnc::runtime {

struct ExportOptions {
    std::string out_dir;
    std::vector<std::string> targets{"host"};  // Halide target strings, one library variant each
    bool external_weights = false;             // <model>.weights beside the library
    int batch = 0;                             // > 0: a library of this fixed batch
    int max_batch = 64;                        // otherwise: any batch up to this
    std::string records_dir;                   // tuned schedule records to compile with
};

struct ExportedFiles {
    std::string library, header, weights;  // weights: "" when embedded
};

// Writes the weights file (runtime/library/weights_format.h) of the state, then runs the
// model's compiler program to build lib<model>.a and <model>.h around it in out_dir.
ExportedFiles export_library(const ModelState& state, const std::string& compiler,
                             const ExportOptions& options);

// Runs the model's compiler program with `args` (each passed as one word), its output going to
// this program's; returns its exit status.
int run_model_compiler(const std::string& compiler, const std::vector<std::string>& args);

// The weights file of a state: header (with the model's fingerprint and the input
// normalisation) and every parameter.
void write_weights_file(const ModelState& state, const std::string& path);

}  // namespace cnnc::runtime
