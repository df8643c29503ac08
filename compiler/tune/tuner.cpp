// The tuner: candidates of each layer's template compiled with Halide's JIT and timed here.
#include "compiler/tune/tuner.h"

#include <Halide.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
#include <random>
#include <set>
#include <sstream>

#include "compiler/autodiff/train_kernels.h"
#include "compiler/lower/inference.h"
#include "compiler/passes/partition.h"
#include "compiler/passes/train_plan.h"
#include "compiler/passes/weight_packing.h"
#include "schedules/cpu/templates.h"
#include "schedules/schedule.h"

namespace cnnc::tune {
namespace fs = std::filesystem;
using namespace Halide;
using Clock = std::chrono::steady_clock;
using schedules::ScheduleParams;

namespace {

double seconds_since(Clock::time_point t) {
    return std::chrono::duration<double>(Clock::now() - t).count();
}

double median(std::vector<double> v) {
    std::nth_element(v.begin(), v.begin() + long(v.size() / 2), v.end());
    return v[v.size() / 2];
}

// A tunable layer: its key, the first kernel (segment) holding it, and how often the model runs it.
struct Layer {
    std::string key;
    int uses = 0;
    double default_ms = 0;
    std::vector<ScheduleParams> candidates;
    std::function<double(const ScheduleParams&)> time;  // compiles and times one candidate
};

Buffer<float> random_buffer(const std::vector<int>& extents, std::mt19937& rng, float scale) {
    Buffer<float> b(extents);
    std::uniform_real_distribution<float> d(-scale, scale);
    b.for_each_value([&](float& v) { v = d(rng); });
    return b;
}

std::vector<int> batch_extents(const Shape& s, int batch) {
    std::vector<int> e;
    for (int64_t x : lower::storage_extents(s)) e.push_back(int(x));
    e.push_back(batch);
    return e;
}

// One of the model's images (its input, or an output of its shape) as the model program's
// kernels take it (lower::program_images): planar, x innermost.
Buffer<float> images(const Shape& s) {
    const bool planar = lower::program_images == lower::ImageOrder::planar && s.rank == 3;
    return planar ? Buffer<float>(batch_extents(s, 1), std::vector<int>{1, 2, 0, 3})
                  : Buffer<float>(batch_extents(s, 1));
}

// Inputs and parameters of every kernel at batch 1: random values, fixed by a seed, so that
// every candidate computes on the same numbers.
struct Workload {
    std::map<int, Buffer<float>> values;  // node -> its value (inputs and outputs of segments)
    std::vector<Buffer<float>> params;
    std::vector<Buffer<float>> packed;  // per parameter: packed where inference reads it so

    Workload(const ir::Graph& g, const passes::Partition& p) {
        std::mt19937 rng(7);
        values[g.input] = images(g.node(g.input).shape);
        const Buffer<float> random = random_buffer(batch_extents(g.node(g.input).shape, 1), rng, 1);
        values[g.input].copy_from(random);
        for (const passes::Segment& s : p.segments) {
            const Shape& shape = g.node(s.output).shape;
            values[s.output] =
                s.output == g.logits ? images(shape) : Buffer<float>(batch_extents(shape, 1));
        }
        for (const ir::Param& prm : g.params) {
            std::vector<int> e;
            for (int64_t x : prm.storage_extents()) e.push_back(int(x));
            params.push_back(random_buffer(e, rng, 0.05f));
        }
        const std::vector<bool> pack = passes::packed_weights(g);
        for (size_t i = 0; i < params.size(); ++i)
            packed.push_back(pack[i] ? lower::pack_weights(params[i]) : params[i]);
    }
};

// One segment's kernel compiled with the given parameters, bound to the workload.
struct CompiledKernel {
    lower::KernelPipeline kernel;
    Pipeline pipeline;

    CompiledKernel(const ir::Graph& g, const passes::Segment& s, const Target& target,
                   const schedules::ParamsFor& params)
        : kernel(lower::build_kernel(g, s, lower::program_images)) {
        schedules::schedule_kernel(kernel, g, s, target, params);
        pipeline = Pipeline(kernel.output);
        pipeline.compile_jit(target);
    }

