// Running the training step once on given images and labels and keeping what it computed.
#include "runtime/gradients.h"

#include <cstring>
#include <nlohmann/json.hpp>

#include "runtime/errors.h"
#include "runtime/files.h"
#include "runtime/trainer.h"

namespace cnnc::runtime {

std::vector<int32_t> read_labels_file(const std::string& path, int64_t images, int64_t per_image,
                                      int64_t classes) {
    const std::vector<char> bytes = read_whole_file(path, "labels file");
    const int64_t want = images * per_image * int64_t(sizeof(int32_t));
    if (int64_t(bytes.size()) != want)
        throw DataError(path + ": " + std::to_string(bytes.size()) + " bytes, expected " +
                        std::to_string(want) + " (int32 labels: " + std::to_string(per_image) +
                        " per image for " + std::to_string(images) + " images)");
    std::vector<int32_t> labels(size_t(images * per_image));
    std::memcpy(labels.data(), bytes.data(), bytes.size());
    for (size_t i = 0; i < labels.size(); ++i)
        if (labels[i] < 0 || labels[i] >= classes)
            throw DataError(path + ": label " + std::to_string(labels[i]) + " at index " +
                            std::to_string(i) + " (byte offset " + std::to_string(4 * i) +
                            ") is not a class of 0.." + std::to_string(classes - 1));
    return labels;
}

ParamFile step_gradients(const ModelState& state, const PipelineEntry& train_step,
                         const NchwBatch& images, const std::vector<int32_t>& labels,
                         int32_t seed) {
    const ir::Graph& g = *state.graph;
    if (g.node(g.loss).op != Op::softmax_cross_entropy)
        throw std::invalid_argument(g.name + ": gradients takes class labels, so it needs a "
                                    "model trained with softmax cross-entropy");
    Tensor pixels = to_storage(images);
    const Shape& out = g.node(g.logits).shape;
    std::vector<int64_t> label_extents;
    if (out.rank == 3) label_extents = {out.width(), out.height()};
    label_extents.push_back(images.n);
    LabelTensor classes(label_extents);
    std::copy(labels.begin(), labels.end(), classes.data());
    StepOutputs result(g);
    call_train_step(train_step, state, pixels.raw(), classes.raw(), seed, result);

    ParamFile f{g.name, {}, {}};
    size_t grad = 0, kept = 0;
    for (const ir::Param& p : g.params) {
        const Tensor& t = p.learnable ? result.grads[grad++] : result.state[kept++];
        f.tensors.push_back({p.name, t.extents(), {t.values().begin(), t.values().end()}});
    }
    f.meta_json = nlohmann::json{{"contents", "gradients"},
                                 {"loss", result.loss.data()[0]},
                                 {"batch", images.n},
                                 {"seed", seed}}
                      .dump();
    return f;
}

}  // namespace cnnc::runtime
