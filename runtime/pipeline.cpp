// Invoking generated pipelines and capturing their errors.
#include "runtime/pipeline.h"

#include <algorithm>
#include <cstdlib>
#include <stdexcept>
#include <thread>

namespace cnnc::runtime {
namespace {

thread_local std::string pipeline_error;

// Halide's default handler prints to stderr and the caller only sees a status code; keeping the
// message lets the error name the pipeline and the buffer at fault.
void keep_error(void*, const char* message) { pipeline_error += message; }

int run_task(void*, int task, uint8_t* closure) {
    (*reinterpret_cast<const TaskBody*>(closure))(task);
    return 0;
}

// Set on a thread while it runs a part of on_pipeline_threads_with_serial_pipelines.
thread_local bool serial_pipelines = false;
halide_do_par_for_t chained_do_par_for = nullptr;

int do_par_for(void* user_context, halide_task_t task, int min, int size, uint8_t* closure) {
    if (!serial_pipelines) return chained_do_par_for(user_context, task, min, size, closure);
    for (int i = min; i < min + size; ++i)
        if (int status = task(user_context, i, closure); status != 0) return status;
    return 0;
}

}  // namespace

int pipeline_threads() {
    // Halide 14 reads HL_NUM_THREADS, or its older spelling HL_NUMTHREADS.
    for (const char* name : {"HL_NUM_THREADS", "HL_NUMTHREADS"})
        if (const char* v = std::getenv(name); v && std::atoi(v) > 0) return std::atoi(v);
    return std::max(1, int(std::thread::hardware_concurrency()));
}

void on_pipeline_threads_with_serial_pipelines(int64_t count, const TaskBody& body) {
    static const bool installed = [] {
        chained_do_par_for = halide_set_custom_do_par_for(do_par_for);
        if (!chained_do_par_for) chained_do_par_for = halide_default_do_par_for;
        return true;
    }();
    (void)installed;
    on_pipeline_threads(count, [&](int64_t part) {
        const bool was = serial_pipelines;
        serial_pipelines = true;
        body(part);
        serial_pipelines = was;
    });
}

void on_pipeline_threads(int64_t count, const TaskBody& body) {
    if (count <= 1) return serial_for(count, body);
    halide_do_par_for(nullptr, run_task, 0, int(count),
                      reinterpret_cast<uint8_t*>(const_cast<TaskBody*>(&body)));
}

namespace {

// Runs `call` (a pipeline's status) and throws, naming the pipeline, on a nonzero status.
template <typename F>
void call_checked(const halide_filter_metadata_t* md, F&& call) {
    static const bool installed = [] {
        halide_set_error_handler(keep_error);
        return true;
    }();
    (void)installed;
    pipeline_error.clear();
    int status = call();
    if (status != 0)
        throw std::runtime_error(std::string("pipeline ") + md->name + " failed (" +
                                 std::to_string(status) + "): " + pipeline_error);
}

}  // namespace

void invoke(const PipelineEntry& entry, std::vector<void*> args) {
    const halide_filter_metadata_t* md = entry.metadata();
    if (int(args.size()) != md->num_arguments)
        throw std::logic_error(std::string("pipeline ") + md->name + " takes " +
                               std::to_string(md->num_arguments) + " arguments, given " +
                               std::to_string(args.size()));
    call_checked(md, [&] { return entry.call(args.data()); });
}

PreparedParams::PreparedParams(const PipelineEntry& infer, std::vector<halide_buffer_t*> params)
    : infer_(infer), params_(std::move(params)) {
    const cnnc_plan* plan = infer_.plan ? infer_.plan() : nullptr;
    if (!plan || plan->num_packings == 0) return;
    if (int(params_.size()) != plan->num_params)
        throw std::logic_error("PreparedParams: the plan takes " +
                               std::to_string(plan->num_params) + " parameters, given " +
                               std::to_string(params_.size()));
    const size_t bytes = (cnnc_plan_prepared_bytes(plan) + 63) / 64 * 64;
    memory_ = std::aligned_alloc(64, bytes);
    if (!memory_) throw std::bad_alloc();
    try {
        call_checked(infer_.metadata(), [&] {
            prepared_ = cnnc_plan_prepare(plan, params_.data(), memory_);
            return prepared_ ? 0 : int(halide_error_code_bad_dimensions);
        });
    } catch (...) {
        std::free(memory_);  // the destructor of a half-built object does not run
        throw;
    }
}

PreparedParams::~PreparedParams() { std::free(memory_); }

void PreparedParams::run(halide_buffer_t* images, halide_buffer_t* output) const {
    if (!prepared_) {
        std::vector<void*> args{images};
        args.insert(args.end(), params_.begin(), params_.end());
        args.push_back(output);
        return invoke(infer_, args);
    }
    call_checked(infer_.metadata(), [&] {
        return cnnc_plan_run_prepared(infer_.plan(), images, prepared_, output, nullptr);
    });
}

}  // namespace cnnc::runtime