    void run(const passes::Segment& s, Workload& w) {
        for (size_t i = 0; i < s.inputs.size(); ++i) kernel.inputs[i].set(w.values.at(s.inputs[i]));
        for (size_t i = 0; i < s.params.size(); ++i)
            kernel.params[i].set(w.packed[size_t(s.params[i])]);
        pipeline.realize(w.values.at(s.output));
    }
};

// The training step's buffers at `batch`: the plan's values and adjoints, random parameters
// (positive, so that batch-norm variances are), random labels, and one result buffer per
// parameter (gradient or updated statistic).
struct TrainWorkload {
    passes::TrainPlan plan;
    std::vector<Buffer<>> buffers, params, results;
    Buffer<> labels, loss = Buffer<float>::make_scalar(), correct = Buffer<float>::make_scalar();

    TrainWorkload(const ir::Graph& g, int batch) : plan(passes::plan_training(g)) {
        std::mt19937 rng(11);
        for (const passes::TrainBuffer& b : plan.buffers)
            buffers.push_back(random_buffer(batch_extents(b.shape, batch), rng, 1.0f));
        std::uniform_real_distribution<float> positive(0.01f, 0.06f);
        for (const ir::Param& p : g.params) {
            std::vector<int> e;
            for (int64_t x : p.storage_extents()) e.push_back(int(x));
            Buffer<float> b(e), r(e);
            b.for_each_value([&](float& v) { v = positive(rng); });
            params.push_back(b);
            results.push_back(r);
        }
        const Shape& out = g.node(g.logits).shape;
        std::vector<int> label_extents{batch};
        if (out.rank == 3) label_extents = {int(out.width()), int(out.height()), batch};
        Buffer<int> l(label_extents);
        std::uniform_int_distribution<int> cls(0, int(out.channels()) - 1);
        l.for_each_value([&](int& v) { v = cls(rng); });
        labels = l;
    }

    // The buffers call `c` reads and writes, in its kernel's argument and output order.
    void operands(const ir::Graph& g, const passes::TrainCall& c, std::vector<Buffer<>>& in,
                  std::vector<Buffer<>>& out) {
        for (int b : c.inputs) in.push_back(buffers[size_t(b)]);
        if (c.kind == passes::TrainCall::Kind::loss) {
            in.push_back(labels);
            out = {loss, correct, buffers[size_t(c.outputs.at(0))]};
            return;
        }
        const passes::Segment& s = plan.partition.segments[size_t(c.segment)];
        const bool forward = c.kind == passes::TrainCall::Kind::forward;
        for (int p : s.params) in.push_back(params[size_t(p)]);
        for (int b : c.adjoints) in.push_back(buffers[size_t(b)]);
        for (int b : c.outputs) out.push_back(buffers[size_t(b)]);
        for (int p : s.params)
            if (g.params[size_t(p)].learnable != forward) out.push_back(results[size_t(p)]);
    }
};

// The kernel of a training call, with its schedule's parameters, compiled with the JIT.
struct CompiledTrainKernel {
    autodiff::TrainKernel kernel;
    Pipeline pipeline;

    CompiledTrainKernel(const ir::Graph& g, const passes::TrainPlan& plan,
                        const passes::TrainCall& c, const Target& target,
                        const ScheduleParams& params)
        : kernel(build(g, plan, c)) {
        schedules::schedule_training_stages(kernel.outputs, target, &g, params);
        pipeline = Pipeline(kernel.outputs);
        pipeline.compile_jit(target);
    }

    static autodiff::TrainKernel build(const ir::Graph& g, const passes::TrainPlan& plan,
                                       const passes::TrainCall& c) {
        const passes::Segment& s = plan.partition.segments[size_t(std::max(c.segment, 0))];
        switch (c.kind) {
            case passes::TrainCall::Kind::forward:
                return autodiff::forward_kernel(g, s);
            case passes::TrainCall::Kind::loss:
                return autodiff::loss_kernel(g);
            default:
                return autodiff::backward_kernel(g, s, plan.backward_kernels[size_t(c.kernel)]);
        }
    }

