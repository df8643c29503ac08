// Autotuning of the inference kernels' schedule templates, measured on this machine.
#pragma once

#include <ostream>
#include <string>

#include "compiler/ir/graph.h"

namespace cnnc::tune {

struct TuneOptions {
    std::string target = "host";  // a Halide target this CPU runs, or "host"
    double budget_seconds = 600;  // wall-clock time for the whole run, end-to-end check included
    std::string records_dir;      // where records go: <records_dir>/<target>/<op>-<hash>.txt
    // A candidate replaces the default only when its median time is below (1 - margin) times the
    // default's, both measured again at the end of the layer, interleaved.
    double margin = 0.03;
    bool progress_bar = false;  // redraw one line (a terminal), else one line per event
    // > 0: the training step's kernels too (forward, loss, backward), timed at this batch, with
    // half the budget.
    int training_batch = 0;
    // No search: the records already in records_dir against the defaults, end to end (what a
    // build with those records gains), measured as a tuning run measures its result.
    bool check_only = false;
    // > 0: each kernel's first this many candidates at most, in its template's order, the kernel
    // counting as decided once they are measured: a quick run, or one that must decide every
    // kernel within a short budget (the tuning test's).
    int max_candidates = 0;
};

struct TuneResult {
    std::string target;
    int layers = 0;           // distinct tunable layers of the model
    int layers_tuned = 0;     // finished: every candidate measured, or the layer's time used
    int layers_improved = 0;  // a record with other than the default parameters
    int records_written = 0;
    int candidates_measured = 0;  // in this run (the journal's earlier measurements not counted)
    double default_ms = 0, tuned_ms = 0;  // the whole inference at batch 1, measured in this run
    double train_default_ms = 0, train_tuned_ms = 0;  // a whole training step, if tuned
    double seconds = 0;
};

// Searches each distinct layer's template parameters (and, with training_batch, each training
// kernel's: schedules/cpu/training.cpp) (schedules/cpu/templates.h, candidates())
// by compiling and timing the kernel that holds it at batch 1, most expensive layers first, each
// given a share of the budget in proportion to its time. Every measurement is appended to a
// journal beside the records, so a run that is interrupted (Ctrl-C, kill) and started again
// measures nothing twice; each layer's record is written (atomically) as soon as it is decided.
// Throws if the target cannot run here (e.g. CUDA without a device).
TuneResult tune_inference(const ir::Graph& graph, const TuneOptions& options, std::ostream& log);

}  // namespace cnnc::tune
