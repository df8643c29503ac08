// Invoking generated pipelines and capturing their errors.
#include "runtime/pipeline.h"

#include <stdexcept>

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

}  // namespace

void on_pipeline_threads(int64_t count, const TaskBody& body) {
    if (count <= 1) return serial_for(count, body);
    halide_do_par_for(nullptr, run_task, 0, int(count),
                      reinterpret_cast<uint8_t*>(const_cast<TaskBody*>(&body)));
}

void invoke(const PipelineEntry& entry, std::vector<void*> args) {
    static const bool installed = [] {
        halide_set_error_handler(keep_error);
        return true;
    }();
    (void)installed;
    const halide_filter_metadata_t* md = entry.metadata();
    if (int(args.size()) != md->num_arguments)
        throw std::logic_error(std::string("pipeline ") + md->name + " takes " +
                               std::to_string(md->num_arguments) + " arguments, given " +
                               std::to_string(args.size()));
    pipeline_error.clear();
    int status = entry.call(args.data());
    if (status != 0)
        throw std::runtime_error(std::string("pipeline ") + md->name + " failed (" +
                                 std::to_string(status) + "): " + pipeline_error);
}

}  // namespace cnnc::runtime
