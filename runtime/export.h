// `export`: a standalone static library and C header with the trained weights embedded.
#pragma once

#include <string>

#include "runtime/model_state.h"

namespace cnnc::runtime {

struct ExportInputs {
    std::string generated_dir;      // holds <model>_infer.a and <model>.h from the build
    std::string standalone_object;  // the compiled C API wrapper (<model>_standalone.c)
    std::string halide_runtime;     // cnnc_halide_runtime.a
};

// Writes <out_dir>/lib<model>.a (inference pipeline + Halide runtime + C API + weights) and
// <out_dir>/<model>.h. Uses the system's `cc` to assemble the weights and `ar` to combine.
// Returns the library's path.
std::string export_library(const ModelState& state, const ExportInputs& in,
                           const std::string& out_dir);

}  // namespace cnnc::runtime
