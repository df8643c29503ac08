// The tuner: candidates of each layer's template compiled with Halide's JIT and timed here.
#include "compiler/tune/tuner.h"

#include <Halide.h>

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <map>
#include <random>
#include <set>
#include <sstream>

#include "compiler/lower/inference.h"
#include "compiler/passes/partition.h"
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
    int node = -1;
    size_t segment = 0;
    int uses = 0;
    double default_ms = 0;
    std::vector<ScheduleParams> candidates;
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

// Inputs and parameters of every kernel at batch 1: random values, fixed by a seed, so that
// every candidate computes on the same numbers.
struct Workload {
    std::map<int, Buffer<float>> values;  // node -> its value (inputs and outputs of segments)
    std::vector<Buffer<float>> params;

    Workload(const ir::Graph& g, const passes::Partition& p) {
        std::mt19937 rng(7);
        values[g.input] = random_buffer(batch_extents(g.node(g.input).shape, 1), rng, 1.0f);
        for (const passes::Segment& s : p.segments) {
            const Shape& shape = g.node(s.output).shape;
            values[s.output] = Buffer<float>(batch_extents(shape, 1));
        }
        for (const ir::Param& prm : g.params) {
            std::vector<int> e;
            for (int64_t x : prm.storage_extents()) e.push_back(int(x));
            params.push_back(random_buffer(e, rng, 0.05f));
        }
    }
};

// One segment's kernel compiled with the given parameters, bound to the workload.
struct CompiledKernel {
    lower::KernelPipeline kernel;
    Pipeline pipeline;

    CompiledKernel(const ir::Graph& g, const passes::Segment& s, const Target& target,
                   const schedules::ParamsFor& params)
        : kernel(lower::build_kernel(g, s)) {
        schedules::schedule_kernel(kernel, g, s, target, params);
        pipeline = Pipeline(kernel.output);
        pipeline.compile_jit(target);
    }

    void run(const passes::Segment& s, Workload& w) {
        for (size_t i = 0; i < s.inputs.size(); ++i) kernel.inputs[i].set(w.values.at(s.inputs[i]));
        for (size_t i = 0; i < s.params.size(); ++i)
            kernel.params[i].set(w.params[size_t(s.params[i])]);
        pipeline.realize(w.values.at(s.output));
    }
};

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

class Tuner {
public:
    Tuner(const ir::Graph& g, const TuneOptions& o, std::ostream& log)
        : g_(g), o_(o), log_(log), start_(Clock::now()),
          partition_(passes::partition_inference(g)), workload_(g, partition_) {
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

    std::string version_key() const {
        return schedules::cnnc_version() + " " + schedules::halide_version() + " r" +
               std::to_string(schedules::template_revision);
    }

    void read_journal() {
        std::ifstream in(journal_path_);
        std::string line;
        while (std::getline(in, line)) {
            std::vector<std::string> f;
            std::stringstream s(line);
            for (std::string x; std::getline(s, x, '\t');) f.push_back(x);
            if (f.size() == 4 && f[0] == version_key()) journal_[f[1] + "\t" + f[2]] = std::stod(f[3]);
        }
    }

    void journal(const std::string& layer, const ScheduleParams& p, double ms) {
        journal_[layer + "\t" + p.text()] = ms;
        fs::create_directories(folder_);
        std::ofstream out(journal_path_, std::ios::app);
        out << version_key() << "\t" << layer << "\t" << p.text() << "\t" << ms << "\n";
    }

    std::vector<Layer> find_layers();
    double measure(const Layer& l, const ScheduleParams& p);
    double measure_cached(const Layer& l, const ScheduleParams& p, bool* fresh);
    ScheduleParams tune_layer(Layer& l, double seconds, size_t index, size_t count);
    void write_record(const Layer& l, const ScheduleParams& p, double default_ms, double tuned_ms,
                      int candidates);
    using KernelSet = std::map<int, std::unique_ptr<CompiledKernel>>;  // by distinct kernel
    KernelSet compile_all(const schedules::ParamsFor& params);
    double end_to_end(KernelSet& kernels);
    void progress(const std::string& text);
};

std::vector<Layer> Tuner::find_layers() {
    std::map<std::string, Layer> by_key;
    std::vector<std::string> order;
    for (size_t t = 0; t < partition_.segments.size(); ++t)
        for (int i : partition_.segments[t].nodes) {
            const ir::Node& n = g_.node(i);
            const std::string key = schedules::layer_key(g_, n);
            if (key.empty() || schedules::cpu::candidates(n, target_).empty()) continue;
            auto [it, added] = by_key.try_emplace(key);
            if (added) {
                it->second = {key, i, t, 0, 0, schedules::cpu::candidates(n, target_)};
                order.push_back(key);
            }
            ++it->second.uses;
        }
    std::vector<Layer> out;
    for (const std::string& k : order) out.push_back(by_key[k]);
    return out;
}

double Tuner::measure(const Layer& l, const ScheduleParams& p) {
    const passes::Segment& s = partition_.segments[l.segment];
    CompiledKernel k(g_, s, target_, [&](const ir::Node& n) {
        return n.name == g_.node(l.node).name ? p : ScheduleParams{};
    });
    return time_ms([&] { k.run(s, workload_); });
}

double Tuner::measure_cached(const Layer& l, const ScheduleParams& p, bool* fresh) {
    auto it = journal_.find(l.key + "\t" + p.text());
    *fresh = it == journal_.end();
    if (!*fresh) return it->second;
    const double ms = measure(l, p);
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
    for (const ScheduleParams& c : l.candidates) {
        const bool cached = journal_.count(l.key + "\t" + c.text()) != 0;
        if (!cached && (seconds_since(layer_start) > seconds || left() < 0)) break;
        const double ms = measure_cached(l, c, &fresh);
        ++tried;
        if (ms < best_ms) best = c, best_ms = ms;
        std::ostringstream s;
        s << "[" << index + 1 << "/" << count << "] " << l.key << " | candidate " << tried << "/"
          << l.candidates.size() << " | best " << best_ms << " ms (default " << default_ms
          << ") | " << int(std::max(0.0, left())) << " s left";
        if (o_.progress_bar || fresh) progress(s.str());
    }
    double confirmed_default = default_ms, confirmed_best = best_ms;
    if (!best.values.empty()) {
        std::vector<double> d, b;
        for (int round = 0; round < 3; ++round) {
            d.push_back(measure(l, {}));
            b.push_back(measure(l, best));
        }
        confirmed_default = median(d);
        confirmed_best = median(b);
        if (confirmed_best > confirmed_default * (1 - o_.margin)) best = {};
    }
    if (tried == l.candidates.size() || !best.values.empty()) {
        write_record(l, best, confirmed_default, best.values.empty() ? confirmed_default
                                                                    : confirmed_best,
                     int(tried));
        ++result_.layers_tuned;
        if (!best.values.empty()) ++result_.layers_improved;
    }
    std::ostringstream s;
    s << "[" << index + 1 << "/" << count << "] " << l.key << ": " << best.text() << " ("
      << (best.values.empty() ? confirmed_default : confirmed_best) << " ms, default "
      << confirmed_default << " ms, " << tried << "/" << l.candidates.size() << " candidates)";
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
        for (const passes::Segment& s : partition_.segments) kernels.at(s.kernel)->run(s, workload_);
    });
}

