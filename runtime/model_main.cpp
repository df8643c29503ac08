// The subcommands of a model program (bin/<model>): summary, train, eval, infer, gradients, ...
#include "runtime/model_main.h"

#include <CLI/CLI.hpp>
#include <malloc.h>
#include <algorithm>
#include <charconv>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <iostream>
#include <nlohmann/json.hpp>
#include <optional>

#include "compiler/passes/shape_inference.h"
#include "compiler/passes/summary.h"
#include "runtime/checkpoint.h"
#include "runtime/errors.h"
#include "runtime/export.h"
#include "runtime/gradients.h"
#include "runtime/inference.h"
#include "runtime/transfer.h"

namespace cnnc::runtime {
namespace {

using json = nlohmann::json;
using Clock = std::chrono::steady_clock;

struct Common {
    bool json = false;
    std::string data_dir = default_fashion_mnist_dir;
    std::string weights;
    int64_t test_limit = 0;  // test on the first this many test images (0: all)
};

// The test images a run evaluates on: all, or the first --test-limit of them.
std::vector<int64_t> test_indices(const Dataset& test_set, const Common& c) {
    if (c.test_limit < 0)
        throw std::invalid_argument("--test-limit " + std::to_string(c.test_limit) +
                                    ": give a number of images >= 1 (0: all)");
    const int64_t count = test_set.images.count;
    return all_indices(c.test_limit > 0 ? std::min(c.test_limit, count) : count);
}

// Figures for scripts: one JSON object, always the last line of output.
void print_json(const json& j) { std::cout << j.dump() << std::endl; }

int cmd_summary(const ir::Graph& g, const Common& c) {
    passes::Summary s = passes::summarize(g);
    if (!c.json) {
        std::cout << "model " << g.name << ": input " << to_string(g.node(g.input).shape) << "\n"
                  << passes::summary_table(s);
        return 0;
    }
    std::cout << passes::summary_table(s);
    print_json({{"model", g.name},
                {"parameters", s.parameters},
                {"macs", s.macs},
                {"activation_bytes", s.activation_bytes},
                {"peak_activation_bytes", s.peak_activation_bytes}});
    return 0;
}

ModelState load_state(const ir::Graph& g, const std::string& path) {
    return ModelState::from_file(g, load_params(path), path);
}

// Command-line text of the options that need parsing beyond CLI11's, and the paths of a run.
struct TrainCli {
    std::string schedule = default_lr_schedule;
    std::string normalise = "standardise";
    std::string augment = "none";
    std::vector<std::string> layer_decay, freeze;
    std::string checkpoint;  // default <weights>.ckpt
    std::string resume, init_from;
    float removed_lr_decay = 0;  // --lr-decay, replaced by --lr-schedule: only to say so
    CLI::App* app = nullptr;     // the train subcommand: which options were given
};

bool given(const TrainCli& t, const std::string& option) {
    try {
        return t.app->get_option(option)->count() > 0;
    } catch (const CLI::OptionNotFound&) {
        return false;
    }
}

// An option's value as it would be typed: floats that came from a float in their shortest form.
std::string value_text(const json& v) {
    if (v.is_string()) return v.get<std::string>();
    if (v.is_number_float()) {
        double d = v.get<double>();
        char buf[32];
        auto [end, ec] = float(d) == d ? std::to_chars(buf, buf + sizeof buf, float(d))
                                       : std::to_chars(buf, buf + sizeof buf, d);
        return std::string(buf, ec == std::errc() ? end : buf);
    }
    if (v.is_array()) {
        std::string out;
        for (const json& e : v) out += (out.empty() ? "" : " ") + value_text(e);
        return out.empty() ? "(none)" : out;
    }
    return v.dump();
}

// Parses one option's text with `parse`, naming the option in any error.
template <typename F>
auto parse_option(const std::string& option, const std::string& text, F&& parse) {
    try {
        return parse(text);
    } catch (const std::invalid_argument& e) {
        throw std::invalid_argument(option + " \"" + text + "\": " + e.what());
    }
}

void parse_train_cli(const TrainCli& t, TrainOptions& o) {
    if (given(t, "--lr-decay"))
        throw std::invalid_argument(
            "--lr-decay was replaced by --lr-schedule: use --lr-schedule exponential:gamma=" +
            value_text(json(t.removed_lr_decay)));
    o.schedule = parse_option("--lr-schedule", t.schedule,
                              [](const std::string& s) { return LrSchedule::parse(s); });
    o.normalisation = parse_option("--normalise", t.normalise,
                                   [](const std::string& s) { return parse_normalisation(s); });
    o.augment = parse_option("--augment", t.augment,
                             [](const std::string& s) { return AugmentOptions::parse(s); });
    for (const std::string& text : t.layer_decay) {
        auto [layer, decay] = parse_layer_decay(text);
        if (!o.optimizer.layer_decay.emplace(layer, decay).second)
            throw std::invalid_argument("--layer-decay: layer '" + layer + "' given twice");
    }
    for (const std::string& layer : t.freeze) o.optimizer.frozen.insert(layer);
}

// A resumed run takes its options from the checkpoint. An option given on the command line must
// agree with it, except those that do not change the steps already taken: --epochs (not in the
// saved options), the early-stopping patience (when the run had early stopping) and --min-delta.
void merge_resumed_options(const TrainCli& t, const Checkpoint& ck, TrainOptions& o) {
    const json now = train_options_json(o);
    json merged = ck.options;
    std::string conflicts;
    for (const auto& [key, saved] : ck.options.items()) {
        if (!now.contains(key) || now[key] == saved || !given(t, key)) continue;
        const bool may_change =
            key == "--min-delta" || (key == "--early-stopping" && saved.is_number_integer() &&
                                     saved.get<int>() > 0 && now[key].get<int>() > 0);
        if (may_change)
            merged[key] = now[key];
        else
            conflicts += "\n  " + key + " " + value_text(now[key]) + " here, " + value_text(saved) +
                         " in the checkpoint";
    }
    if (!conflicts.empty())
        throw std::invalid_argument(
            "--resume " + t.resume + ": the run was made with other options:" + conflicts +
            "\n(a resumed run takes the checkpoint's options; leave these out, or give the same "
            "values; only --epochs, the --early-stopping patience and --min-delta may change)");
    apply_train_options_json(o, merged);
}

// Refuses up front a path whose folder does not exist, rather than after hours of training.
void check_writable_folder(const std::string& option, const std::string& path) {
    std::filesystem::path folder = std::filesystem::path(path).parent_path();
    if (!folder.empty() && !std::filesystem::is_directory(folder))
        throw std::invalid_argument(option + " " + path + ": folder " + folder.string() +
                                    " does not exist");
}

json finite_or_null(double v) { return std::isfinite(v) ? json(v) : json(nullptr); }

// The training step is left out of models built with cnnc_add_model(... INFERENCE_ONLY).
void require_training(const ir::Graph& g, const Pipelines& p, const char* what) {
    if (!p.train_step.call)
        throw std::invalid_argument(g.name + " was built for inference only (cnnc_add_model "
                                    "INFERENCE_ONLY): it has no training step to " + what);
}

int cmd_train(const ir::Graph& g, const Pipelines& p, const Common& c, TrainOptions o, TrainCli t) {
    require_training(g, p, "train with");
    parse_train_cli(t, o);
    if (t.checkpoint.empty()) t.checkpoint = c.weights + ".ckpt";
    if (!t.resume.empty() && !t.init_from.empty())
        throw std::invalid_argument(
            "--init-from and --resume exclude each other: a resumed run "
            "takes its weights from the checkpoint");
    std::optional<Checkpoint> ck;
    if (!t.resume.empty()) {
        ck = load_checkpoint(t.resume, g);
        merge_resumed_options(t, *ck, o);
    }
    check_train_options(g, o);
    check_writable_folder("--weights", c.weights);
    check_writable_folder("--checkpoint", t.checkpoint);
    o.checkpoint = t.checkpoint;
    o.history = c.weights;
    o.verbose = true;

    Dataset train_set = load_fashion_mnist(c.data_dir, true);
    Dataset test_set = load_fashion_mnist(c.data_dir, false);
    ModelState state = ModelState::initialised(g, o.seed);
    if (ck) {
        std::printf("resuming %s after epoch %d of %d\n", t.resume.c_str(), ck->epochs_done,
                    o.epochs);
    } else if (!t.init_from.empty()) {
        TransferReport tr = init_from(state, load_params(t.init_from), t.init_from);
        std::printf("initialised from %s: %zu of %zu parameters loaded", t.init_from.c_str(),
                    tr.loaded.size(), g.params.size());
        if (!tr.unused.empty()) std::printf(" (%zu tensors of the file unused)", tr.unused.size());
        std::printf("\n");
        for (const std::string& f : tr.fresh) {
            std::printf("  initialised fresh: %s\n", f.c_str());
            std::string layer = f.substr(0, f.find('.'));
            if (o.optimizer.frozen.count(layer))
                std::printf(
                    "  warning: layer %s is frozen but was not loaded: it stays at its "
                    "random initialisation\n",
                    layer.c_str());
        }
    }
    TrainReport r = train(state, p, train_set, o, ck ? &*ck : nullptr);
    Evaluation test = evaluate(state, p, test_set, test_indices(test_set, c));
    json figures = {{"model", g.name},
                    {"test_accuracy", test.accuracy},
                    {"test_loss", finite_or_null(test.loss)},
                    {"test_images", test_indices(test_set, c).size()},
                    {"validation_accuracy", finite_or_null(r.validation_accuracy)},
                    {"validation_loss", finite_or_null(r.validation_loss)},
                    {"loss", r.final_loss},
                    {"train_accuracy", r.train_accuracy},
                    {"images_per_second", r.images_per_second},
                    {"epochs", r.epochs_done},
                    {"epochs_requested", o.epochs},
                    {"best_epoch", r.best_epoch},
                    {"stopped_early", r.stopped_early},
                    {"seconds", r.seconds},
                    {"micro_batches", r.micro_batches},
                    {"weights", c.weights},
                    {"checkpoint", o.checkpoint},
                    {"history_csv", o.history + ".csv"},
                    {"curves_svg", o.history + ".svg"}};
    if (ck) {
        figures["resumed_from"] = t.resume;
        figures["resumed_at_epoch"] = r.resumed_at;
    }
    if (!t.init_from.empty()) figures["init_from"] = t.init_from;
    json meta = figures;
    TrainOptions used = o;
    used.micro_batches = r.micro_batches;
    meta["options"] = train_options_json(used);
    save_params(c.weights, state.to_file(meta.dump()));
    if (r.stopped_early)
        std::printf(
            "stopped early after epoch %d: no improvement of the validation accuracy for "
            "%d epochs\n",
            r.epochs_done, o.early_stopping);
    std::printf(
        "trained %s: test accuracy %.2f%%, %.0f images/s, %.1f s; weights (epoch %d) in "
        "%s, curves in %s.svg\n",
        g.name.c_str(), 100.0 * test.accuracy, r.images_per_second, r.seconds, r.best_epoch,
        c.weights.c_str(), o.history.c_str());
    if (c.json) print_json(figures);
    return 0;
}

int cmd_eval(const ir::Graph& g, const Pipelines& p, const Common& c) {
    ModelState state = load_state(g, c.weights);
    Dataset test_set = load_fashion_mnist(c.data_dir, false);
    const std::vector<int64_t> tested = test_indices(test_set, c);
    Evaluation test = evaluate(state, p, test_set, tested);
    std::printf("%s: test accuracy %.2f%%, loss %.4f on %zu images\n", g.name.c_str(),
                100.0 * test.accuracy, test.loss, tested.size());
    if (c.json)
        print_json({{"model", g.name}, {"test_accuracy", test.accuracy}, {"test_loss", test.loss}});
    return 0;
}

// Float tensors in, float tensors out, in PyTorch's layout: how other tools check and use a model.
int cmd_infer(const ir::Graph& g, const Pipelines& p, const Common& c, const std::string& input,
              const std::string& output) {
    ModelState state = load_state(g, c.weights);
    NchwBatch out = infer_nchw(state, p.infer,
                               read_nchw_file(input, logical_shape(g.node(g.input).shape)));
    write_f32_file(output, out.values);
    std::printf("%s: %lld images from %s, outputs in %s\n", g.name.c_str(),
                static_cast<long long>(out.n), input.c_str(), output.c_str());
    if (c.json)
        print_json({{"model", g.name}, {"images", out.n}, {"output", output},
                    {"output_shape", out.shape}});
    return 0;
}

// One training step's gradients on given tensors, for checking the generated backward pass.
struct GradientsCli {
    std::string input, labels, output;
    int32_t seed = 1;
};

int cmd_gradients(const ir::Graph& g, const Pipelines& p, const Common& c, const GradientsCli& a) {
    require_training(g, p, "compute gradients with");
    ModelState state = load_state(g, c.weights);
    NchwBatch images = read_nchw_file(a.input, logical_shape(g.node(g.input).shape));
    const Shape& out = g.node(g.logits).shape;
    const int64_t per_image = out.rank == 3 ? out.width() * out.height() : 1;
    std::vector<int32_t> labels = read_labels_file(a.labels, images.n, per_image, out.channels());
    ParamFile f = step_gradients(state, p.train_step, images, labels, a.seed);
    save_params(a.output, f);
    const double loss = json::parse(f.meta_json).at("loss");
    std::printf("%s: loss %.6f on %lld images; gradients and updated statistics in %s\n",
                g.name.c_str(), loss, static_cast<long long>(images.n), a.output.c_str());
    if (c.json)
        print_json({{"model", g.name}, {"loss", loss}, {"images", images.n}, {"output", a.output}});
    return 0;
}

// Median of timed runs: at least 5, more until about two seconds have passed (at most 200).
template <typename F>
double median_ms(F&& f) {
    std::vector<double> ms;
    const auto start = Clock::now();
    while (ms.size() < 5 || (ms.size() < 200 && Clock::now() - start < std::chrono::seconds(2))) {
        auto t = Clock::now();
        f();
        ms.push_back(std::chrono::duration<double, std::milli>(Clock::now() - t).count());
    }
    std::nth_element(ms.begin(), ms.begin() + ms.size() / 2, ms.end());
    return ms[ms.size() / 2];
}

// Training images/s in the steady state, as the peer measures it: two steps to warm up (scratch
// memory, page faults, threads), then at least three epochs of `data` and about three seconds.
TrainReport time_training(const ir::Graph& g, const Pipelines& p, const Dataset& data,
                          int micro_batches) {
    TrainOptions o;
    o.epochs = 1;
    o.validation = 0;
    o.verbose = false;
    o.micro_batches = micro_batches;
    o.limit = 2 * o.batch;
    ModelState warm = ModelState::initialised(g, 1);
    const TrainReport warm_up = train(warm, p, data, o);
    const double seconds_per_epoch =
        warm_up.seconds * double(data.images.count) / double(warm_up.images_seen);
    o.limit = 0;
    o.epochs = int(std::clamp(std::ceil(3.0 / seconds_per_epoch), 3.0, 1000.0));
    ModelState state = ModelState::initialised(g, 1);
    return train(state, p, data, o);
}

// Synthetic data is enough to time: the pipelines' work does not depend on pixel values.
int cmd_bench(const ir::Graph& g, const Pipelines& p, const Common& c, int micro_batches) {
    ModelState state = std::filesystem::exists(c.weights) ? load_state(g, c.weights)
                                                          : ModelState::initialised(g, 1);
    const Shape& in = g.node(g.input).shape;
    NchwBatch one{1, logical_shape(in), std::vector<float>(size_t(in.elements()), 0.5f)};
    NchwInference inference(state, p.infer);
    const double infer_ms = median_ms([&] { inference.run(one); });
    json figures = {{"model", g.name}, {"infer_ms_batch1", infer_ms}};
    std::printf("%s: inference %.3f ms/image at batch 1 (NCHW in and out)", g.name.c_str(),
                infer_ms);
    if (p.train_step.call) {
        const int64_t classes = g.node(g.logits).shape.elements();
        Dataset data;
        data.images = {512, in.height(), in.width(),
                       std::vector<uint8_t>(size_t(512 * in.elements()), 128)};
        for (int64_t i = 0; i < 512; ++i) data.labels.push_back(uint8_t(i % classes));
        const TrainReport r = time_training(g, p, data, micro_batches);
        const int batch = TrainOptions{}.batch;
        std::printf("; training %.0f images/s at batch %d in %d micro-batches (%d epochs of %d)",
                    r.images_per_second, batch, r.micro_batches, r.epochs_done,
                    int(data.images.count));
        figures["train_images_per_second"] = r.images_per_second;
        figures["train_batch"] = batch;
        figures["train_micro_batches"] = r.micro_batches;
    }
    std::printf("\n");
    if (c.json) print_json(figures);
    return 0;
}

int cmd_export(const ir::Graph& g, const ModelProgram& prog, const Common& c,
               const ExportOptions& o) {
    ModelState state = load_state(g, c.weights);
    ExportOptions with_records = o;
    with_records.records_dir = prog.records_dir;
    ExportedFiles f = export_library(state, prog.compiler, with_records);
    std::printf("exported %s and %s%s%s\n", f.library.c_str(), f.header.c_str(),
                f.weights.empty() ? "" : " with weights ", f.weights.c_str());
    if (c.json) {
        json figures = {{"model", g.name},
                        {"library", f.library},
                        {"header", f.header},
                        {"library_bytes", std::filesystem::file_size(f.library)}};
        if (!f.weights.empty()) {
            figures["weights"] = f.weights;
            figures["weights_bytes"] = std::filesystem::file_size(f.weights);
        }
        print_json(figures);
    }
    return 0;
}

// `tune`: the model's compiler measures schedule candidates on this machine and writes records
// that the next build of the model (and `export`) picks up.
struct TuneCli {
    std::string target = "host", records;
    double budget = 600;
    int max_candidates = 0;  // 0: all of them
    bool inference_only = false;
    bool check = false;
};

int cmd_tune(const ModelProgram& prog, const Common& c, const TuneCli& t) {
    if (t.budget <= 0)
        throw std::runtime_error("tune: --budget must be positive, not " +
                                 std::to_string(t.budget));
    if (t.max_candidates < 0)
        throw std::runtime_error("tune: --max-candidates must be 0 (all) or more, not " +
                                 std::to_string(t.max_candidates));
    std::vector<std::string> args{"--tune",    "--target",  t.target,
                                  "--budget",  std::to_string(t.budget),
                                  "--records", t.records.empty() ? prog.records_dir : t.records};
    if (t.max_candidates > 0)
        args.insert(args.end(), {"--max-candidates", std::to_string(t.max_candidates)});
    if (c.json) args.push_back("--json");
    if (t.check) args.push_back("--check");
    // Forward and backward: a program with a training step tunes its kernels too, at the batch
    // `train` uses by default.
    if (prog.train_step.call && !t.inference_only)
        args.insert(args.end(), {"--training-batch", "64"});
    return run_model_compiler(prog.compiler, args);
}

}  // namespace

int model_main(int argc, char** argv, const ModelProgram& prog) {
    // Generated pipelines allocate their intermediate buffers on every call (megabytes each for
    // a ResNet training step). Above glibc's mmap threshold each allocation maps fresh pages that
    // the kernel must zero: a third of a ResNet-18 step's time went to page faults. Keeping them
    // on the heap lets later calls reuse the memory.
    mallopt(M_MMAP_THRESHOLD, 1 << 30);
    mallopt(M_TRIM_THRESHOLD, 1 << 30);
    try {
        ir::Graph g = passes::build_graph(prog.build_model());
        Pipelines p{prog.infer, prog.train_step};
        Common c;
        c.weights = g.name + ".cnnp";
        TrainOptions o;
        TrainCli t;
        ExportOptions export_options;

        CLI::App app{g.name + ": a cnnc-compiled model"};
        app.require_subcommand(1);
        auto common = [&](CLI::App* s, bool data) {
            s->add_flag("--json", c.json, "print the figures as one JSON object, last line");
            s->add_option("--weights", c.weights, "parameter file")->capture_default_str();
            if (!data) return;
            s->add_option("--data", c.data_dir, "Fashion-MNIST folder")->capture_default_str();
            s->add_option("--test-limit", c.test_limit,
                          "test on the first this many test images (default: all 10,000)");
        };
        auto* summary = app.add_subcommand("summary", "per-layer shapes, parameters and MACs");
        summary->add_flag("--json", c.json, "end with one JSON line of totals");
        auto* train_cmd = app.add_subcommand("train", "train on Fashion-MNIST, then test");
        t.app = train_cmd;
        common(train_cmd, true);
        // Ranges are checked by check_train_options, with messages that name option and value.
        train_cmd->add_option("--epochs", o.epochs, "epochs in total (a resumed run's included)")
            ->capture_default_str();
        train_cmd->add_option("--batch", o.batch)->capture_default_str();
        train_cmd
            ->add_option("--optimizer", o.optimizer.kind,
                         "sgd, momentum, nesterov, adagrad, adadelta, rmsprop or adam")
            ->capture_default_str();
        train_cmd
            ->add_option("--lr", o.optimizer.lr,
                         "learning rate of the first epoch (then --lr-schedule)")
            ->capture_default_str();
        train_cmd->add_option("--lr-decay", t.removed_lr_decay)
            ->group("");  // says what replaced it
        train_cmd
            ->add_option("--lr-schedule", t.schedule,
                         "constant, step:every=S[,gamma=G], exponential:gamma=G, "
                         "cosine:epochs=T[,min=M], plateau[:factor=F,patience=P,...]")
            ->capture_default_str();
        train_cmd->add_option("--momentum", o.optimizer.momentum)->capture_default_str();
        train_cmd->add_option("--beta1", o.optimizer.beta1, "adam")->capture_default_str();
        train_cmd->add_option("--beta2", o.optimizer.beta2, "adam")->capture_default_str();
        train_cmd->add_option("--eps", o.optimizer.eps)->capture_default_str();
        train_cmd->add_option("--rho", o.optimizer.rho, "adadelta")->capture_default_str();
        train_cmd->add_option("--alpha", o.optimizer.alpha, "rmsprop")->capture_default_str();
        train_cmd->add_option("--weight-decay,--l2", o.optimizer.l2, "L2 weight decay")
            ->capture_default_str();
        train_cmd->add_option("--l1", o.optimizer.l1, "L1 weight decay")->capture_default_str();
        train_cmd->add_flag("!--no-decay-biases", o.optimizer.decay_biases,
                            "weight decay on weights only");
        train_cmd
            ->add_option("--layer-decay", t.layer_decay,
                         "NAME=L1,L2: weight decay of one layer (repeatable)")
            ->expected(1)
            ->multi_option_policy(CLI::MultiOptionPolicy::TakeAll);
        train_cmd
            ->add_option("--freeze", t.freeze,
                         "NAME: leave this layer's tensors as they are "
                         "(repeatable)")
            ->expected(1)
            ->multi_option_policy(CLI::MultiOptionPolicy::TakeAll);
        train_cmd->add_option("--validation", o.validation, "held-out training images")
            ->capture_default_str();
        train_cmd->add_option("--limit", o.limit, "train on at most this many images");
        train_cmd->add_option("--seed", o.seed)->capture_default_str();
        train_cmd->add_option("--early-stopping", o.early_stopping,
                              "PATIENCE: stop after this many epochs without a better validation "
                              "accuracy, keep the best epoch's weights");
        train_cmd->add_option("--min-delta", o.min_delta,
                              "early stopping: accuracy gain (fraction) that counts");
        train_cmd->add_option("--normalise", t.normalise, "scale, center or standardise")
            ->capture_default_str();
        train_cmd
            ->add_option("--augment", t.augment,
                         "crop=P,flip,translate=T,rotate=DEG,brightness=B,contrast=C,noise=N")
            ->capture_default_str();
        train_cmd
            ->add_option("--micro-batches", o.micro_batches,
                         "split each batch into N parts that run side by side, one per thread "
                         "(0: one per thread for models without batch norm, else 1)")
            ->capture_default_str();
        train_cmd->add_option("--checkpoint", t.checkpoint,
                              "written after every epoch (default <weights>.ckpt)");
        train_cmd->add_option("--resume", t.resume, "continue the run of this checkpoint");
        train_cmd->add_option("--init-from", t.init_from,
                              "start from another model's parameters, matched by name and shape");
        auto* eval_cmd = app.add_subcommand("eval", "test accuracy of a parameter file");
        common(eval_cmd, true);
        auto* infer_cmd =
            app.add_subcommand("infer", "run inference on float32 images in PyTorch's layout");
        common(infer_cmd, false);
        std::string infer_input, infer_output;
        infer_cmd
            ->add_option("--input", infer_input,
                         "raw little-endian float32, N images in C,H,W order (NCHW), taken as "
                         "they are (no input normalisation)")
            ->required();
        infer_cmd
            ->add_option("--output", infer_output,
                         "raw float32 probabilities, N x classes (or N x classes x H x W)")
            ->required();
        auto* grad_cmd = app.add_subcommand(
            "gradients", "one training step's gradients on float32 images and int32 labels");
        common(grad_cmd, false);
        GradientsCli grad;
        grad_cmd->add_option("--input", grad.input, "images as for infer (NCHW float32)")
            ->required();
        grad_cmd
            ->add_option("--labels", grad.labels,
                         "raw little-endian int32 classes: one per image (N x H x W per pixel)")
            ->required();
        grad_cmd
            ->add_option("--output", grad.output,
                         "parameter file: each learnable tensor's gradient of the mean loss, "
                         "each running statistic as the step updates it")
            ->required();
        grad_cmd->add_option("--seed", grad.seed, "dropout's random stream")->capture_default_str();
        auto* bench_cmd = app.add_subcommand("bench", "inference latency and training speed");
        common(bench_cmd, false);
        bench_cmd->add_option("--micro-batches", o.micro_batches, "as for train")
            ->capture_default_str();
        auto* export_cmd = app.add_subcommand("export", "standalone static library + C header");
        common(export_cmd, false);
        export_cmd->add_option("--out", export_options.out_dir, "output folder")->required();
        export_cmd
            ->add_option("--target", export_options.targets,
                         "Halide target(s), comma-separated: one variant each, the best for the "
                         "CPU picked at run time (host, x86-64-linux-avx2, arm-64-linux, "
                         "wasm-32-wasmrt, ...)")
            ->delimiter(',')
            ->capture_default_str();
        bool embed_weights = false;
        auto* embed = export_cmd->add_flag("--embed-weights", embed_weights,
                                           "weights inside the library (the default)");
        export_cmd
            ->add_flag("--external-weights", export_options.external_weights,
                       "weights in <out>/<model>.weights, checked when a context is created")
            ->excludes(embed);
        export_cmd->add_option("--batch", export_options.batch,
                               "export for exactly this batch (fastest); default: variable");
        export_cmd
            ->add_option("--max-batch", export_options.max_batch,
                         "the largest batch of a variable-batch library")
            ->capture_default_str();
        auto* tune_cmd = app.add_subcommand(
            "tune", "search schedule parameters on this machine; the next build uses them");
        TuneCli tune;
        tune_cmd->add_flag("--json", c.json, "end with one JSON line");
        tune_cmd->add_option("--target", tune.target, "Halide target to tune for (this CPU runs it)")
            ->capture_default_str();
        tune_cmd->add_option("--budget", tune.budget, "seconds of tuning, end-to-end check included")
            ->capture_default_str();
        tune_cmd->add_option("--max-candidates", tune.max_candidates,
                             "each kernel's first N candidates at most (0: all)")
            ->capture_default_str();
        tune_cmd->add_flag("--check", tune.check,
                           "no search: measure the records already there against the defaults");
        tune_cmd->add_flag("--inference-only", tune.inference_only,
                           "leave the training step's kernels as they are");
        tune_cmd->add_option("--records", tune.records,
                             "where the records go (default: the source tree's schedules/records, "
                             "which the build reads)");
        CLI11_PARSE(app, argc, argv);

        if (tune_cmd->parsed()) return cmd_tune(prog, c, tune);
        if (summary->parsed()) return cmd_summary(g, c);
        if (train_cmd->parsed()) return cmd_train(g, p, c, o, t);
        if (eval_cmd->parsed()) return cmd_eval(g, p, c);
        if (infer_cmd->parsed()) return cmd_infer(g, p, c, infer_input, infer_output);
        if (grad_cmd->parsed()) return cmd_gradients(g, p, c, grad);
        if (bench_cmd->parsed()) return cmd_bench(g, p, c, o.micro_batches);
        if (export_cmd->parsed()) return cmd_export(g, prog, c, export_options);
    } catch (const ShapeError& e) {
        std::cerr << argv[0] << ": shape error: " << e.what() << "\n";
    } catch (const std::exception& e) {
        std::cerr << argv[0] << ": error: " << e.what() << "\n";
    }
    return 1;
}

}  // namespace cnnc::runtime
