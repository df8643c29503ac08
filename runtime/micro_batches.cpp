// Splitting a training step into micro-batches and combining their results.
#include "runtime/micro_batches.h"

#include <algorithm>
#include <stdexcept>
#include <string>

namespace cnnc::runtime {
namespace {

const ir::Node* first_batch_norm(const ir::Graph& g) {
    for (const ir::Node& n : g.nodes)
        if (n.op == Op::batch_norm) return &n;
    return nullptr;
}

// Device-API features of a Halide target string: the step's kernels run on a GPU.
bool runs_on_gpu(const std::string& target) {
    for (const char* api : {"cuda", "opencl", "metal", "d3d12compute", "vulkan"})
        if (target.find(api) != std::string::npos) return true;
    return false;
}

// Images [first, first + count) of a buffer whose outermost dimension is the batch.
struct OuterSlice {
    std::vector<halide_dimension_t> dims;
    halide_buffer_t buffer;

    OuterSlice(const halide_buffer_t& whole, int64_t first, int64_t count)
        : dims(whole.dim, whole.dim + whole.dimensions), buffer(whole) {
        buffer.dim = dims.data();
        buffer.host += first * int64_t(dims.back().stride) * whole.type.bytes();
        dims.back().extent = int32_t(count);
    }
};

// Parts after the first draw dropout masks from seeds far from the next steps' (seed + 1, ...).
int32_t part_seed(int32_t seed, int64_t part) {
    return int32_t(uint32_t(seed) + uint32_t(part) * 0x9E3779B9u);
}

// out = sum over parts of weight[p] * part p's tensor, part 0's being `out` itself; in part order.
void weighted_sum(Tensor& out, const std::vector<const Tensor*>& more,
                  const std::vector<float>& weight) {
    float* o = out.data();
    for (size_t i = 0; i < out.size(); ++i) o[i] *= weight[0];
    for (size_t p = 0; p < more.size(); ++p) {
        const float* m = more[p]->data();
        for (size_t i = 0; i < out.size(); ++i) o[i] += weight[p + 1] * m[i];
    }
}

}  // namespace

int micro_batches_for(const ir::Graph& g, const PipelineEntry& step, int requested, int batch) {
    const std::string option = "--micro-batches " + std::to_string(requested);
    if (requested < 0) throw std::invalid_argument(option + ": give 1 or more (0 chooses)");
    if (requested > batch)
        throw std::invalid_argument(option + ": more micro-batches than the " +
                                    std::to_string(batch) + " images of a batch");
    const ir::Node* norm = first_batch_norm(g);
    const std::string target = step.metadata()->target;
    const bool gpu = runs_on_gpu(target);
    if (requested == 0) {
        if (norm || gpu) return 1;
        return int(std::clamp<int64_t>(batch / min_auto_micro_batch, 1, pipeline_threads()));
    }
    if (requested > 1 && norm)
        throw std::invalid_argument(
            option + ": layer '" + norm->name +
            "' (batch norm) normalises with statistics of the whole batch, which a split would "
            "change; train this model with --micro-batches 1");
    if (requested > 1 && gpu)
        throw std::invalid_argument(option + ": the training step runs on a GPU (target " +
                                    target + "), where micro-batches on CPU threads gain nothing");
    return requested;
}

MicroBatchStep::MicroBatchStep(const ir::Graph& g, int parts) : parts_(parts) {
    if (parts < 1) throw std::logic_error("MicroBatchStep: parts must be at least 1");
    if (parts > 1 && first_batch_norm(g))
        throw std::logic_error("MicroBatchStep: batch statistics cannot be split");
    for (int p = 1; p < parts; ++p) more_.emplace_back(g);
}

void MicroBatchStep::run(const PipelineEntry& step, const ModelState& state,
                         halide_buffer_t* images, halide_buffer_t* labels, int32_t seed,
                         StepOutputs& out) {
    const int64_t count = images->dim[images->dimensions - 1].extent;
    if (labels->dim[labels->dimensions - 1].extent != count)
        throw std::invalid_argument("training step: " + std::to_string(count) + " images but " +
                                    std::to_string(labels->dim[labels->dimensions - 1].extent) +
                                    " labels");
    const int parts = int(std::min<int64_t>(parts_, count));
    if (parts == 1) return call_train_step(step, state, images, labels, seed, out);
    std::vector<int64_t> first(size_t(parts) + 1);
    for (int p = 0; p <= parts; ++p) first[size_t(p)] = count * p / parts;
    std::vector<std::string> errors(static_cast<size_t>(parts));
    on_pipeline_threads_with_serial_pipelines(parts, [&](int64_t p) {
        const int64_t begin = first[size_t(p)], n = first[size_t(p) + 1] - begin;
        try {
            OuterSlice part_images(*images, begin, n), part_labels(*labels, begin, n);
            call_train_step(step, state, &part_images.buffer, &part_labels.buffer,
                            part_seed(seed, p), p == 0 ? out : more_[size_t(p) - 1]);
        } catch (const std::exception& e) {
            errors[size_t(p)] = e.what();
        }
    });
    for (int p = 0; p < parts; ++p)
        if (!errors[size_t(p)].empty())
            throw std::runtime_error("micro-batch " + std::to_string(p + 1) + " of " +
                                     std::to_string(parts) + " (images " +
                                     std::to_string(first[size_t(p)]) + " to " +
                                     std::to_string(first[size_t(p) + 1] - 1) +
                                     "): " + errors[size_t(p)]);
    std::vector<float> weight;
    for (int p = 0; p < parts; ++p)
        weight.push_back(float(first[size_t(p) + 1] - first[size_t(p)]) / float(count));
    std::vector<const Tensor*> loss, correct;
    for (int p = 1; p < parts; ++p) {
        loss.push_back(&more_[size_t(p) - 1].loss);
        correct.push_back(&more_[size_t(p) - 1].correct);
    }
    weighted_sum(out.loss, loss, weight);
    weighted_sum(out.correct, correct, std::vector<float>(weight.size(), 1.0f));
    for (size_t i = 0; i < out.grads.size(); ++i) {
        std::vector<const Tensor*> grads;
        for (int p = 1; p < parts; ++p) grads.push_back(&more_[size_t(p) - 1].grads[i]);
        weighted_sum(out.grads[i], grads, weight);
    }
}

}  // namespace cnnc::runtime
