// AOT compilation of the inference pipeline and the training step.
#include "compiler/emit/aot.h"

#include <chrono>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "compiler/autodiff/optimizers.h"
#include "compiler/autodiff/train_step.h"
#include "compiler/emit/plan.h"
#include "compiler/lower/inference.h"
#include "schedules/schedule.h"

namespace cnnc::emit {

using namespace Halide;

std::string inference_function(const ir::Graph& g) { return g.name + "_infer"; }
std::string kernels_library(const ir::Graph& g) { return g.name + "_kernels"; }
std::string train_step_function(const ir::Graph& g) { return g.name + "_train_step"; }

namespace {

// The inference kernels as one module: every distinct kernel, with its _argv entry for the plan.
Module kernels_module(const ir::Graph& g, const lower::InferencePipeline& p, const Target& target) {
    std::vector<Module> modules;
    for (size_t k = 0; k < p.kernels.size(); ++k)
        modules.push_back(Pipeline(p.kernels[k].output)
                              .compile_to_module(p.kernels[k].arguments(), p.kernel_name(k),
                                                 target));
    return link_modules(kernels_library(g), modules);
}

lower::InferencePipeline scheduled_inference(const ir::Graph& g, const Target& target) {
    lower::InferencePipeline p = lower::build_inference(g);
    schedules::schedule_inference(p, g, target);
    return p;
}

Pipeline scheduled_train_step(const ir::Graph& g, const Target& target,
                              std::vector<Argument>& args, std::string* schedule = nullptr) {
    autodiff::TrainStep t = autodiff::build_train_step(g);
    std::string source = schedules::schedule_train_step(t, g, target);
    if (schedule) *schedule = source;
    args = t.arguments();
    return Pipeline(t.outputs());
}

void write_text(const std::filesystem::path& path, const std::string& text) {
    std::ofstream out(path);
    out << text;
    if (!out) throw std::runtime_error("cannot write " + path.string());
}

std::string read_file(const std::string& path) {
    std::ifstream in(path);
    std::stringstream s;
    s << in.rdbuf();
    return s.str();
}

std::string stmt_of(Module m, const std::string& fn) {
    auto path = std::filesystem::temp_directory_path() /
                ("cnnc_" + fn + "_" + std::to_string(::getpid()) + ".stmt");
    m.compile({{OutputFileType::stmt, path.string()}});
    std::string text = read_file(path.string());
    std::filesystem::remove(path);
    return text;
}

void compile_library(Module m, const std::string& fn, const Artifacts& a) {
    std::filesystem::create_directories(a.out_dir);
    std::string prefix = (std::filesystem::path(a.out_dir) / fn).string();
    m.compile({{OutputFileType::static_library, prefix + ".a"},
               {OutputFileType::c_header, prefix + ".h"},
               {OutputFileType::stmt, prefix + ".stmt"}});
}

Target without_runtime(const Target& t) { return t.with_feature(Target::NoRuntime); }

}  // namespace

void emit_inference(const ir::Graph& g, const Artifacts& a) {
    const Target target = without_runtime(a.target);
    lower::InferencePipeline p = scheduled_inference(g, target);
    compile_library(kernels_module(g, p, target), kernels_library(g), a);
    const std::filesystem::path dir(a.out_dir);
    write_text(dir / (inference_function(g) + ".h"), plan_header(g));
    write_text(dir / (g.name + "_plan.c"), plan_source(g, p.partition, target.to_string()));
}

void emit_train_step(const ir::Graph& g, const Artifacts& a) {
    std::vector<Argument> args;
    Pipeline p = scheduled_train_step(g, a.target, args);
    const std::string fn = train_step_function(g);
    compile_library(p.compile_to_module(args, fn, without_runtime(a.target)), fn, a);
}

void emit_optimizers(const Artifacts& a) {
    for (autodiff::Optimizer o : autodiff::all_optimizers()) {
        autodiff::UpdatePipeline u = autodiff::build_update(o);
        const std::string fn = "cnnc_update_" + autodiff::optimizer_name(o);
        compile_library(u.pipeline.compile_to_module(u.arguments, fn, without_runtime(a.target)),
                        fn, a);
    }
    std::filesystem::create_directories(a.out_dir);
    compile_standalone_runtime(
        {{OutputFileType::static_library,
          (std::filesystem::path(a.out_dir) / "cnnc_halide_runtime.a").string()}},
        a.target);
}

std::string inference_stmt(const ir::Graph& g, const Target& target) {
    lower::InferencePipeline p = scheduled_inference(g, target);
    return stmt_of(kernels_module(g, p, target), kernels_library(g));
}

std::string inference_plan(const ir::Graph& g, const Target& target) {
    return plan_source(g, passes::partition_inference(g), target.to_string());
}

std::string train_step_stmt(const ir::Graph& g, const Target& target) {
    std::vector<Argument> args;
    Pipeline p = scheduled_train_step(g, target, args);
    const std::string fn = train_step_function(g);
    return stmt_of(p.compile_to_module(args, fn, target), fn);
}

std::string train_step_schedule(const ir::Graph& g, const Target& target) {
    std::vector<Argument> args;
    std::string schedule;
    scheduled_train_step(g, target, args, &schedule);
    return schedule;
}

}  // namespace cnnc::emit
