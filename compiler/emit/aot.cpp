// AOT compilation of the inference pipeline and the training step.
#include "compiler/emit/aot.h"

#include <chrono>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <sstream>

#include "compiler/autodiff/optimizers.h"
#include "compiler/autodiff/train_kernels.h"
#include "compiler/emit/plan.h"
#include "compiler/emit/train_plan.h"
#include "compiler/lower/inference.h"
#include "schedules/schedule.h"

namespace cnnc::emit {

using namespace Halide;

std::string inference_function(const ir::Graph& g) { return g.name + "_infer"; }
std::string kernels_library(const ir::Graph& g) { return g.name + "_kernels"; }
std::string train_step_function(const ir::Graph& g) { return g.name + "_train_step"; }
std::string train_kernels_library(const ir::Graph& g) { return g.name + "_train_kernels"; }

namespace {

// The inference kernels as one module: every distinct kernel, with its _argv entry for the plan,
// named lower::kernel_name + suffix.
Module kernels_module(const ir::Graph& g, const lower::InferencePipeline& p, const Target& target,
                      const std::string& suffix = "") {
    std::vector<Module> modules;
    for (size_t k = 0; k < p.kernels.size(); ++k)
        modules.push_back(Pipeline(p.kernels[k].output)
                              .compile_to_module(p.kernels[k].arguments(),
                                                 lower::kernel_name(g, k) + suffix, target));
    return link_modules(kernels_library(g) + suffix, modules);
}

// The tuned records that apply to the target (records are keyed by the target as given, before
// NoRuntime is added); why others of the model's layers were ignored goes to stderr.
lower::InferencePipeline scheduled_inference(const ir::Graph& g, const Target& target,
                                             lower::ImageOrder order,
                                             const std::string& records_dir = "",
                                             int fixed_batch = 0) {
    lower::InferencePipeline p = lower::build_inference(g, order);
    if (fixed_batch > 0)
        for (lower::KernelPipeline& k : p.kernels) lower::fix_batch(k, fixed_batch);
    const schedules::RecordSet records(records_dir, target.without_feature(Target::NoRuntime)
                                                        .to_string());
    schedules::schedule_inference(p, g, target, schedules::params_from(records, g));
    for (const std::string& w : records.warnings()) std::cerr << "cnnc: warning: " << w << "\n";
    return p;
}

// The training step's kernels, scheduled (with the records' parameters for the target), as one
// module; the log says what each stage got.
Module train_kernels_module(const ir::Graph& g, const passes::TrainPlan& plan, const Target& target,
                            const std::string& records_dir = "", std::string* schedule = nullptr) {
    std::vector<Module> modules;
    const schedules::RecordSet records(records_dir,
                                       target.without_feature(Target::NoRuntime).to_string());
    auto add = [&](autodiff::TrainKernel k, const std::string& name, const std::string& key) {
        const schedules::ScheduleParams params = records.find(key).value_or(schedules::ScheduleParams{});
        std::string log = schedules::schedule_training_stages(k.outputs, target, &g, params);
        if (schedule) *schedule += "# " + name + "\n" + log;
        modules.push_back(Pipeline(k.outputs).compile_to_module(k.arguments, name, target));
    };
    const std::vector<passes::Segment>& segs = plan.partition.segments;
    for (size_t k = 0; k < plan.partition.kernels.size(); ++k) {
        const passes::Segment& s = segs[size_t(plan.partition.kernels[k])];
        add(autodiff::forward_kernel(g, s), autodiff::forward_kernel_name(g, k),
            schedules::training_key(g, s.nodes, "train_forward"));
    }
    add(autodiff::loss_kernel(g), autodiff::loss_kernel_name(g),
        schedules::training_key(g, {}, "train_loss"));
    for (size_t k = 0; k < plan.backward_kernels.size(); ++k) {
        const passes::BackwardKernel& b = plan.backward_kernels[k];
        add(autodiff::backward_kernel(g, segs[size_t(b.segment)], b),
            autodiff::backward_kernel_name(g, k),
            schedules::training_key(g, segs[size_t(b.segment)].nodes, "train_backward"));
    }
    for (const std::string& w : records.warnings()) std::cerr << "cnnc: warning: " << w << "\n";
    return link_modules(train_kernels_library(g), modules);
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
    lower::InferencePipeline p = scheduled_inference(g, target, lower::program_images, a.records_dir);
    compile_library(kernels_module(g, p, target), kernels_library(g), a);
    const std::filesystem::path dir(a.out_dir);
    write_text(dir / (inference_function(g) + ".h"), plan_header(g));
    write_text(dir / (g.name + "_plan.c"), plan_source(g, p.partition, target.to_string()));
}

passes::Partition emit_inference_variant(const ir::Graph& g, const Target& target,
                                         const std::string& suffix, int fixed_batch,
                                         const std::string& library,
                                         const std::string& records_dir) {
    const Target t = without_runtime(target);
    lower::InferencePipeline p = scheduled_inference(g, t, lower::ImageOrder::channels_innermost,
                                                     records_dir, fixed_batch);
    kernels_module(g, p, t, suffix).compile({{OutputFileType::static_library, library}});
    return p.partition;
}

void emit_train_step(const ir::Graph& g, const Artifacts& a) {
    const passes::TrainPlan plan = passes::plan_training(g);
    compile_library(train_kernels_module(g, plan, without_runtime(a.target), a.records_dir),
                    train_kernels_library(g), a);
    const std::filesystem::path dir(a.out_dir);
    write_text(dir / (train_step_function(g) + ".h"), train_plan_header(g));
    write_text(dir / (g.name + "_train_plan.c"),
               train_plan_source(g, plan, without_runtime(a.target).to_string()));
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

std::string inference_stmt(const ir::Graph& g, const Target& target,
                           const std::string& records_dir) {
    lower::InferencePipeline p = scheduled_inference(g, target, lower::program_images, records_dir);
    return stmt_of(kernels_module(g, p, target), kernels_library(g));
}

std::string inference_plan(const ir::Graph& g, const Target& target) {
    return plan_source(g, lower::inference_partition(g, lower::program_images),
                       target.to_string());
}

std::string train_step_stmt(const ir::Graph& g, const Target& target) {
    return stmt_of(train_kernels_module(g, passes::plan_training(g), target),
                   train_kernels_library(g));
}

std::string train_step_schedule(const ir::Graph& g, const Target& target) {
    std::string schedule;
    train_kernels_module(g, passes::plan_training(g), target, "", &schedule);
    return schedule;
}

std::string train_step_plan(const ir::Graph& g) {
    return passes::print(g, passes::plan_training(g));
}

}  // namespace cnnc::emit
