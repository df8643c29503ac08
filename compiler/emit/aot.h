// AOT emission: compiles the scheduled pipelines of a model into static libraries and headers.
#pragma once

#include <Halide.h>

#include <string>

#include "compiler/ir/graph.h"

namespace cnnc::emit {

struct Artifacts {
    std::string out_dir;  // files land here, named <model>_infer.{a,h}, <model>_train_step.{a,h}
    Halide::Target target;
};

// Function names inside the libraries: <model>_infer and <model>_train_step.
std::string inference_function(const ir::Graph& graph);
std::string train_step_function(const ir::Graph& graph);

// The model's libraries leave out the Halide runtime: every program links the one runtime
// library emit_optimizers writes (and `export` merges it into the standalone library).
void emit_inference(const ir::Graph& graph, const Artifacts& a);
void emit_train_step(const ir::Graph& graph, const Artifacts& a);

// cnnc_update_<optimizer>.{a,h} for every optimizer, and cnnc_halide_runtime.a.
void emit_optimizers(const Artifacts& a);

// Lowered Halide statements of the scheduled pipelines, for --emit=stmt.
std::string inference_stmt(const ir::Graph& graph, const Halide::Target& target);
std::string train_step_stmt(const ir::Graph& graph, const Halide::Target& target);

// The schedule of the training step as the autoscheduler wrote it, for --emit=schedule.
std::string train_step_schedule(const ir::Graph& graph, const Halide::Target& target);

}  // namespace cnnc::emit