    void run(const ir::Graph& g, const passes::TrainCall& c, TrainWorkload& w) {
        std::vector<Buffer<>> in, out;
        w.operands(g, c, in, out);
        size_t next = 0;
        for (Internal::Parameter& p : kernel.parameters) {
            if (p.is_buffer())
                p.set_buffer(in.at(next++));
            else
                p.set_scalar<int>(1);  // dropout's seed
        }
        Realization r(out);
        pipeline.realize(r);
    }
};

// The key of a training call's kernel (schedules/records.h) and which calls share a kernel.
std::string call_key(const ir::Graph& g, const passes::TrainPlan& plan,
                     const passes::TrainCall& c) {
    switch (c.kind) {
        case passes::TrainCall::Kind::forward:
            return schedules::training_key(g, plan.partition.segments[size_t(c.segment)].nodes,
                                           "train_forward");
        case passes::TrainCall::Kind::loss:
            return schedules::training_key(g, {}, "train_loss");
        default:
            return schedules::training_key(
                g,
                plan.partition.segments[size_t(plan.backward_kernels[size_t(c.kernel)].segment)]
                    .nodes,
                "train_backward");
    }
}

std::string call_identity(const passes::TrainCall& c) {
    return std::to_string(int(c.kind)) + ":" + std::to_string(c.kernel);
}

// Median milliseconds of `f`: at least 5 runs after a warm-up, more until about 0.2 s.
template <typename F>
double time_ms(F&& f) {
    f();
    std::vector<double> ms;
    const auto start = Clock::now();
    while (ms.size() < 5 || (ms.size() < 100 && seconds_since(start) < 0.2)) {
        auto t = Clock::now();
        f();
        ms.push_back(seconds_since(t) * 1e3);
    }
    return median(ms);
}

// Runs `f` in a child process and returns what it returns; empty if the child failed (a
// candidate that crashes, or Halide that refuses it, costs the run nothing). Each measurement
// starts from the same clean process: timing kernels compiled late in one long-lived process
// drifted (the same default schedule measured 1.5-2.5x slower late in a run than early), which
// would have made winners out of noise. The parent itself never runs Halide code, so no thread
// pool exists when it forks.
std::vector<double> isolated(const std::function<std::vector<double>()>& f) {
    int fds[2];
    if (::pipe(fds) != 0) throw std::runtime_error("tune: pipe failed");
    const pid_t pid = ::fork();
    if (pid < 0) throw std::runtime_error("tune: fork failed");
    if (pid == 0) {
        ::close(fds[0]);
        int status = 0;
        try {
            const std::vector<double> out = f();
            const size_t bytes = out.size() * sizeof(double);
            if (::write(fds[1], out.data(), bytes) != ssize_t(bytes)) status = 1;
        } catch (const std::exception& e) {
            std::fprintf(stderr, "tune: candidate failed: %s\n", e.what());
            status = 1;
        }
        ::_exit(status);
    }
    ::close(fds[1]);
    std::vector<double> out;
    double v;
    while (::read(fds[0], &v, sizeof v) == ssize_t(sizeof v)) out.push_back(v);
    ::close(fds[0]);
    int status = 0;
    ::waitpid(pid, &status, 0);
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) return {};
    return out;
}

// A failed candidate's time: never the best.
constexpr double failed_ms = 1e30;

double isolated_ms(const std::function<double()>& f) {
    std::vector<double> out = isolated([&] { return std::vector<double>{f()}; });
    return out.empty() ? failed_ms : out[0];
}

class Tuner {
public:
    Tuner(const ir::Graph& g, const TuneOptions& o, std::ostream& log)
        : g_(g),
          o_(o),
          log_(log),
          start_(Clock::now()),
          partition_(lower::inference_partition(g, lower::program_images)),
          workload_(g, partition_) {
        target_ = o.target == "host" ? get_host_target() : Target(o.target);
        if (target_.has_gpu_feature() && !host_supports_target_device(target_))
            throw std::runtime_error("tune: target " + target_.to_string() +
                                     " needs a GPU device to measure on, and this machine has "
                                     "none");
        if (target_.has_gpu_feature())
            throw std::runtime_error("tune: GPU targets have no tunable templates yet");
        if (!get_host_target().features_all_of(target_features()))
            throw std::runtime_error("tune: this CPU cannot run target " + target_.to_string() +
                                     " to measure it");
        result_.target = target_.to_string();
        folder_ = (fs::path(o.records_dir) / result_.target).string();
        journal_path_ = (fs::path(folder_) / ".journal").string();
        read_journal();
    }

    TuneResult run();

private:
    const ir::Graph& g_;
    const TuneOptions& o_;
    std::ostream& log_;
    Clock::time_point start_;
    passes::Partition partition_;
    Workload workload_;
    Target target_;
    TuneResult result_;
    std::string folder_, journal_path_;
    std::map<std::string, double> journal_;  // "<layer>\t<params>" -> ms

