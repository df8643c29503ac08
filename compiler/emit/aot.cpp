// AOT compilation of the inference pipeline and the training step.
#include "compiler/emit/aot.h"

#include <filesystem>
#include <fstream>
#include <sstream>

#include "compiler/autodiff/optimizers.h"
#include "compiler/autodiff/train_step.h"
#include "compiler/lower/inference.h"
#include "schedules/schedule.h"

namespace cnnc::emit {

using namespace Halide;

std::string inference_function(const ir::Graph& g) { return g.name + "_infer"; }
std::string train_step_function(const ir::Graph& g) { return g.name + "_train_step"; }

namespace {

Pipeline scheduled_inference(const ir::Graph& g, const Target& target,
                             std::vector<Argument>& args) {
    lower::InferencePipeline p = lower::build_inference(g);
    schedules::schedule_inference(p, g, target);
    args = p.arguments();
    return Pipeline(p.output);
}

Pipeline scheduled_train_step(const ir::Graph& g, const Target& target,
                              std::vector<Argument>& args, std::string* schedule = nullptr) {
    autodiff::TrainStep t = autodiff::build_train_step(g);
    std::string source = schedules::schedule_train_step(t, g, target);
    if (schedule) *schedule = source;
    args = t.arguments();
    return Pipeline(t.outputs());
}

std::string read_file(const std::string& path) {
    std::ifstream in(path);
    std::stringstream s;
    s << in.rdbuf();
    return s.str();
}

std::string stmt_of(Pipeline p, const std::vector<Argument>& args, const std::string& fn,
                    const Target& target) {
    auto path = std::filesystem::temp_directory_path() /
                ("cnnc_" + fn + "_" + std::to_string(::getpid()) + ".stmt");
    p.compile_to({{OutputFileType::stmt, path.string()}}, args, fn, target);
    std::string text = read_file(path.string());
    std::filesystem::remove(path);
    return text;
}

void compile_library(Pipeline p, const std::vector<Argument>& args, const std::string& fn,
                     const Artifacts& a, const Target& target) {
    std::filesystem::create_directories(a.out_dir);
    std::string prefix = (std::filesystem::path(a.out_dir) / fn).string();
    p.compile_to({{OutputFileType::static_library, prefix + ".a"},
                  {OutputFileType::c_header, prefix + ".h"},
                  {OutputFileType::stmt, prefix + ".stmt"}},
                 args, fn, target);
}

}  // namespace

void emit_inference(const ir::Graph& g, const Artifacts& a) {
    std::vector<Argument> args;
    Pipeline p = scheduled_inference(g, a.target, args);
    compile_library(p, args, inference_function(g), a, a.target.with_feature(Target::NoRuntime));
}

void emit_train_step(const ir::Graph& g, const Artifacts& a) {
    std::vector<Argument> args;
    Pipeline p = scheduled_train_step(g, a.target, args);
    compile_library(p, args, train_step_function(g), a, a.target.with_feature(Target::NoRuntime));
}

void emit_optimizers(const Artifacts& a) {
    for (autodiff::Optimizer o : autodiff::all_optimizers()) {
        autodiff::UpdatePipeline u = autodiff::build_update(o);
        compile_library(u.pipeline, u.arguments, "cnnc_update_" + autodiff::optimizer_name(o), a,
                        a.target.with_feature(Target::NoRuntime));
    }
    std::filesystem::create_directories(a.out_dir);
    compile_standalone_runtime(
        {{OutputFileType::static_library,
          (std::filesystem::path(a.out_dir) / "cnnc_halide_runtime.a").string()}},
        a.target);
}

std::string inference_stmt(const ir::Graph& g, const Target& target) {
    std::vector<Argument> args;
    Pipeline p = scheduled_inference(g, target, args);
    return stmt_of(p, args, inference_function(g), target);
}

std::string train_step_stmt(const ir::Graph& g, const Target& target) {
    std::vector<Argument> args;
    Pipeline p = scheduled_train_step(g, target, args);
    return stmt_of(p, args, train_step_function(g), target);
}

std::string train_step_schedule(const ir::Graph& g, const Target& target) {
    std::vector<Argument> args;
    std::string schedule;
    scheduled_train_step(g, target, args, &schedule);
    return schedule;
}

}  // namespace cnnc::emit
