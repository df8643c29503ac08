// Subcommands of a model program (bin/<model>): summary, train, eval, bench, export.
#include "runtime/model_main.h"

#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <iostream>

#include "compiler/passes/shape_inference.h"
#include "compiler/passes/summary.h"
#include "runtime/errors.h"
#include "runtime/export.h"

namespace cnnc::runtime {
namespace {

using json = nlohmann::json;
using Clock = std::chrono::steady_clock;

struct Common {
    bool json = false;
    std::string data_dir = default_fashion_mnist_dir;
    std::string weights;
};

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
    print_json({{"model", g.name}, {"parameters", s.parameters}, {"macs", s.macs},
                {"activation_bytes", s.activation_bytes}});
    return 0;
}

ModelState load_state(const ir::Graph& g, const std::string& path) {
    return ModelState::from_file(g, load_params(path), path);
}

int cmd_train(const ir::Graph& g, const Pipelines& p, const Common& c, TrainOptions o) {
    Dataset train_set = load_fashion_mnist(c.data_dir, true);
    Dataset test_set = load_fashion_mnist(c.data_dir, false);
    ModelState state = ModelState::initialised(g, o.seed);
    state.preprocessing = measure_preprocessing(train_set.images);
    o.verbose = true;
    TrainReport r = train(state, p, train_set, o);
    double test_accuracy = evaluate(state, p, test_set, all_indices(test_set.images.count));
    json figures = {{"model", g.name},
                    {"test_accuracy", test_accuracy},
                    {"validation_accuracy", r.validation_accuracy},
                    {"loss", r.final_loss},
                    {"images_per_second", r.images_per_second},
                    {"epochs", o.epochs},
                    {"seconds", r.seconds},
                    {"weights", c.weights}};
    save_params(c.weights, state.to_file(figures.dump()));
    std::printf("trained %s: test accuracy %.2f%%, %.0f images/s, %.1f s; weights in %s\n",
                g.name.c_str(), 100.0 * test_accuracy, r.images_per_second, r.seconds,
                c.weights.c_str());
    if (c.json) print_json(figures);
    return 0;
}

int cmd_eval(const ir::Graph& g, const Pipelines& p, const Common& c) {
    ModelState state = load_state(g, c.weights);
    Dataset test_set = load_fashion_mnist(c.data_dir, false);
    double accuracy = evaluate(state, p, test_set, all_indices(test_set.images.count));
    std::printf("%s: test accuracy %.2f%% on %lld images\n", g.name.c_str(), 100.0 * accuracy,
                static_cast<long long>(test_set.images.count));
    if (c.json) print_json({{"model", g.name}, {"test_accuracy", accuracy}});
    return 0;
}

template <typename F>
double median_ms(int runs, F&& f) {
    std::vector<double> ms;
    for (int i = 0; i < runs; ++i) {
        auto t = Clock::now();
        f();
        ms.push_back(std::chrono::duration<double, std::milli>(Clock::now() - t).count());
    }
    std::nth_element(ms.begin(), ms.begin() + runs / 2, ms.end());
    return ms[size_t(runs / 2)];
}

// Synthetic data is enough to time: the pipelines' work does not depend on pixel values.
int cmd_bench(const ir::Graph& g, const Pipelines& p, const Common& c) {
    ModelState state = std::filesystem::exists(c.weights) ? load_state(g, c.weights)
                                                          : ModelState::initialised(g, 1);
    const Shape& in = g.node(g.input).shape;
    const int64_t classes = g.node(g.logits).shape.elements();
    Dataset data;
    data.images = {512, in.height(), in.width(),
                   std::vector<uint8_t>(size_t(512 * in.elements()), 128)};
    for (int64_t i = 0; i < 512; ++i) data.labels.push_back(uint8_t(i % classes));
    std::vector<int64_t> one{0};
    double infer_ms = median_ms(200, [&] { evaluate(state, p, data, one, 1); });
    TrainOptions o;
    o.epochs = 3;
    o.validation = 0;
    o.verbose = false;
    TrainReport r = train(state, p, data, o);
    std::printf("%s: inference %.3f ms/image at batch 1; training %.0f images/s at batch %d\n",
                g.name.c_str(), infer_ms, r.images_per_second, o.batch);
    if (c.json)
        print_json({{"model", g.name},
                    {"infer_ms_batch1", infer_ms},
                    {"train_images_per_second", r.images_per_second},
                    {"train_batch", o.batch}});
    return 0;
}

int cmd_export(const ir::Graph& g, const ModelProgram& prog, const Common& c,
               const std::string& out) {
    ModelState state = load_state(g, c.weights);
    std::string lib = export_library(state, {prog.generated_dir, prog.standalone_object, prog.halide_runtime}, out);
    std::printf("exported %s and %s/%s.h\n", lib.c_str(), out.c_str(), g.name.c_str());
    if (c.json)
        print_json({{"model", g.name},
                    {"library", lib},
                    {"header", out + "/" + g.name + ".h"},
                    {"library_bytes", std::filesystem::file_size(lib)}});
    return 0;
}

}  // namespace

