// GPU schedules (schedules/gpu): all of every kernel's work on the device, results as the CPU's.
#include <doctest/doctest.h>

#include <Halide.h>

#include <chrono>
#include <cmath>
#include <functional>
#include <random>

#include "compiler/autodiff/train_kernels.h"
#include "compiler/lower/inference.h"
#include "compiler/passes/shape_inference.h"
#include "compiler/passes/train_plan.h"
#include "dsl/dsl.h"
#include "examples/architectures/resnet.h"
#include "schedules/gpu/templates.h"
#include "schedules/schedule.h"

// LeNet-5 as the example defines it (examples/lenet5/lenet5.cpp, linked into this suite).
cnnc::Model cnnc_build_model();

using namespace cnnc;
using Halide::Target;

namespace {

// Pascal or newer: the PTX runs on any current GPU (the driver compiles it for the device).
Target cuda_target() {
    return Halide::get_host_target()
        .with_feature(Target::CUDA)
        .with_feature(Target::CUDACapability61);
}

// What a compiled kernel runs where. With a GPU target Halide moves every GPU loop nest into a
// device kernel (the PTX in the module's "cuda_gpu_source_kernels" buffer) and leaves a launch
// (halide_cuda_run) in the host code; whatever loop or store is left in the host code runs on
// the CPU.
struct Placement {
    int device_kernels = 0;  // .entry points in the PTX
    int launches = 0;        // halide_cuda_run calls in the host code
    int host_loops = 0, host_stores = 0;
    std::string host_names;  // what the host loops over or stores to
};

class HostCode : public Halide::Internal::IRVisitor {
public:
    explicit HostCode(Placement& p) : p_(p) {}

private:
    using Halide::Internal::IRVisitor::visit;
    void visit(const Halide::Internal::For* op) override {
        ++p_.host_loops;
        p_.host_names += " loop " + op->name;
        Halide::Internal::IRVisitor::visit(op);
    }
    void visit(const Halide::Internal::Store* op) override {
        ++p_.host_stores;
        p_.host_names += " store " + op->name;
        Halide::Internal::IRVisitor::visit(op);
    }
    void visit(const Halide::Internal::Call* op) override {
        if (op->name == "halide_cuda_run") ++p_.launches;
        Halide::Internal::IRVisitor::visit(op);
    }
    Placement& p_;
};

Placement placement(const Halide::Module& m) {
    Placement p;
    for (const Halide::Internal::LoweredFunc& f : m.functions()) {
        HostCode visitor(p);
        f.body.accept(&visitor);
    }
    for (const Halide::Buffer<>& b : m.buffers()) {
        if (b.name() != "cuda_gpu_source_kernels") continue;
        const std::string ptx(reinterpret_cast<const char*>(b.data()), b.size_in_bytes());
        for (size_t at = ptx.find(".entry"); at != std::string::npos;
             at = ptx.find(".entry", at + 1))
            ++p.device_kernels;
    }
    return p;
}

// Compiles one kernel for the GPU and checks that all of its work is on the device.
void check_on_device(const std::vector<Halide::Func>& outputs,
                     const std::vector<Halide::Argument>& arguments, const std::string& name) {
    INFO(name);
    Halide::Module m = Halide::Pipeline(outputs).compile_to_module(arguments, name, cuda_target());
    const Placement p = placement(m);
    CHECK(p.device_kernels > 0);
    CHECK(p.launches >= p.device_kernels);
    INFO("host code:" << p.host_names);
    CHECK(p.host_loops == 0);
    CHECK(p.host_stores == 0);
}

// Every inference kernel of the graph, scheduled for the GPU (batch free, as the library has it;
// the model program writes an image-shaped output planar).
int check_inference(const ir::Graph& g,
                    lower::ImageOrder order = lower::ImageOrder::channels_innermost) {
    lower::InferencePipeline p = lower::build_inference(g, order);
    schedules::schedule_inference(p, g, cuda_target());
    for (size_t k = 0; k < p.kernels.size(); ++k)
        check_on_device({p.kernels[k].output}, p.kernels[k].arguments(), lower::kernel_name(g, k));
    return int(p.kernels.size());
}

// Every training kernel of the graph's plan (forward, loss, backward), scheduled for the GPU.
int check_training(const ir::Graph& g) {
    const passes::TrainPlan plan = passes::plan_training(g);
    int kernels = 0;
    auto check = [&](autodiff::TrainKernel k, const std::string& name) {
        const std::string log = schedules::schedule_training_stages(k.outputs, cuda_target(), &g);
        CHECK(log.find("compute_root") != std::string::npos);
        check_on_device(k.outputs, k.arguments, name);
        ++kernels;
    };
    const std::vector<passes::Segment>& segs = plan.partition.segments;
    for (size_t k = 0; k < plan.partition.kernels.size(); ++k)
        check(autodiff::forward_kernel(g, segs[size_t(plan.partition.kernels[k])]),
              autodiff::forward_kernel_name(g, k));
    check(autodiff::loss_kernel(g), autodiff::loss_kernel_name(g));
    for (size_t k = 0; k < plan.backward_kernels.size(); ++k) {
        const passes::BackwardKernel& b = plan.backward_kernels[k];
        check(autodiff::backward_kernel(g, segs[size_t(b.segment)], b),
              autodiff::backward_kernel_name(g, k));
    }
    return kernels;
}

// Every op family the GPU templates cover that LeNet-5 and ResNet-18 do not: average pooling,
// depthwise convolution, transposed convolutions (non-overlapping 2x2 and overlapping 3x3
// scatters), concatenation, global pooling and dropout.
Model families() {
    Model m("families");
    Tensor x = m.input({3, 16, 16});
    Tensor a = relu(batch_norm(
        conv2d(x, {.filters = 8, .kernel = 3, .padding = same, .bias = false})));
    Tensor b = max_pool(a, {.kernel = 2});
    Tensor c = avg_pool(b, {.kernel = 3, .stride = 1, .padding = same});
    Tensor d = conv2d(c, {.filters = 8, .kernel = 3, .padding = same, .groups = 8});
    Tensor u = transposed_conv2d(d, {.filters = 4, .kernel = 2, .stride = 2});
    Tensor v = concat({a, u});
    Tensor t = relu(transposed_conv2d(v, {.filters = 6, .kernel = 3}));
    Tensor h = dropout(flatten(global_avg_pool(t)), 0.2f);
    softmax_cross_entropy(dense(h, {.units = 5}));
    return m;
}

// A convolution's activations as the model's output: an image, as a one-layer model has it.
Model image_output() {
    Model m("image_output");
    Tensor x = m.input({3, 8, 8});
    relu(conv2d(x, {.filters = 32, .kernel = 3, .padding = same}));
    return m;
}

// Per-pixel class scores: the probabilities kernel runs one thread per pixel.
Model per_pixel() {
    Model m("per_pixel");
    Tensor x = m.input({3, 8, 8});
    x = relu(conv2d(x, {.filters = 8, .kernel = 3, .padding = same}));
    softmax_cross_entropy(conv2d(x, {.filters = 4, .kernel = 1}));
    return m;
}

using Buf = Halide::Buffer<float>;

// The JIT's host. Halide 14 reads this machine (AMD Zen 5) as avx512_sapphirerapids, which it
// takes to include AVX-VNNI; the CPU has only the AVX-512 form of VNNI, and the VEX-encoded
// vpdpwssd LLVM chose for integer multiply-adds in a GPU loop nest run here raised SIGILL.
Target host_jit() {
    return Halide::get_jit_target_from_environment().without_feature(
        Target::AVX512_SapphireRapids);
}

std::vector<int> extents_of(const std::vector<int64_t>& e, int batch = -1) {
    std::vector<int> out(e.begin(), e.end());
    if (batch >= 0) out.push_back(batch);
    return out;
}

// How a test schedules an inference pipeline before running it.
using Scheduler = std::function<void(lower::InferencePipeline&, const ir::Graph&)>;

// The GPU templates' loop nests, blocks in parallel and threads serially on the host.
void gpu_structure_on_host(lower::InferencePipeline& p, const ir::Graph& g) {
    for (size_t k = 0; k < p.kernels.size(); ++k)
        schedules::gpu::schedule_kernel(p.kernels[k], g,
                                        p.partition.segments[size_t(p.partition.kernels[k])],
                                        host_jit());
}

// Runs the inference kernels in the partition's order under the JIT, every value in a buffer of
// its own; returns the class probabilities.
Buf run_inference(const ir::Graph& g, const Scheduler& schedule, const Target& target,
                  const Buf& images, const std::vector<Buf>& params) {
    lower::InferencePipeline p = lower::build_inference(g);
    schedule(p, g);
    const int batch = images.dim(images.dimensions() - 1).extent();
    std::vector<Buf> values(g.nodes.size());
    values[size_t(g.input)] = images;
    Buf out;
    for (const passes::Segment& s : p.partition.segments) {
        lower::KernelPipeline& k = p.kernels.at(size_t(s.kernel));
        for (size_t i = 0; i < s.inputs.size(); ++i)
            k.inputs[i].set(values.at(size_t(s.inputs[i])));
        for (size_t i = 0; i < s.params.size(); ++i)
            k.bind_param(i, params.at(size_t(s.params[i])));
        out = Buf(extents_of(lower::storage_extents(g.node(s.output).shape), batch));
        Halide::Pipeline(k.output).realize(out, target);
        out.copy_to_host();
        values[size_t(s.output)] = out;
    }
    return out;
}

double worst_difference(const Halide::Buffer<>& a, const Halide::Buffer<>& b) {
    REQUIRE(a.number_of_elements() == b.number_of_elements());
    REQUIRE(a.type() == b.type());
    double worst = 0;
    for (int64_t i = 0; i < int64_t(a.number_of_elements()); ++i) {
        const double x = a.type().is_float() ? double(static_cast<const float*>(a.data())[i])
                                             : double(static_cast<const int*>(a.data())[i]);
        const double y = b.type().is_float() ? double(static_cast<const float*>(b.data())[i])
                                             : double(static_cast<const int*>(b.data())[i]);
        worst = std::max(worst, std::abs(x - y) / std::max(1.0, std::abs(y)));
    }
    return worst;
}

// The inference kernels scheduled by `schedule` against the CPU schedule: same probabilities.
void check_inference_results(const ir::Graph& g, const Scheduler& schedule, const Target& target) {
    INFO(g.name);
    std::mt19937_64 rng(5);
    std::uniform_real_distribution<float> u(-1, 1);
    const int batch = 7;  // not a multiple of any tile: the guards run too
    Buf images(extents_of(lower::storage_extents(g.node(g.input).shape), batch));
    for (int64_t i = 0; i < int64_t(images.number_of_elements()); ++i) images.data()[i] = u(rng);
    std::vector<Buf> params;
    for (const ir::Param& p : g.params) {
        params.emplace_back(extents_of(p.storage_extents()));
        for (int64_t i = 0; i < int64_t(params.back().number_of_elements()); ++i)
            params.back().data()[i] =
                p.role == "running_var" ? 1.0f + 0.5f * u(rng) : 0.5f * u(rng);
    }
    const Target host = host_jit();
    auto cpu_schedule = [&host](lower::InferencePipeline& p, const ir::Graph& graph) {
        schedules::schedule_inference(p, graph, host);
    };
    const Buf want = run_inference(g, cpu_schedule, host, images, params);
    const Buf got = run_inference(g, schedule, target, images, params);
    CHECK(worst_difference(got, want) < 1e-4);
}

// A buffer for a kernel argument: the declared extents, `batch` where the extent is free;
// random values (labels: classes in [0, classes)).
Halide::Buffer<> random_argument(const Halide::Internal::Parameter& p, int batch, int classes,
                                 std::mt19937_64& rng) {
    std::vector<int> extents;
    for (int d = 0; d < p.dimensions(); ++d) {
        const int64_t* e = Halide::Internal::as_const_int(p.extent_constraint(d));
        extents.push_back(e ? int(*e) : batch);
    }
    std::uniform_real_distribution<float> u(-1, 1);
    if (p.type().is_float()) {
        Buf b(extents);
        for (int64_t i = 0; i < int64_t(b.number_of_elements()); ++i) b.data()[i] = u(rng);
        return b;
    }
    Halide::Buffer<int> b(extents);
    for (int64_t i = 0; i < int64_t(b.number_of_elements()); ++i)
        b.data()[i] = int(rng() % uint64_t(classes));
    return b;
}

// An output buffer of a kernel: the declared extents, `batch` where free.
Halide::Buffer<> output_buffer(const Halide::Func& f, int batch) {
    const Halide::Internal::Parameter p = f.output_buffer().parameter();
    std::vector<int> extents;
    for (int d = 0; d < f.dimensions(); ++d) {
        const int64_t* e = Halide::Internal::as_const_int(p.extent_constraint(d));
        extents.push_back(e ? int(*e) : batch);
    }
    return Halide::Buffer<>(f.output_types().at(0), extents);
}

std::vector<Halide::Buffer<>> run_training_kernel(autodiff::TrainKernel k,
                                                  const std::vector<Halide::Buffer<>>& in,
                                                  const Target& target, int batch) {
    size_t next = 0;
    for (Halide::Internal::Parameter& p : k.parameters) {
        if (p.is_buffer())
            p.set_buffer(in.at(next++));
        else
            p.set_scalar<int>(3);  // the dropout seed
    }
    std::vector<Halide::Buffer<>> out;
    for (const Halide::Func& f : k.outputs) out.push_back(output_buffer(f, batch));
    Halide::Realization r(out);
    Halide::Pipeline(k.outputs).realize(r, target);
    for (Halide::Buffer<>& b : out) b.copy_to_host();
    return out;
}

// Every training kernel of the plan, built twice, scheduled by the CPU template and by
// `schedule`, run on the same random arguments: same outputs.
void check_training_results(
    const ir::Graph& g,
    const std::function<void(const std::vector<Halide::Func>&, const ir::Graph&)>& schedule,
    const Target& target) {
    const passes::TrainPlan plan = passes::plan_training(g);
    const std::vector<passes::Segment>& segs = plan.partition.segments;
    const Target host = host_jit();
    const int batch = 5, classes = int(g.node(g.logits).shape[0]);
    std::mt19937_64 rng(11);
    auto check = [&](const std::function<autodiff::TrainKernel()>& build, const std::string& name) {
        INFO(name);
        autodiff::TrainKernel cpu = build(), gpu = build();
        std::vector<Halide::Buffer<>> in;
        for (const Halide::Internal::Parameter& p : cpu.parameters)
            if (p.is_buffer()) in.push_back(random_argument(p, batch, classes, rng));
        schedules::schedule_training_stages(cpu.outputs, host, &g);
        schedule(gpu.outputs, g);
        const std::vector<Halide::Buffer<>> want = run_training_kernel(cpu, in, host, batch);
        const std::vector<Halide::Buffer<>> got = run_training_kernel(gpu, in, target, batch);
        for (size_t i = 0; i < want.size(); ++i) {
            INFO("output " << cpu.outputs[i].name());
            CHECK(worst_difference(got[i], want[i]) < 1e-4);
        }
    };
    for (size_t k = 0; k < plan.partition.kernels.size(); ++k)
        check([&] { return autodiff::forward_kernel(g, segs[size_t(plan.partition.kernels[k])]); },
              autodiff::forward_kernel_name(g, k));
    check([&] { return autodiff::loss_kernel(g); }, autodiff::loss_kernel_name(g));
    for (size_t k = 0; k < plan.backward_kernels.size(); ++k) {
        const passes::BackwardKernel& b = plan.backward_kernels[k];
        check([&] { return autodiff::backward_kernel(g, segs[size_t(b.segment)], b); },
              autodiff::backward_kernel_name(g, k));
    }
}

double seconds_since(std::chrono::steady_clock::time_point start) {
    return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

}  // namespace

TEST_CASE("gpu: LeNet-5's inference and training kernels compile with all work on the device") {
    const auto start = std::chrono::steady_clock::now();
    ir::Graph g = passes::build_graph(cnnc_build_model());
    REQUIRE(g.name == "lenet5");
    const int inference = check_inference(g);
    const int training = check_training(g);
    CHECK(inference >= 5);  // conv, pool, conv, pool, dense x 3 (the last with probabilities)
    CHECK(training >= 2 * inference + 1);
    MESSAGE("lenet5: " << inference << " inference and " << training << " training kernels in "
                       << seconds_since(start) << " s");
}

TEST_CASE("gpu: ResNet-18's inference kernels compile with all work on the device") {
    const auto start = std::chrono::steady_clock::now();
    const int inference = check_inference(passes::build_graph(arch::resnet18()));
    MESSAGE("resnet18: " << inference << " inference kernels in " << seconds_since(start) << " s");
}

// The 224x224 model is built for inference only; its 28x28 variant has the training step. The
// longest case here (about 20 s on 2 shared cores).
TEST_CASE("gpu: ResNet-18's training kernels compile with all work on the device") {
    const auto start = std::chrono::steady_clock::now();
    const int training = check_training(passes::build_graph(arch::resnet18_fashion()));
    MESSAGE("resnet18_fashion: " << training << " training kernels in " << seconds_since(start)
                                 << " s");
}

TEST_CASE("gpu: every other op family compiles with all work on the device") {
    const auto start = std::chrono::steady_clock::now();
    ir::Graph g = passes::build_graph(families());
    const int inference = check_inference(g);
    const int training = check_training(g);
    const int pixels = check_inference(passes::build_graph(per_pixel()));
    const int planar = check_inference(passes::build_graph(per_pixel()), lower::ImageOrder::planar) +
                       check_inference(passes::build_graph(image_output()), lower::ImageOrder::planar);
    MESSAGE("families: " << inference << " inference and " << training << " training kernels, "
                         << "per_pixel: " << pixels << " inference kernels, planar outputs: "
                         << planar << " kernels in " << seconds_since(start) << " s");
}

TEST_CASE("gpu: a stage left without GPU loops is seen running on the host") {
    Halide::ImageParam in(Halide::Float(32), 1, "in");
    Halide::Var x("x"), xo("xo"), xi("xi");
    Halide::Func host_stage("host_stage"), device_stage("device_stage");
    host_stage(x) = in(x) * 2.0f;
    device_stage(x) = host_stage(x) + 1.0f;
    host_stage.compute_root();
    device_stage.gpu_tile(x, xo, xi, 32);
    const Placement p = placement(
        Halide::Pipeline(device_stage).compile_to_module({in}, "mixed", cuda_target()));
    CHECK(p.device_kernels == 1);
    CHECK(p.host_loops == 1);
    CHECK(p.host_stores == 1);
}

TEST_CASE("gpu: the GPU loop structure run on the host computes what the CPU schedules do") {
    const auto start = std::chrono::steady_clock::now();
    const Target host = host_jit();
    const ir::Graph lenet = passes::build_graph(cnnc_build_model());
    for (const ir::Graph& g : {lenet, passes::build_graph(families()),
                               passes::build_graph(per_pixel())})
        check_inference_results(g, gpu_structure_on_host, host);
    check_training_results(
        lenet,
        [&host](const std::vector<Halide::Func>& outputs, const ir::Graph& g) {
            schedules::gpu::schedule_training_stages(outputs, host, &g);
        },
        host);
    MESSAGE("GPU loop structure on the host: " << seconds_since(start) << " s");
}

TEST_CASE("gpu: inference and training results equal the CPU schedule's on a CUDA device") {
    const Target device =
        host_jit().with_feature(Target::CUDA).with_feature(Target::CUDACapability61);
    if (!Halide::host_supports_target_device(device)) {
        MESSAGE("no CUDA device: GPU results not checked");
        return;
    }
    auto on_device = [&device](lower::InferencePipeline& p, const ir::Graph& g) {
        schedules::schedule_inference(p, g, device);
    };
    const ir::Graph lenet = passes::build_graph(cnnc_build_model());
    for (const ir::Graph& g : {lenet, passes::build_graph(families()),
                               passes::build_graph(per_pixel())})
        check_inference_results(g, on_device, device);
    check_training_results(
        lenet,
        [&device](const std::vector<Halide::Func>& outputs, const ir::Graph& g) {
            schedules::schedule_training_stages(outputs, device, &g);
        },
        device);
}
