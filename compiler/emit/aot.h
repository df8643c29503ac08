// AOT emission: compiles the scheduled pipelines of a model into static libraries and headers.
#pragma once

#include <Halide.h>

#include <string>

#include "compiler/ir/graph.h"
#include "compiler/passes/partition.h"

namespace cnnc::emit {

struct Artifacts {
    // Files land here: <model>_kernels.{a,h}, <model>_plan.c, <model>_infer.h,
    // <model>_train_kernels.{a,h}, <model>_train_plan.c and <model>_train_step.h.
    std::string out_dir;
    Halide::Target target;
    std::string records_dir;  // tuned schedule records (schedules/records.h); "" for none
};

// Function names inside the libraries: <model>_infer (in the plan) and <model>_train_step.
std::string inference_function(const ir::Graph& graph);
// The library of inference kernels, <model>_kernels, each kernel <model>_k<i>.
std::string kernels_library(const ir::Graph& graph);
std::string train_step_function(const ir::Graph& graph);
// The library of the training step's kernels, <model>_train_kernels (autodiff/train_kernels.h).
std::string train_kernels_library(const ir::Graph& graph);

// The model's libraries leave out the Halide runtime: every program links the one runtime
// library emit_optimizers writes (and `export` merges it into the standalone library).
void emit_inference(const ir::Graph& graph, const Artifacts& a);
void emit_train_step(const ir::Graph& graph, const Artifacts& a);

// One target variant of an exported library: the inference kernels, named
// lower::kernel_name + suffix, written to the static library `library` (no Halide runtime);
// fixed_batch > 0 fixes their batch extent. Returns the partition their plan follows.
passes::Partition emit_inference_variant(const ir::Graph& graph, const Halide::Target& target,
                                         const std::string& suffix, int fixed_batch,
                                         const std::string& library,
                                         const std::string& records_dir);

// cnnc_update_<optimizer>.{a,h} for every optimizer, and cnnc_halide_runtime.a.
void emit_optimizers(const Artifacts& a);

// The inference plan's C source and the training step's calls, for --emit=plan.
std::string inference_plan(const ir::Graph& graph, const Halide::Target& target);
std::string train_step_plan(const ir::Graph& graph);

// Lowered Halide statements of the scheduled pipelines (inference: its kernels), for --emit=stmt.
std::string inference_stmt(const ir::Graph& graph, const Halide::Target& target,
                           const std::string& records_dir = "");
std::string train_step_stmt(const ir::Graph& graph, const Halide::Target& target);

// What the training schedule chose for each stage of each kernel, for --emit=schedule.
std::string train_step_schedule(const ir::Graph& graph, const Halide::Target& target);

}  // namespace cnnc::emit