    std::vector<Target::Feature> target_features() const {
        std::vector<Target::Feature> f;
        for (int i = 0; i < Target::FeatureEnd; ++i)
            if (target_.has_feature(Target::Feature(i)) && Target::Feature(i) != Target::JIT)
                f.push_back(Target::Feature(i));
        return f;
    }

    double left() const { return o_.budget_seconds - seconds_since(start_); }

    // Journal entries are timings of kernels as this build's model programs run them: of these
    // versions, and with the model's images planar (lower::program_images), which entries timed
    // before kernels read and wrote NCHW do not say.
    std::string version_key() const {
        return schedules::cnnc_version() + " " + schedules::halide_version() + " r" +
               std::to_string(schedules::template_revision) +
               (lower::program_images == lower::ImageOrder::planar ? " planar-images" : "");
    }

    void read_journal() {
        std::ifstream in(journal_path_);
        std::string line;
        while (std::getline(in, line)) {
            std::vector<std::string> f;
            std::stringstream s(line);
            for (std::string x; std::getline(s, x, '\t');) f.push_back(x);
            if (f.size() == 4 && f[0] == version_key())
                journal_[f[1] + "\t" + f[2]] = std::stod(f[3]);
        }
    }

    void journal(const std::string& layer, const ScheduleParams& p, double ms) {
        journal_[layer + "\t" + p.text()] = ms;
        fs::create_directories(folder_);
        std::ofstream out(journal_path_, std::ios::app);
        out << version_key() << "\t" << layer << "\t" << p.text() << "\t" << ms << "\n";
    }

