// Calling an AOT-compiled Halide pipeline through its generic argv entry point.
#pragma once

#include <HalideRuntime.h>

#include <string>
#include <vector>

namespace cnnc::runtime {

// The two symbols Halide generates for every pipeline: <fn>_argv and <fn>_metadata.
struct PipelineEntry {
    int (*call)(void** args) = nullptr;
    const halide_filter_metadata_t* (*metadata)() = nullptr;
};

// Calls the pipeline with buffers and scalar pointers in its declared order. Checks the argument
// count against the metadata and turns a pipeline error into std::runtime_error with Halide's
// message (e.g. a buffer of the wrong size, naming the buffer).
void invoke(const PipelineEntry& entry, std::vector<void*> args);

}  // namespace cnnc::runtime