int model_main(int argc, char** argv, const ModelProgram& prog) {
    try {
        ir::Graph g = passes::build_graph(prog.build_model());
        Pipelines p{prog.infer, prog.train_step};
        Common c;
        c.weights = g.name + ".cnnp";
        TrainOptions o;
        std::string out_dir;

        CLI::App app{g.name + ": a cnnc-compiled model"};
        app.require_subcommand(1);
        auto common = [&](CLI::App* s, bool data) {
            s->add_flag("--json", c.json, "print the figures as one JSON object, last line");
            s->add_option("--weights", c.weights, "parameter file")->capture_default_str();
            if (data) s->add_option("--data", c.data_dir, "Fashion-MNIST folder")->capture_default_str();
        };
        auto* summary = app.add_subcommand("summary", "per-layer shapes, parameters and MACs");
        summary->add_flag("--json", c.json, "end with one JSON line of totals");
        auto* train_cmd = app.add_subcommand("train", "train on Fashion-MNIST, then test");
        common(train_cmd, true);
        train_cmd->add_option("--epochs", o.epochs)->capture_default_str()->check(CLI::PositiveNumber);
        train_cmd->add_option("--batch", o.batch)->capture_default_str()->check(CLI::PositiveNumber);
        train_cmd->add_option("--optimizer", o.optimizer.kind,
                              "sgd, momentum, nesterov, adagrad, adadelta, rmsprop or adam")
            ->capture_default_str();
        train_cmd->add_option("--lr", o.optimizer.lr, "learning rate")->capture_default_str();
        train_cmd->add_option("--lr-decay", o.lr_decay, "learning-rate factor per epoch")
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
        train_cmd->add_option("--validation", o.validation, "held-out training images")
            ->capture_default_str();
        train_cmd->add_option("--limit", o.limit, "train on at most this many images");
        train_cmd->add_option("--seed", o.seed)->capture_default_str();
        auto* eval_cmd = app.add_subcommand("eval", "test accuracy of a parameter file");
        common(eval_cmd, true);
        auto* bench_cmd = app.add_subcommand("bench", "inference latency and training speed");
        common(bench_cmd, false);
        auto* export_cmd = app.add_subcommand("export", "standalone static library + C header");
        common(export_cmd, false);
        export_cmd->add_option("--out", out_dir, "output folder")->required();
        CLI11_PARSE(app, argc, argv);

        if (summary->parsed()) return cmd_summary(g, c);
        if (train_cmd->parsed()) return cmd_train(g, p, c, o);
        if (eval_cmd->parsed()) return cmd_eval(g, p, c);
        if (bench_cmd->parsed()) return cmd_bench(g, p, c);
        if (export_cmd->parsed()) return cmd_export(g, prog, c, out_dir);
    } catch (const ShapeError& e) {
        std::cerr << argv[0] << ": shape error: " << e.what() << "\n";
    } catch (const std::exception& e) {
        std::cerr << argv[0] << ": error: " << e.what() << "\n";
    }
    return 1;
}

}  // namespace cnnc::runtime
