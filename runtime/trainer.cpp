// The training loop, evaluation and the data feeding around the generated pipelines.
#include "runtime/trainer.h"

#include <algorithm>
#include <cfloat>
#include <charconv>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <limits>
#include <map>
#include <numeric>
#include <optional>
#include <random>
#include <set>
#include <stdexcept>

#include "runtime/early_stopping.h"
#include "runtime/errors.h"
#include "runtime/inference.h"
#include "runtime/micro_batches.h"
#include "runtime/optimizer.h"
#include "runtime/progress.h"

namespace cnnc::runtime {

using json = nlohmann::json;

std::vector<int64_t> all_indices(int64_t count) {
    std::vector<int64_t> v(size_t(count), 0);
    std::iota(v.begin(), v.end(), 0);
    return v;
}

ChannelStats measure_images(const IdxImages& images, const std::vector<int64_t>& indices) {
    const int64_t pixels = images.rows * images.cols;
    std::vector<uint8_t> gathered(indices.size() * size_t(pixels));
    for (size_t i = 0; i < indices.size(); ++i)
        std::copy_n(&images.pixels[size_t(indices[i] * pixels)], pixels,
                    &gathered[i * size_t(pixels)]);
    return measure(gathered.data(), int64_t(indices.size()), pixels, 1);
}

// Grey images have one channel, so (c, x, y) order is the file's row-major pixel order.
void fill_images(const IdxImages& images, const std::vector<int64_t>& order, int64_t first,
                 int64_t count, const Normaliser& normalise, Tensor& out) {
    const int64_t pixels = images.rows * images.cols;
    for (int64_t i = 0; i < count; ++i)
        normalise(&images.pixels[size_t(order[size_t(first + i)] * pixels)],
                  out.data() + i * pixels, pixels);
}

void check_data_fits(const ir::Graph& g, const Dataset& data) {
    const Shape& s = g.node(g.input).shape;
    if (s.channels() != 1 || s.height() != data.images.rows || s.width() != data.images.cols)
        throw DataError("the data set's images are 1x" + std::to_string(data.images.rows) + "x" +
                        std::to_string(data.images.cols) + " (grey), but " + g.name +
                        " expects inputs of " + to_string(s));
}

// --- options -----------------------------------------------------------------------------------

std::pair<std::string, std::pair<float, float>> parse_layer_decay(const std::string& text) {
    auto fail = [&](const std::string& why) -> void {
        throw std::invalid_argument("--layer-decay \"" + text + "\": " + why +
                                    " (expected NAME=L1,L2, e.g. dense=0,0.0005)");
    };
    size_t eq = text.find('=');
    if (eq == std::string::npos || eq == 0) fail("no layer name before '='");
    std::string name = text.substr(0, eq), values = text.substr(eq + 1);
    size_t comma = values.find(',');
    if (comma == std::string::npos) fail("two values needed, L1 and L2");
    float v[2];
    std::string parts[2] = {values.substr(0, comma), values.substr(comma + 1)};
    for (int i = 0; i < 2; ++i) {
        const std::string& t = parts[i];
        auto [end, ec] = std::from_chars(t.data(), t.data() + t.size(), v[i]);
        if (t.empty() || ec != std::errc() || end != t.data() + t.size() || !std::isfinite(v[i]))
            fail(std::string(i ? "L2" : "L1") + " is not a number: \"" + t + "\"");
        if (v[i] < 0) fail(std::string(i ? "L2" : "L1") + " must not be negative");
    }
    return {name, {v[0], v[1]}};
}

namespace {

// Shortest text that reads back as the same float.
std::string number_text(float v) {
    char buf[32];
    auto [end, ec] = std::to_chars(buf, buf + sizeof buf, v);
    return std::string(buf, ec == std::errc() ? end : buf);
}

std::string layer_decay_text(const std::string& layer, std::pair<float, float> d) {
    return layer + "=" + number_text(d.first) + "," + number_text(d.second);
}

// Layers that own learnable parameters, in graph order.
std::vector<std::string> learnable_layers(const ir::Graph& g) {
    std::vector<std::string> out;
    for (const ir::Param& p : g.params)
        if (p.learnable && std::find(out.begin(), out.end(), p.layer) == out.end())
            out.push_back(p.layer);
    return out;
}

}  // namespace

json train_options_json(const TrainOptions& o) {
    const OptimizerConfig& c = o.optimizer;
    json decay = json::array(), frozen = json::array();
    for (const auto& [layer, d] : c.layer_decay) decay.push_back(layer_decay_text(layer, d));
    for (const std::string& layer : c.frozen) frozen.push_back(layer);
    return {{"--batch", o.batch},
            {"--validation", o.validation},
            {"--limit", o.limit},
            {"--seed", o.seed},
            {"--optimizer", c.kind},
            {"--lr", c.lr},
            {"--momentum", c.momentum},
            {"--beta1", c.beta1},
            {"--beta2", c.beta2},
            {"--eps", c.eps},
            {"--rho", c.rho},
            {"--alpha", c.alpha},
            {"--l1", c.l1},
            {"--l2", c.l2},
            {"--no-decay-biases", !c.decay_biases},
            {"--layer-decay", decay},
            {"--freeze", frozen},
            {"--lr-schedule", o.schedule.spec()},
            {"--normalise", std::string(normalisation_name(o.normalisation))},
            {"--augment", o.augment.spec()},
            {"--early-stopping", o.early_stopping},
            {"--min-delta", o.min_delta},
            {"--micro-batches", o.micro_batches}};
}

void apply_train_options_json(TrainOptions& o, const json& j) {
    for (const auto& [key, v] : j.items()) {
        try {
            OptimizerConfig& c = o.optimizer;
            if (key == "--batch")
                o.batch = v.get<int>();
            else if (key == "--validation")
                o.validation = v.get<int>();
            else if (key == "--limit")
                o.limit = v.get<int64_t>();
            else if (key == "--seed")
                o.seed = v.get<uint64_t>();
            else if (key == "--optimizer")
                c.kind = v.get<std::string>();
            else if (key == "--lr")
                c.lr = v.get<float>();
            else if (key == "--momentum")
                c.momentum = v.get<float>();
            else if (key == "--beta1")
                c.beta1 = v.get<float>();
            else if (key == "--beta2")
                c.beta2 = v.get<float>();
            else if (key == "--eps")
                c.eps = v.get<float>();
            else if (key == "--rho")
                c.rho = v.get<float>();
            else if (key == "--alpha")
                c.alpha = v.get<float>();
            else if (key == "--l1")
                c.l1 = v.get<float>();
            else if (key == "--l2")
                c.l2 = v.get<float>();
            else if (key == "--no-decay-biases")
                c.decay_biases = !v.get<bool>();
            else if (key == "--layer-decay") {
                c.layer_decay.clear();
                for (const json& d : v)
                    c.layer_decay.insert(parse_layer_decay(d.get<std::string>()));
            } else if (key == "--freeze") {
                c.frozen.clear();
                for (const json& f : v) c.frozen.insert(f.get<std::string>());
            } else if (key == "--lr-schedule")
                o.schedule = LrSchedule::parse(v.get<std::string>());
            else if (key == "--normalise")
                o.normalisation = parse_normalisation(v.get<std::string>());
            else if (key == "--augment")
                o.augment = AugmentOptions::parse(v.get<std::string>());
            else if (key == "--early-stopping")
                o.early_stopping = v.get<int>();
            else if (key == "--min-delta")
                o.min_delta = v.get<double>();
            else if (key == "--micro-batches")
                o.micro_batches = v.get<int>();
            else
                throw std::invalid_argument("unknown option");
        } catch (const json::exception& e) {
            throw std::invalid_argument(key + ": malformed value " + v.dump() + ": " + e.what());
        } catch (const std::invalid_argument& e) {
            throw std::invalid_argument(key + ": " + e.what());
        }
    }
}

void check_train_options(const ir::Graph& g, const TrainOptions& o) {
    const std::vector<std::string> layers = learnable_layers(g);
    std::string known;
    for (const std::string& l : layers) known += (known.empty() ? "" : ", ") + l;
    auto check_layer = [&](const char* option, const std::string& layer) {
        if (std::find(layers.begin(), layers.end(), layer) == layers.end())
            throw std::invalid_argument(std::string(option) + " " + layer + ": " + g.name +
                                        " has no layer '" + layer +
                                        "' with learnable parameters (layers: " + known + ")");
    };
    for (const std::string& layer : o.optimizer.frozen) check_layer("--freeze", layer);
    for (const auto& [layer, d] : o.optimizer.layer_decay) check_layer("--layer-decay", layer);
    if (o.optimizer.frozen.size() == layers.size())
        throw std::invalid_argument(
            "--freeze: every layer with learnable parameters is frozen; "
            "nothing would be trained");
    o.optimizer.validate();
    if (o.epochs < 1)
        throw std::invalid_argument("--epochs must be >= 1, got " + std::to_string(o.epochs));
    if (o.batch < 1)
        throw std::invalid_argument("--batch must be >= 1, got " + std::to_string(o.batch));
    if (o.validation < 0)
        throw std::invalid_argument("--validation must be >= 0, got " +
                                    std::to_string(o.validation));
    if (o.limit < 0)
        throw std::invalid_argument("--limit must be >= 0, got " + std::to_string(o.limit));
    if (o.early_stopping < 0)
        throw std::invalid_argument("--early-stopping must be >= 1 (patience in epochs), got " +
                                    std::to_string(o.early_stopping));
    if (o.early_stopping > 0) EarlyStopping(o.early_stopping, o.min_delta);  // checks min_delta
    if (o.min_delta != 0 && o.early_stopping == 0)
        throw std::invalid_argument("--min-delta needs --early-stopping PATIENCE");
    if (o.validation == 0 && o.early_stopping > 0)
        throw std::invalid_argument("--early-stopping needs a validation split (--validation > 0)");
    if (o.validation == 0 && o.schedule.uses_validation_loss())
        throw std::invalid_argument("--lr-schedule " + o.schedule.spec() +
                                    " needs a validation split (--validation > 0)");
    o.augment.validate();
}

// --- the loop ----------------------------------------------------------------------------------

namespace {

using Clock = std::chrono::steady_clock;

double seconds_since(Clock::time_point t) {
    return std::chrono::duration<double>(Clock::now() - t).count();
}

std::vector<int64_t> input_extents(const ir::Graph& g, int64_t batch) {
    const Shape& s = g.node(g.input).shape;
    return {s.channels(), s.width(), s.height(), batch};
}

}  // namespace

StepOutputs::StepOutputs(const ir::Graph& g) {
    for (const ir::Param& p : g.params)
        (p.learnable ? grads : state).emplace_back(storage_extents(p));
}

void call_train_step(const PipelineEntry& step, const ModelState& s, halide_buffer_t* images,
                     halide_buffer_t* labels, int32_t seed, StepOutputs& out) {
    std::vector<void*> args{images, labels, &seed};
    for (halide_buffer_t* b : s.raw_params()) args.push_back(b);
    args.push_back(out.loss.raw());
    args.push_back(out.correct.raw());
    for (Tensor& t : out.grads) args.push_back(t.raw());
    for (Tensor& t : out.state) args.push_back(t.raw());
    invoke(step, args);
}

namespace {

// One generated training step on `count` images, then the optimizer; returns the mean loss and
// adds the step's correct classifications to `correct`.
double run_step(ModelState& s, const Pipelines& p, MicroBatchStep& step, Tensor& images,
                LabelTensor& labels, int64_t count, int32_t seed, float lr,
                OptimizerState& optimizer, StepOutputs& out, int64_t& correct) {
    step.run(p.train_step, s, images.raw_outer(count), labels.raw_outer(count), seed, out);
    // Running statistics come back from the step; copy them into the model, except a frozen
    // layer's: every tensor of a frozen layer stays as it was.
    const std::set<std::string>& frozen = optimizer.config().frozen;
    size_t k = 0;
    for (size_t i = 0; i < s.params.size(); ++i) {
        const ir::Param& param = s.graph->params[i];
        if (param.learnable) continue;
        if (!frozen.count(param.layer)) std::swap(s.params[i], out.state[k]);
        ++k;
    }
    optimizer.apply(s.params, out.grads, lr);
    correct += int64_t(out.correct.data()[0]);
    return out.loss.data()[0];
}

// The held-out validation images and the training images, from the seed alone.
struct Split {
    std::vector<int64_t> validation, training;
};

Split split_data(int64_t count, const TrainOptions& o) {
    std::mt19937_64 rng(o.seed);
    std::vector<int64_t> order = all_indices(count);
    std::shuffle(order.begin(), order.end(), rng);
    const int64_t held_out = std::min<int64_t>(o.validation, int64_t(order.size()) / 2);
    Split s;
    s.validation.assign(order.begin(), order.begin() + held_out);
    s.training.assign(order.begin() + held_out, order.end());
    if (o.limit > 0 && int64_t(s.training.size()) > o.limit) s.training.resize(size_t(o.limit));
    return s;
}

// Epoch e's order is a function of (seed, e) alone, so a resumed run shuffles exactly as the
// uninterrupted one would have (no generator state to carry in checkpoints).
std::vector<int64_t> epoch_order(const std::vector<int64_t>& training, uint64_t seed, int epoch) {
    std::seed_seq seq{uint32_t(seed), uint32_t(seed >> 32), uint32_t(epoch), 0x5eedu};
    std::mt19937_64 rng(seq);
    std::vector<int64_t> order = training;
    std::shuffle(order.begin(), order.end(), rng);
    return order;
}

void restore_from(const Checkpoint& ck, ModelState& s, OptimizerState& optimizer,
                  LrSchedule& schedule, std::optional<EarlyStopping>& early,
                  std::vector<Tensor>& best) {
    s.params = ck.params;
    s.normalisation = ck.normalisation;
    std::map<std::string, Tensor*> mine;
    for (auto& [name, t] : optimizer.tensors()) mine[name] = t;
    if (ck.optimizer_tensors.size() != mine.size())
        throw DataError("checkpoint: " + std::to_string(ck.optimizer_tensors.size()) +
                        " optimizer tensors, this run has " + std::to_string(mine.size()));
    for (const auto& [name, t] : ck.optimizer_tensors) {
        auto it = mine.find(name);
        if (it == mine.end() || it->second->extents() != t.extents())
            throw DataError("checkpoint: optimizer tensor " + name + " does not fit this run");
        *it->second = t;
    }
    optimizer.set_step(ck.optimizer_step);
    schedule.restore(ck.schedule);
    if (early) {
        if (ck.early_stopping.is_null() || ck.best_params.empty())
            throw std::invalid_argument(
                "--early-stopping: the checkpoint was made without early "
                "stopping; resume without it");
        early->restore(ck.early_stopping);
        best = ck.best_params;
    } else if (!ck.early_stopping.is_null()) {
        throw std::invalid_argument("the checkpoint was made with --early-stopping " +
                                    ck.options.value("--early-stopping", json()).dump() +
                                    "; resume with early stopping");
    }
}

}  // namespace

Evaluation evaluate(const ModelState& state, const Pipelines& p, const Dataset& data,
                    const std::vector<int64_t>& indices, int batch) {
    const ir::Graph& g = *state.graph;
    check_data_fits(g, data);
    if (indices.empty())
        return {std::numeric_limits<double>::quiet_NaN(), std::numeric_limits<double>::quiet_NaN()};
    const int64_t classes = g.node(g.logits).shape.elements();
    const Normaliser normalise(state.normalisation.mode, state.normalisation.stats,
                               input_channels(g));
    Tensor images(input_extents(g, batch));
    Tensor probs({classes, batch});
    const PreparedParams prepared(p.infer, state.raw_params());
    int64_t correct = 0;
    double loss_sum = 0;
    for (int64_t first = 0; first < int64_t(indices.size()); first += batch) {
        int64_t count = std::min<int64_t>(batch, int64_t(indices.size()) - first);
        fill_images(data.images, indices, first, count, normalise, images);
        // One channel (check_data_fits): the model program's NCHW images are the same memory.
        NchwView planar(images.data(), count, logical_shape(g.node(g.input).shape));
        prepared.run(planar.raw(), probs.raw_outer(count));
        for (int64_t i = 0; i < count; ++i) {
            const float* row = probs.data() + i * classes;
            const int64_t label = data.labels[size_t(indices[size_t(first + i)])];
            int64_t best = std::max_element(row, row + classes) - row;
            correct += best == label;
            loss_sum -= std::log(double(std::max(row[label], FLT_MIN)));
        }
    }
    const double n = double(indices.size());
    return {double(correct) / n, loss_sum / n};
}

namespace {

// The number of micro-batches per step: a resumed run's from its checkpoint unless asked.
int resolve_micro_batches(const ir::Graph& g, const Pipelines& p, const TrainOptions& o,
                          const Checkpoint* resume) {
    int requested = o.micro_batches;
    if (requested == 0 && resume && resume->options.contains("--micro-batches"))
        requested = resume->options["--micro-batches"].get<int>();
    return micro_batches_for(g, p.train_step, requested, o.batch);
}

}  // namespace

TrainReport train(ModelState& s, const Pipelines& p, const Dataset& data,
                  const TrainOptions& given, const Checkpoint* resume) {
    const ir::Graph& g = *s.graph;
    check_train_options(g, given);
    TrainOptions o = given;
    o.micro_batches = resolve_micro_batches(g, p, given, resume);
    check_data_fits(g, data);
    const Split split = split_data(data.images.count, o);
    if (split.training.empty())
        throw DataError("no training images left after the validation split");

    OptimizerState optimizer(g, o.optimizer);
    LrSchedule schedule = o.schedule;
    std::optional<EarlyStopping> early;
    if (o.early_stopping > 0) early.emplace(o.early_stopping, o.min_delta);
    std::vector<Tensor> best;  // the best epoch's parameters, with early stopping
    TrainReport r;
    int64_t images_total = 0;
    double train_seconds_total = 0;
    if (resume) {
        restore_from(*resume, s, optimizer, schedule, early, best);
        r.history = resume->history;
        r.resumed_at = resume->epochs_done;
        images_total = resume->images_seen;
        train_seconds_total = resume->train_seconds;
        if (resume->epochs_done > o.epochs)
            throw std::invalid_argument(
                "--epochs " + std::to_string(o.epochs) + ": the checkpoint already has " +
                std::to_string(resume->epochs_done) + " epochs done; ask for at least as many");
    } else {
        s.normalisation = {o.normalisation, measure_images(data.images, split.training)};
    }
    const Normaliser normalise(s.normalisation.mode, s.normalisation.stats, input_channels(g));
    std::optional<Augmenter> augmenter;
    if (o.augment.any()) augmenter.emplace(o.augment, o.seed);

    StepOutputs outputs(g);
    MicroBatchStep step(g, o.micro_batches);
    r.micro_batches = o.micro_batches;
    const Shape& in = g.node(g.input).shape;
    const int64_t image_values = in.elements();
    Tensor images(input_extents(g, o.batch));
    LabelTensor labels({o.batch});
    auto start = Clock::now();
    double train_seconds = 0;
    const std::string title = g.name + ": training curves";
    for (int epoch = r.resumed_at; epoch < o.epochs; ++epoch) {
        if (early && early->should_stop()) {
            r.stopped_early = true;
            break;
        }
        const std::vector<int64_t> order = epoch_order(split.training, o.seed, epoch);
        const float lr = float(schedule.rate(epoch, o.optimizer.lr));
        std::optional<Progress> progress;
        if (o.verbose)
            progress.emplace("epoch " + std::to_string(epoch + 1) + "/" + std::to_string(o.epochs),
                             int64_t(order.size()));
        auto epoch_start = Clock::now();
        double loss_sum = 0;
        int64_t steps = 0, correct = 0;
        for (int64_t first = 0; first < int64_t(order.size()); first += o.batch) {
            int64_t count = std::min<int64_t>(o.batch, int64_t(order.size()) - first);
            fill_images(data.images, order, first, count, normalise, images);
            for (int64_t i = 0; i < count; ++i) {
                const int64_t sample = order[size_t(first + i)];
                labels.data()[i] = data.labels[size_t(sample)];
                if (augmenter)
                    augmenter->apply(images.data() + i * image_values, int(in.channels()),
                                     int(in.width()), int(in.height()), uint64_t(sample),
                                     uint64_t(epoch));
            }
            int32_t seed = int32_t(o.seed * 1000003 + uint64_t(epoch) * 100003 + uint64_t(steps));
            double loss =
                run_step(s, p, step, images, labels, count, seed, lr, optimizer, outputs, correct);
            if (!std::isfinite(loss))
                throw std::runtime_error("training diverged: loss is " + std::to_string(loss) +
                                         " in epoch " + std::to_string(epoch + 1) + "; lower --lr");
            loss_sum += loss * double(count);
            ++steps;
            r.images_seen += count;
            if (progress) progress->update(first + count, loss_sum / double(first + count));
        }
        const double epoch_seconds = seconds_since(epoch_start);
        train_seconds += epoch_seconds;
        EpochRecord rec;
        rec.epoch = epoch + 1;
        rec.train_loss = loss_sum / double(order.size());
        rec.train_accuracy = double(correct) / double(order.size());
        rec.learning_rate = lr;
        if (progress) progress->finish(rec.train_loss);
        const Evaluation v = evaluate(s, p, data, split.validation);
        rec.validation_loss = v.loss;
        rec.validation_accuracy = v.accuracy;
        rec.seconds = seconds_since(epoch_start);
        r.history.push_back(rec);
        schedule.observe(v.loss);
        bool improved = early && early->improved(v.accuracy);
        if (improved) best = s.params;

        if (!o.checkpoint.empty()) {
            Checkpoint ck;
            ck.epochs_done = epoch + 1;
            ck.options = train_options_json(o);
            ck.params = s.params;
            ck.normalisation = s.normalisation;
            ck.optimizer_step = optimizer.step();
            for (auto& [name, t] : optimizer.tensors()) ck.optimizer_tensors.emplace_back(name, *t);
            ck.schedule = schedule.state();
            ck.early_stopping = early ? early->state() : json();
            ck.best_params = best;
            ck.history = r.history;
            ck.images_seen = images_total + r.images_seen;
            ck.train_seconds = train_seconds_total + train_seconds;
            save_checkpoint(o.checkpoint, g, ck);
        }
        if (!o.history.empty()) {
            write_csv(o.history + ".csv", r.history);
            write_svg(o.history + ".svg", r.history, title);
        }
        if (o.verbose) {
            std::printf("epoch %d/%d: train loss %.4f accuracy %.2f%%", epoch + 1, o.epochs,
                        rec.train_loss, 100.0 * rec.train_accuracy);
            if (!split.validation.empty())
                std::printf(", validation loss %.4f accuracy %.2f%%", v.loss, 100.0 * v.accuracy);
            std::printf(", lr %.4g, %.1f s%s\n", double(lr), rec.seconds,
                        improved ? " (best so far)" : "");
            std::fflush(stdout);
        }
    }
    // An early stop found on the last epoch is not an early stop: every epoch ran.
    r.epochs_done = r.history.empty() ? 0 : r.history.back().epoch;
    if (early && early->best_epoch() >= 0) {
        s.params = best;
        r.best_epoch = early->best_epoch() + 1;
    } else {
        r.best_epoch = r.epochs_done;
    }
    if (r.best_epoch > 0) {
        const EpochRecord& b = r.history[size_t(r.best_epoch - 1)];
        r.validation_accuracy = b.validation_accuracy;
        r.validation_loss = b.validation_loss;
    } else {
        r.validation_accuracy = r.validation_loss = std::numeric_limits<double>::quiet_NaN();
    }
    if (!r.history.empty()) {
        r.final_loss = r.history.back().train_loss;
        r.train_accuracy = r.history.back().train_accuracy;
    }
    r.seconds = seconds_since(start);
    r.images_per_second = train_seconds > 0 ? double(r.images_seen) / train_seconds : 0;
    return r;
}

}  // namespace cnnc::runtime
