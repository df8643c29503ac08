// The training loop, evaluation and the data feeding around the generated pipelines.
#include "runtime/trainer.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <numeric>
#include <optional>
#include <random>

#include "runtime/optimizer.h"
#include "runtime/progress.h"

namespace cnnc::runtime {

std::vector<int64_t> all_indices(int64_t count) {
    std::vector<int64_t> v(size_t(count), 0);
    std::iota(v.begin(), v.end(), 0);
    return v;
}

Preprocessing measure_preprocessing(const IdxImages& images) {
    double sum = 0, sum_sq = 0;
    for (uint8_t p : images.pixels) {
        double v = p / 255.0;
        sum += v;
        sum_sq += v * v;
    }
    double n = double(images.pixels.size());
    double mean = sum / n;
    return {float(mean), float(std::sqrt(std::max(sum_sq / n - mean * mean, 1e-12)))};
}

// Grey images have one channel, so (c, x, y) order is the file's row-major pixel order.
void fill_images(const IdxImages& images, const std::vector<int64_t>& order, int64_t first,
                 int64_t count, const Preprocessing& pre, Tensor& out) {
    const int64_t pixels = images.rows * images.cols;
    const float scale = 1.0f / (255.0f * pre.std), shift = pre.mean / pre.std;
    for (int64_t i = 0; i < count; ++i) {
        const uint8_t* src = &images.pixels[size_t(order[size_t(first + i)] * pixels)];
        float* dst = out.data() + i * pixels;
        for (int64_t k = 0; k < pixels; ++k) dst[k] = float(src[k]) * scale - shift;
    }
}

namespace {

using Clock = std::chrono::steady_clock;

double seconds_since(Clock::time_point t) {
    return std::chrono::duration<double>(Clock::now() - t).count();
}

std::vector<int64_t> output_extents(const ir::Graph& g) {
    const Shape& s = g.node(g.logits).shape;
    if (s.rank == 3) return {s.channels(), s.width(), s.height()};
    return {s.elements()};
}

std::vector<int64_t> input_extents(const ir::Graph& g, int64_t batch) {
    const Shape& s = g.node(g.input).shape;
    return {s.channels(), s.width(), s.height(), batch};
}

// Buffers of the generated step's outputs, allocated once per training run.
struct StepOutputs {
    Tensor loss{std::vector<int64_t>{}};
    Tensor correct{std::vector<int64_t>{}};
    std::vector<Tensor> grads, state;
};

StepOutputs step_outputs(const ir::Graph& g, int64_t batch) {
    (void)batch;
    StepOutputs out;
    for (const ir::Param& p : g.params)
        (p.learnable ? out.grads : out.state).emplace_back(storage_extents(p));
    return out;
}

// One generated training step on `count` images, then the optimizer; returns the mean loss and
// adds the step's correct classifications to `correct`.
double run_step(ModelState& s, const Pipelines& p, Tensor& images, LabelTensor& labels,
                int64_t count, int32_t seed, float lr, OptimizerState& optimizer,
                StepOutputs& out, int64_t& correct) {
    std::vector<void*> args{images.raw_outer(count), labels.raw_outer(count), &seed};
    for (Tensor& t : s.params) args.push_back(t.raw());
    args.push_back(out.loss.raw());
    args.push_back(out.correct.raw());
    for (Tensor& t : out.grads) args.push_back(t.raw());
    for (Tensor& t : out.state) args.push_back(t.raw());
    invoke(p.train_step, args);
    // Running statistics come back from the step; copy them into the model.
    size_t k = 0;
    for (size_t i = 0; i < s.params.size(); ++i)
        if (!s.graph->params[i].learnable) std::swap(s.params[i], out.state[k++]);
    optimizer.apply(s.params, out.grads, lr);
    correct += int64_t(out.correct.data()[0]);
    return out.loss.data()[0];
}

}  // namespace

double evaluate(const ModelState& state, const Pipelines& p, const Dataset& data,
                const std::vector<int64_t>& indices, int batch) {
    const ir::Graph& g = *state.graph;
    const int64_t classes = g.node(g.logits).shape.elements();
    Tensor images(input_extents(g, batch));
    Tensor probs({classes, batch});
    int64_t correct = 0;
    for (int64_t first = 0; first < int64_t(indices.size()); first += batch) {
        int64_t count = std::min<int64_t>(batch, int64_t(indices.size()) - first);
        fill_images(data.images, indices, first, count, state.preprocessing, images);
        std::vector<void*> args{images.raw_outer(count)};
        for (const Tensor& t : state.params) args.push_back(t.raw());
        args.push_back(probs.raw_outer(count));
        invoke(p.infer, args);
        for (int64_t i = 0; i < count; ++i) {
            const float* row = probs.data() + i * classes;
            int64_t best = std::max_element(row, row + classes) - row;
            correct += best == data.labels[size_t(indices[size_t(first + i)])];
        }
    }
    return indices.empty() ? 0.0 : double(correct) / double(indices.size());
}

TrainReport train(ModelState& s, const Pipelines& p, const Dataset& data, const TrainOptions& o) {
    const ir::Graph& g = *s.graph;
    std::mt19937_64 rng(o.seed);
    std::vector<int64_t> order = all_indices(data.images.count);
    std::shuffle(order.begin(), order.end(), rng);
    const int64_t held_out = std::min<int64_t>(o.validation, int64_t(order.size()) / 2);
    std::vector<int64_t> validation(order.begin(), order.begin() + held_out);
    std::vector<int64_t> training(order.begin() + held_out, order.end());
    if (o.limit > 0 && int64_t(training.size()) > o.limit) training.resize(size_t(o.limit));

    OptimizerState optimizer(g, o.optimizer);
    StepOutputs outputs = step_outputs(g, o.batch);
    Tensor images(input_extents(g, o.batch));
    LabelTensor labels({o.batch});
    TrainReport r;
    auto start = Clock::now();
    double train_seconds = 0;
    for (int epoch = 0; epoch < o.epochs; ++epoch) {
        std::shuffle(training.begin(), training.end(), rng);
        float lr = o.optimizer.lr * std::pow(o.lr_decay, float(epoch));
        std::optional<Progress> progress;
        if (o.verbose)
            progress.emplace("epoch " + std::to_string(epoch + 1) + "/" + std::to_string(o.epochs),
                             int64_t(training.size()));
        auto epoch_start = Clock::now();
        double loss_sum = 0;
        int64_t steps = 0, correct = 0;
        for (int64_t first = 0; first < int64_t(training.size()); first += o.batch) {
            int64_t count = std::min<int64_t>(o.batch, int64_t(training.size()) - first);
            fill_images(data.images, training, first, count, s.preprocessing, images);
            for (int64_t i = 0; i < count; ++i)
                labels.data()[i] = data.labels[size_t(training[size_t(first + i)])];
            int32_t seed = int32_t(o.seed * 1000003 + uint64_t(epoch) * 100003 + uint64_t(steps));
            double loss = run_step(s, p, images, labels, count, seed, lr, optimizer, outputs,
                                   correct);
            if (!std::isfinite(loss))
                throw std::runtime_error("training diverged: loss is " + std::to_string(loss) +
                                         " in epoch " + std::to_string(epoch + 1) +
                                         "; lower --lr");
            loss_sum += loss;
            ++steps;
            r.images_seen += count;
            if (progress) progress->update(first + count, loss_sum / double(steps));
        }
        train_seconds += seconds_since(epoch_start);
        r.final_loss = loss_sum / double(std::max<int64_t>(steps, 1));
        r.train_accuracy = double(correct) / double(std::max<size_t>(training.size(), 1));
        if (progress) progress->finish(r.final_loss);
        r.validation_accuracy = evaluate(s, p, data, validation);
        if (o.verbose)
            std::printf("epoch %d/%d: loss %.4f, train accuracy %.2f%%, validation accuracy %.2f%%, "
                        "lr %.4g\n",
                        epoch + 1, o.epochs, r.final_loss, 100.0 * r.train_accuracy,
                        100.0 * r.validation_accuracy, double(lr));
    }
    r.seconds = seconds_since(start);
    r.images_per_second = train_seconds > 0 ? double(r.images_seen) / train_seconds : 0;
    return r;
}

}  // namespace cnnc::runtime
