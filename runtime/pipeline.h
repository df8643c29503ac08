// Calling an AOT-compiled Halide pipeline through its generic argv entry point.
#pragma once

#include <HalideRuntime.h>

#include <string>
#include <vector>

#include "runtime/layout.h"
#include "runtime/plan.h"

namespace cnnc::runtime {

// The two symbols Halide generates for every pipeline, <fn>_argv and <fn>_metadata, and for an
// inference plan the plan it runs (<model>_infer_plan).
struct PipelineEntry {
    int (*call)(void** args) = nullptr;
    const halide_filter_metadata_t* (*metadata)() = nullptr;
    const cnnc_plan* (*plan)() = nullptr;
};

// An inference plan's parameters with the weights its kernels read packed packed once
// (runtime/plan.h), for parameters that stay as they are while this object lives. Where the
// entry has no plan, or its plan packs nothing, `run` calls the entry as invoke does.
class PreparedParams {
public:
    PreparedParams(const PipelineEntry& infer, std::vector<halide_buffer_t*> params);
    ~PreparedParams();
    PreparedParams(const PreparedParams&) = delete;
    PreparedParams& operator=(const PreparedParams&) = delete;

    // Inference on `images` into `output`; throws as invoke does.
    void run(halide_buffer_t* images, halide_buffer_t* output) const;

private:
    PipelineEntry infer_;
    std::vector<halide_buffer_t*> params_;
    void* memory_ = nullptr;                // the packed weights, their views
    halide_buffer_t** prepared_ = nullptr;  // the plan's parameters, packed ones last
};

// Calls the pipeline with buffers and scalar pointers in its declared order. Checks the argument
// count against the metadata and turns a pipeline error into std::runtime_error with Halide's
// message (e.g. a buffer of the wrong size, naming the buffer).
void invoke(const PipelineEntry& entry, std::vector<void*> args);

// A ParallelFor on the Halide runtime's thread pool, the threads the pipelines themselves run on
// (HL_NUM_THREADS of them): work around a pipeline call takes no threads of its own. The body
// must not throw.
void on_pipeline_threads(int64_t count, const TaskBody& body);

// As on_pipeline_threads, but a pipeline called from inside the body runs its parallel loops as
// plain loops on the calling thread: for independent parts of one job (the micro-batches of a
// training step), where the parts are the parallelism and a pipeline's own tasks would only add
// synchronisation. Pipelines called elsewhere, at the same time, are not affected.
void on_pipeline_threads_with_serial_pipelines(int64_t count, const TaskBody& body);

// The number of threads the pipelines run on: HL_NUM_THREADS where set (as the Halide runtime
// reads it), else the machine's cores.
int pipeline_threads();

}  // namespace cnnc::runtime