TuneResult Tuner::run() {
    std::vector<Layer> layers = find_layers();
    result_.layers = int(layers.size());
    log_ << "tune: " << g_.name << " for " << result_.target << ", " << layers.size()
         << " distinct layers, budget " << o_.budget_seconds << " s\n";
    const auto e2e_start = Clock::now();
    KernelSet defaults = compile_all({});
    end_to_end(defaults);
    // The tuned kernels compile at the end for the end-to-end check: keep that time in reserve.
    const double reserve = seconds_since(e2e_start) * 1.5;
    bool fresh = false;
    double total = 0;
    for (Layer& l : layers) {
        l.default_ms = measure_cached(l, {}, &fresh);
        total += l.default_ms * l.uses;
    }
    std::stable_sort(layers.begin(), layers.end(), [](const Layer& a, const Layer& b) {
        return a.default_ms * a.uses > b.default_ms * b.uses;
    });
    std::map<std::string, ScheduleParams> chosen;
    double weight_left = total;
    for (size_t i = 0; i < layers.size(); ++i) {
        const double weight = layers[i].default_ms * layers[i].uses;
        // Each layer's share of the time left, in proportion to its share of the time.
        const double share = std::max(0.0, left() - reserve) * weight / std::max(weight_left, 1e-9);
        weight_left -= weight;
        chosen[layers[i].key] = tune_layer(layers[i], share, i, layers.size());
    }
    schedules::ParamsFor tuned = [&](const ir::Node& n) {
        auto it = chosen.find(schedules::layer_key(g_, n));
        return it == chosen.end() ? ScheduleParams{} : it->second;
    };
    // Interleaved, so that drift in the machine's speed hits both alike.
    KernelSet tuned_kernels = compile_all(tuned);
    std::vector<double> d, t;
    for (int round = 0; round < 3; ++round) {
        d.push_back(end_to_end(defaults));
        t.push_back(end_to_end(tuned_kernels));
    }
    result_.default_ms = median(d);
    result_.tuned_ms = median(t);
    result_.seconds = seconds_since(start_);
    return result_;
}

}  // namespace

TuneResult tune_inference(const ir::Graph& graph, const TuneOptions& options, std::ostream& log) {
    Tuner t(graph, options, log);
    return t.run();
}

}  // namespace cnnc::tune