    std::vector<Layer> find_layers();
    std::vector<Layer> find_training_layers(TrainWorkload& w);
    std::map<std::string, ScheduleParams> tune_layers(std::vector<Layer>& layers, double seconds,
                                                      const std::string& what);
    std::map<std::string, ScheduleParams> recorded(const std::vector<Layer>& layers);
    bool revert_if_slower(const std::vector<Layer>& layers,
                          std::map<std::string, ScheduleParams>& chosen, double default_ms,
                          double tuned_ms, const std::string& what);
    double measure_cached(const Layer& l, const ScheduleParams& p, bool* fresh);
    ScheduleParams tune_layer(Layer& l, double seconds, size_t index, size_t count);
    // How many of the layer's candidates decide it (TuneOptions::max_candidates).
    size_t candidate_limit(const Layer& l) const {
        return o_.max_candidates > 0 ? std::min(l.candidates.size(), size_t(o_.max_candidates))
                                     : l.candidates.size();
    }
    void write_record(const Layer& l, const ScheduleParams& p, double default_ms, double tuned_ms,
                      int candidates);
    using KernelSet = std::map<int, std::unique_ptr<CompiledKernel>>;  // by distinct kernel
    KernelSet compile_all(const schedules::ParamsFor& params);
    double end_to_end(KernelSet& kernels);
    double train_step_ms(TrainWorkload& w, const std::map<std::string, ScheduleParams>& params,
                         std::map<std::string, std::unique_ptr<CompiledTrainKernel>>& cache);
    void tune_training();
    void progress(const std::string& text);
};

std::vector<Layer> Tuner::find_layers() {
    std::map<std::string, Layer> by_key;
    std::vector<std::string> order;
    for (size_t t = 0; t < partition_.segments.size(); ++t)
        for (int i : partition_.segments[t].nodes) {
            const ir::Node& n = g_.node(i);
            const passes::Segment& s = partition_.segments[t];
            // The consumer of a fused producer also tries computing it up front.
            const ir::Node* producer = s.fused_producer >= 0 && i != s.fused_producer
                                           ? &g_.node(s.fused_producer)
                                           : nullptr;
            const std::string key = schedules::layer_key(g_, n);
            const auto candidates = schedules::cpu::candidates(n, target_, producer);
            if (key.empty() || candidates.empty()) continue;
            auto [it, added] = by_key.try_emplace(key);
            if (added) {
                const std::string name = n.name;
                const size_t segment = t;
                it->second = {key, 0, 0, candidates,
                              [this, name, segment](const ScheduleParams& p) {
                                  return isolated_ms([&] {
                                      const passes::Segment& s = partition_.segments[segment];
                                      CompiledKernel k(g_, s, target_, [&](const ir::Node& m) {
                                          return m.name == name ? p : ScheduleParams{};
                                      });
                                      return time_ms([&] { k.run(s, workload_); });
                                  });
                              }};
                order.push_back(key);
            }
            ++it->second.uses;
        }
    std::vector<Layer> out;
    for (const std::string& k : order) out.push_back(by_key[k]);
    return out;
}

std::vector<Layer> Tuner::find_training_layers(TrainWorkload& w) {
    std::map<std::string, Layer> by_key;
    std::vector<std::string> order;
    for (const passes::TrainCall& c : w.plan.calls) {
        const std::string key = call_key(g_, w.plan, c);
        auto [it, added] = by_key.try_emplace(key);
        if (added) {
            it->second = {key, 0, 0, schedules::training_candidates(),
                          [this, &w, c](const ScheduleParams& p) {
                              return isolated_ms([&] {
                                  CompiledTrainKernel k(g_, w.plan, c, target_, p);
                                  return time_ms([&] { k.run(g_, c, w); });
                              });
                          }};
            order.push_back(key);
        }
        ++it->second.uses;
    }
    std::vector<Layer> out;
    for (const std::string& k : order) out.push_back(by_key[k]);
    return out;
}

double Tuner::measure_cached(const Layer& l, const ScheduleParams& p, bool* fresh) {
    auto it = journal_.find(l.key + "\t" + p.text());
    *fresh = it == journal_.end();
    if (!*fresh) return it->second;
    const double ms = l.time(p);
    journal(l.key, p, ms);
    ++result_.candidates_measured;
    return ms;
}

void Tuner::progress(const std::string& text) {
    if (o_.progress_bar)
        log_ << "\r\033[K" << text << std::flush;
    else
        log_ << text << "\n" << std::flush;
}

// Candidates in order until all are measured or the layer's time is used; then the best and the
// default measured again, interleaved, and the best kept only if it wins by the margin.
ScheduleParams Tuner::tune_layer(Layer& l, double seconds, size_t index, size_t count) {
    const auto layer_start = Clock::now();
    bool fresh = false;
    const double default_ms = measure_cached(l, {}, &fresh);
    ScheduleParams best;
    double best_ms = default_ms;
    size_t tried = 0;
    const size_t limit = candidate_limit(l);
    for (const ScheduleParams& c : l.candidates) {
        if (tried == limit) break;
        const bool cached = journal_.count(l.key + "\t" + c.text()) != 0;
        if (!cached && (seconds_since(layer_start) > seconds || left() < 0)) break;
        const double ms = measure_cached(l, c, &fresh);
        ++tried;
        if (ms < best_ms) best = c, best_ms = ms;
        std::ostringstream s;
        s << "[" << index + 1 << "/" << count << "] " << l.key << " | candidate " << tried << "/"
          << limit << " | best " << best_ms << " ms (default " << default_ms << ") | "
          << int(std::max(0.0, left())) << " s left";
        if (o_.progress_bar || fresh) progress(s.str());
    }
    double confirmed_default = default_ms, confirmed_best = best_ms;
    if (!best.values.empty()) {
        std::vector<double> d, b;
        for (int round = 0; round < 3; ++round) {
            d.push_back(l.time({}));
            b.push_back(l.time(best));
        }
        confirmed_default = median(d);
        confirmed_best = median(b);
        if (confirmed_best > confirmed_default * (1 - o_.margin)) best = {};
    }
    if (tried == limit || !best.values.empty()) {
        write_record(l, best, confirmed_default,
                     best.values.empty() ? confirmed_default : confirmed_best, int(tried));
        ++result_.layers_tuned;
        if (!best.values.empty()) ++result_.layers_improved;
    }
    std::ostringstream s;
    s << "[" << index + 1 << "/" << count << "] " << l.key << ": " << best.text() << " ("
      << (best.values.empty() ? confirmed_default : confirmed_best) << " ms, default "
      << confirmed_default << " ms, " << tried << "/" << limit << " candidates)";
    progress(s.str());
    if (o_.progress_bar) log_ << "\n";
    return best;
}

void Tuner::write_record(const Layer& l, const ScheduleParams& p, double default_ms,
                         double tuned_ms, int candidates) {
    schedules::Record r;
    r.key = {l.key, result_.target, schedules::cnnc_version(), schedules::halide_version(),
             schedules::template_revision};
    r.params = p;
    r.default_ms = default_ms;
    r.tuned_ms = tuned_ms;
    r.candidates = candidates;
    const fs::path path = schedules::record_path(o_.records_dir, r.key);
    fs::create_directories(path.parent_path());
    const fs::path tmp = path.string() + ".tmp";
    {
        std::ofstream out(tmp);
        out << schedules::print_record(r);
        if (!out) throw std::runtime_error("tune: cannot write " + tmp.string());
    }
    fs::rename(tmp, path);  // an interrupted write never leaves half a record
    ++result_.records_written;
}

Tuner::KernelSet Tuner::compile_all(const schedules::ParamsFor& params) {
    KernelSet kernels;
    for (const passes::Segment& s : partition_.segments)
        if (!kernels.count(s.kernel))
            kernels[s.kernel] = std::make_unique<CompiledKernel>(g_, s, target_, params);
    return kernels;
}

// The whole inference at batch 1: every segment's kernel, in order, on the workload.
double Tuner::end_to_end(KernelSet& kernels) {
    return time_ms([&] {
        for (const passes::Segment& s : partition_.segments)
            kernels.at(s.kernel)->run(s, workload_);
    });
}

// Every layer's default timed, then candidates, most expensive layers first, each given the
// share of the time left that its default time (times its uses) is of the rest's.
std::map<std::string, ScheduleParams> Tuner::tune_layers(std::vector<Layer>& layers, double seconds,
                                                         const std::string& what) {
    const auto start = Clock::now();
    bool fresh = false;
    double total = 0;
    for (Layer& l : layers) {
        l.default_ms = measure_cached(l, {}, &fresh);
        total += l.default_ms * l.uses;
    }
    std::stable_sort(layers.begin(), layers.end(), [](const Layer& a, const Layer& b) {
        return a.default_ms * a.uses > b.default_ms * b.uses;
    });
    log_ << "tune: " << what << ": " << layers.size() << " distinct kernels, " << int(seconds)
         << " s\n";
    std::map<std::string, ScheduleParams> chosen;
    double weight_left = total;
    for (size_t i = 0; i < layers.size(); ++i) {
        const double weight = layers[i].default_ms * layers[i].uses;
        const double share =
            std::max(0.0, seconds - seconds_since(start)) * weight / std::max(weight_left, 1e-9);
        weight_left -= weight;
        chosen[layers[i].key] = tune_layer(layers[i], share, i, layers.size());
    }
    return chosen;
}

// The parameters the records in the records folder give each layer, as a build reads them.
std::map<std::string, ScheduleParams> Tuner::recorded(const std::vector<Layer>& layers) {
    const schedules::RecordSet records(o_.records_dir, result_.target);
    std::map<std::string, ScheduleParams> chosen;
    for (const Layer& l : layers) {
        const std::optional<ScheduleParams> p = records.find(l.key);
        if (!p) continue;
        ++result_.layers_tuned;
        if (!p->values.empty()) ++result_.layers_improved;
        chosen[l.key] = *p;
    }
    for (const std::string& w : records.warnings()) log_ << "tune: " << w << "\n";
    log_ << "tune: records for " << chosen.size() << " of " << layers.size() << " kernels in "
         << o_.records_dir << "\n";
    return chosen;
}

// The end-to-end check overrules the kernels' own measurements (a kernel timed alone can win and
// still slow the whole down: LeNet-5's conv2 forward with an 8-pixel strip was faster alone and
// made the JIT-compiled training step 3x slower). Where the tuned whole is slower than the
// defaults by more than the margin, this run's improved records are written back as the
// default: tuning never makes the model slower. With --check nothing is written; it says so.
bool Tuner::revert_if_slower(const std::vector<Layer>& layers,
                             std::map<std::string, ScheduleParams>& chosen, double default_ms,
                             double tuned_ms, const std::string& what) {
    if (tuned_ms <= default_ms * (1 + o_.margin)) return false;
    log_ << "tune: " << what << " took " << tuned_ms << " ms with the tuned kernels, " << default_ms
         << " ms with the defaults";
    if (o_.check_only) {
        log_ << ": the records make it slower; tune again (records of a run are kept only if "
                "the whole is not slower)\n";
        return false;
    }
    int reverted = 0;
    for (const Layer& l : layers) {
        auto it = chosen.find(l.key);
        if (it == chosen.end() || it->second.values.empty()) continue;
        write_record(l, {}, l.default_ms, l.default_ms, int(l.candidates.size()));
        it->second = {};
        ++reverted;
        --result_.layers_improved;
    }
    log_ << ": the " << reverted << " improved records of this run are written back as the "
         << "default\n";
    return true;
}

double Tuner::train_step_ms(TrainWorkload& w, const std::map<std::string, ScheduleParams>& p,
                            std::map<std::string, std::unique_ptr<CompiledTrainKernel>>& cache) {
    for (const passes::TrainCall& c : w.plan.calls)
        if (!cache.count(call_identity(c))) {
            auto it = p.find(call_key(g_, w.plan, c));
            cache[call_identity(c)] = std::make_unique<CompiledTrainKernel>(
                g_, w.plan, c, target_, it == p.end() ? ScheduleParams{} : it->second);
        }
    return time_ms([&] {
        for (const passes::TrainCall& c : w.plan.calls) cache.at(call_identity(c))->run(g_, c, w);
    });
}

TuneResult Tuner::run() {
    std::vector<Layer> layers = find_layers();
    result_.layers = int(layers.size());
    log_ << "tune: " << g_.name << " for " << result_.target << ", budget " << o_.budget_seconds
         << " s\n";
    const auto e2e_start = Clock::now();
    isolated_ms([&] {
        KernelSet defaults = compile_all({});
        return end_to_end(defaults);
    });
    // Both kernel sets compile at the end for the end-to-end check: keep that time in reserve.
    const double reserve = seconds_since(e2e_start) * 2.5;
    // With training, half the budget each: the backward kernels are most of a step's time but
    // have few candidates each.
    const double inference_share = o_.training_batch > 0 ? 0.5 : 1.0;
    std::map<std::string, ScheduleParams> chosen =
        o_.check_only
            ? recorded(layers)
            : tune_layers(layers, std::max(0.0, left() - reserve) * inference_share, "inference");
    schedules::ParamsFor tuned = [&](const ir::Node& n) {
        auto it = chosen.find(schedules::layer_key(g_, n));
        return it == chosen.end() ? ScheduleParams{} : it->second;
    };
    // Both in one process, interleaved, so that drift in the machine's speed hits both alike.
    const std::vector<double> e2e = isolated([&] {
        KernelSet defaults = compile_all({}), tuned_kernels = compile_all(tuned);
        std::vector<double> d, t;
        for (int round = 0; round < 5; ++round) {
            d.push_back(end_to_end(defaults));
            t.push_back(end_to_end(tuned_kernels));
        }
        return std::vector<double>{median(d), median(t)};
    });
    if (e2e.size() != 2) throw std::runtime_error("tune: the end-to-end check failed");
    result_.default_ms = e2e[0];
    result_.tuned_ms =
        revert_if_slower(layers, chosen, e2e[0], e2e[1], "inference at batch 1") ? e2e[0] : e2e[1];
    if (o_.training_batch > 0) tune_training();
    result_.seconds = seconds_since(start_);
    return result_;
}

void Tuner::tune_training() {
    TrainWorkload w(g_, o_.training_batch);
    std::vector<Layer> layers = find_training_layers(w);
    result_.layers += int(layers.size());
    using Cache = std::map<std::string, std::unique_ptr<CompiledTrainKernel>>;
    const auto e2e_start = Clock::now();
    isolated_ms([&] {
        Cache defaults;
        return train_step_ms(w, {}, defaults);
    });
    const double reserve = seconds_since(e2e_start) * 2.5;
    std::map<std::string, ScheduleParams> chosen =
        o_.check_only ? recorded(layers)
                      : tune_layers(layers, std::max(0.0, left() - reserve),
                                    "training step at batch " + std::to_string(o_.training_batch));
    const std::vector<double> e2e = isolated([&] {
        Cache defaults, tuned;
        std::vector<double> d, t;
        for (int round = 0; round < 5; ++round) {
            d.push_back(train_step_ms(w, {}, defaults));
            t.push_back(train_step_ms(w, chosen, tuned));
        }
        return std::vector<double>{median(d), median(t)};
    });
    if (e2e.size() != 2) throw std::runtime_error("tune: the training step's check failed");
    result_.train_default_ms = e2e[0];
    result_.train_tuned_ms =
        revert_if_slower(layers, chosen, e2e[0], e2e[1], "the training step") ? e2e[0] : e2e[1];
}

}  // namespace

TuneResult tune_inference(const ir::Graph& graph, const TuneOptions& options, std::ostream& log) {
    Tuner t(graph, options, log);
    return t.run();
}

}  // namespace cnnc::tune
