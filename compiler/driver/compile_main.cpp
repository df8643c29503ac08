// The model compiler: runs a DSL model through every stage and writes its libraries, or dumps one
// stage with --emit. Linked with the model's source, which defines cnnc_build_model().
#include <CLI/CLI.hpp>

#include <malloc.h>
#include <unistd.h>

#include <cstdio>
#include <iostream>

#include "compiler/emit/aot.h"
#include "compiler/emit/library.h"
#include "compiler/tune/tuner.h"
#include "compiler/passes/shape_inference.h"
#include "compiler/passes/summary.h"
#include "dsl/dsl.h"

namespace {

int run(int argc, char** argv) {
    CLI::App app{"cnnc model compiler"};
    std::string out_dir = ".", target_name = "host", emit, pipeline = "infer", pipelines = "all";
    std::string records_dir;
    app.add_option("--out-dir", out_dir, "where the libraries and headers are written");
    app.add_option("--target", target_name, "Halide target, e.g. host, x86-64-linux-avx2");
    app.add_option("--emit", emit, "print one stage instead of compiling")
        ->check(CLI::IsMember({"graph", "shapes", "plan", "stmt", "schedule"}));
    app.add_option("--pipeline", pipeline, "pipeline for --emit=plan and --emit=stmt")
        ->check(CLI::IsMember({"infer", "train"}));
    app.add_option("--pipelines", pipelines,
                   "libraries to compile: all (inference, and the training step when the model "
                   "has a loss) or infer (the inference library only)")
        ->check(CLI::IsMember({"all", "infer"}));
    cnnc::emit::LibraryRequest library;
    std::string targets;
    auto* export_opt = app.add_option("--export", library.out_dir,
                                      "build a standalone library into this folder (called by "
                                      "`<model> export`, which writes the weights file)");
    app.add_option("--weights-file", library.weights_file, "--export: the weights file")
        ->needs(export_opt);
    app.add_option("--targets", targets, "--export: comma-separated Halide targets")
        ->needs(export_opt);
    app.add_option("--batch", library.fixed_batch, "--export: a fixed batch (0: variable)")
        ->needs(export_opt);
    app.add_option("--max-batch", library.max_batch, "--export: the largest variable batch")
        ->needs(export_opt);
    app.add_flag("!--external-weights", library.embed_weights,
                 "--export: weights stay in a file beside the library")
        ->needs(export_opt);
    cnnc::tune::TuneOptions tuning;
    bool tune_json = false, run_tune = false;
    auto* tune_opt = app.add_flag("--tune", run_tune,
                                  "tune the inference kernels' schedules (called by "
                                  "`<model> tune`)");
    app.add_option("--budget", tuning.budget_seconds, "--tune: seconds")->needs(tune_opt);
    app.add_option("--max-candidates", tuning.max_candidates,
                   "--tune: each kernel's first N candidates at most (0: all)")
        ->check(CLI::NonNegativeNumber)
        ->needs(tune_opt);
    app.add_flag("--json", tune_json, "--tune: end with one JSON line")->needs(tune_opt);
    app.add_option("--training-batch", tuning.training_batch,
                   "--tune: also the training step's kernels, at this batch")
        ->needs(tune_opt);
    app.add_flag("--check", tuning.check_only,
                 "--tune: no search; time the records in --records against the defaults")
        ->needs(tune_opt);
    app.add_option("--records", records_dir,
                   "tuned schedule records (read when compiling, written by --tune)");
    CLI11_PARSE(app, argc, argv);

    cnnc::ir::Graph graph = cnnc::passes::build_graph(cnnc_build_model());
    Halide::Target target(target_name == "host" ? Halide::get_host_target().to_string()
                                                : target_name);
    if (run_tune) {
        // As in the model programs (runtime/model_main.cpp): kernels' large scratch stays on the
        // heap between calls instead of fresh zeroed pages each call, which times as the
        // programs run and varies far less.
        mallopt(M_MMAP_THRESHOLD, 1 << 30);
        mallopt(M_TRIM_THRESHOLD, 1 << 30);
        tuning.target = target_name;
        tuning.records_dir = records_dir;
        tuning.progress_bar = isatty(2);
        if (records_dir.empty()) throw std::runtime_error("--tune needs --records DIR");
        cnnc::tune::TuneResult r = cnnc::tune::tune_inference(graph, tuning, std::cerr);
        const double speedup = r.default_ms / r.tuned_ms;
        std::printf("%s %s for %s in %.0f s: %d of %d kernels improved, %d records written in "
                    "%s; inference at batch 1 %.3f ms -> %.3f ms (%.2fx)",
                    tuning.check_only ? "checked the records of" : "tuned", graph.name.c_str(),
                    r.target.c_str(), r.seconds, r.layers_improved, r.layers,
                    r.records_written, records_dir.c_str(), r.default_ms, r.tuned_ms, speedup);
        if (r.train_tuned_ms > 0)
            std::printf("; training step at batch %d %.3f ms -> %.3f ms (%.2fx)",
                        tuning.training_batch, r.train_default_ms, r.train_tuned_ms,
                        r.train_default_ms / r.train_tuned_ms);
        std::printf("\n");
        if (tune_json) {
            std::printf("{\"model\": \"%s\", \"target\": \"%s\", \"layers\": %d, "
                        "\"layers_tuned\": %d, \"layers_improved\": %d, \"records_written\": %d, "
                        "\"candidates_measured\": %d, \"default_ms\": %.4f, \"tuned_ms\": %.4f, "
                        "\"speedup\": %.4f, \"seconds\": %.1f",
                        graph.name.c_str(), r.target.c_str(), r.layers, r.layers_tuned,
                        r.layers_improved, r.records_written, r.candidates_measured, r.default_ms,
                        r.tuned_ms, speedup, r.seconds);
            if (r.train_tuned_ms > 0)
                std::printf(", \"train_batch\": %d, \"train_default_ms\": %.4f, "
                            "\"train_tuned_ms\": %.4f, \"train_speedup\": %.4f",
                            tuning.training_batch, r.train_default_ms, r.train_tuned_ms,
                            r.train_default_ms / r.train_tuned_ms);
            std::printf("}\n");
        }
        return 0;
    }
    if (!library.out_dir.empty()) {
        for (size_t at = 0; at <= targets.size();) {
            size_t comma = std::min(targets.find(',', at), targets.size());
            library.targets.push_back(targets.substr(at, comma - at));
            at = comma + 1;
        }
        library.records_dir = records_dir;
        cnnc::emit::Toolchain tools{CNNC_SOURCE_DIR, CNNC_HALIDE_INCLUDE, CNNC_CLANG,
                                    CNNC_LLVM_AR};
        cnnc::emit::LibraryFiles f = cnnc::emit::export_library(graph, library, tools);
        std::cout << f.library << "\n" << f.header << "\n" << f.weights << "\n";
        return 0;
    }
    if (emit == "graph") {
        std::cout << cnnc::ir::print(graph);
    } else if (emit == "shapes") {
        std::cout << cnnc::passes::summary_table(cnnc::passes::summarize(graph));
    } else if (emit == "plan") {
        std::cout << (pipeline == "infer" ? cnnc::emit::inference_plan(graph, target)
                                          : cnnc::emit::train_step_plan(graph));
    } else if (emit == "stmt") {
        std::cout << (pipeline == "infer" ? cnnc::emit::inference_stmt(graph, target, records_dir)
                                          : cnnc::emit::train_step_stmt(graph, target));
    } else if (emit == "schedule") {
        std::cout << cnnc::emit::train_step_schedule(graph, target);
    } else {
        cnnc::emit::Artifacts a{out_dir, target, records_dir};
        cnnc::emit::emit_inference(graph, a);
        if (graph.loss >= 0 && pipelines == "all") cnnc::emit::emit_train_step(graph, a);
    }
    return 0;
}

}  // namespace

int main(int argc, char** argv) {
    try {
        return run(argc, argv);
    } catch (const cnnc::ShapeError& e) {
        std::cerr << "cnnc: shape error: " << e.what() << "\n";
    } catch (const std::exception& e) {
        std::cerr << "cnnc: error: " << e.what() << "\n";
    }
    return 1;
}
