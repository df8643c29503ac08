// The generated LeNet-5 training step (the AOT library the build made from examples/lenet5): its
// gradients against the naive reference backward, central finite differences and PyTorch, and
// its SGD-with-momentum update against torch.optim.SGD.
#include <doctest/doctest.h>

#include <cmath>
#include <random>

#include "compiler/passes/shape_inference.h"
#include "lenet5_train_step.h"
#include "runtime/pipeline.h"
#include "runtime/tensor.h"
#include "tests/reference/naive_ops.h"
#include "tests/reference/torch_bridge.h"

cnnc::Model cnnc_build_model();

using namespace cnnc;
namespace ref = cnnc::reference;
using Buffer = runtime::Tensor;

namespace {

constexpr int batch = 4;

struct Fixture {
    ref::SequentialNet net = ref::lenet5();
    ref::Act images;
    std::vector<int32_t> labels;

    Fixture() {
        net.randomize(11);
        net.round_params_to_float();  // both sides then start from identical float32 weights
        std::mt19937_64 rng(12);
        images = ref::random_act(1, 28, 28, batch, rng);
        for (double& v : images.v) v = double(float(v));
        labels = ref::random_labels(batch, 10, rng);
    }
};

struct StepResult {
    double loss = 0;
    std::vector<std::vector<double>> params, velocities;
};

// `steps` generated training steps on the same batch, starting from zero velocity.
StepResult generated_steps(const Fixture& f, int steps, float lr, float momentum) {
    std::vector<Buffer> params, velocities, next_params, next_velocities;
    for (const ref::Param& p : f.net.params()) {
        Buffer t(p.extents);
        for (size_t k = 0; k < p.values.size(); ++k) t.data()[k] = float(p.values[k]);
        params.push_back(t);
        velocities.emplace_back(p.extents);
        next_params.emplace_back(p.extents);
        next_velocities.emplace_back(p.extents);
    }
    Buffer images({1, 28, 28, batch}), loss(std::vector<int64_t>{});
    for (size_t k = 0; k < f.images.v.size(); ++k) images.data()[k] = float(f.images.v[k]);
    runtime::LabelTensor labels({batch});
    std::copy(f.labels.begin(), f.labels.end(), labels.data());
    float weight_decay = 0;
    for (int s = 0; s < steps; ++s) {
        std::vector<void*> args{images.raw(), labels.raw(), &lr, &momentum, &weight_decay};
        for (auto* set : {&params, &velocities, &next_params, &next_velocities}) {
            if (set == &next_params) args.push_back(loss.raw());
            for (Buffer& t : *set) args.push_back(t.raw());
        }
        runtime::invoke({lenet5_train_step_argv, lenet5_train_step_metadata}, args);
        std::swap(params, next_params);
        std::swap(velocities, next_velocities);
    }
    StepResult r{loss.data()[0], {}, {}};
    for (size_t i = 0; i < params.size(); ++i) {
        r.params.emplace_back(params[i].values().begin(), params[i].values().end());
        r.velocities.emplace_back(velocities[i].values().begin(), velocities[i].values().end());
    }
    return r;
}

// With lr 1, momentum 0 and zero velocity, the new velocity is exactly the generated gradient.
StepResult generated_gradients(const Fixture& f) { return generated_steps(f, 1, 1.0f, 0.0f); }

// |got - want| measured against the size of `want` as a whole, as float32 accumulation errors
// scale with the tensor's magnitude, not each element's.
double relative_error(const std::vector<double>& got, const std::vector<double>& want) {
    double diff = 0, norm = 0;
    for (size_t i = 0; i < want.size(); ++i) {
        diff = std::max(diff, std::abs(got[i] - want[i]));
        norm = std::max(norm, std::abs(want[i]));
    }
    return diff / std::max(norm, 1e-12);
}

}  // namespace

TEST_CASE("the generated step's parameters are the reference network's, in the same order") {
    ir::Graph g = passes::build_graph(cnnc_build_model());
    ref::SequentialNet net = ref::lenet5();
    REQUIRE(g.params.size() == net.params().size());
    for (size_t i = 0; i < g.params.size(); ++i) {
        CHECK(g.params[i].name == net.params()[i].name);
        CHECK(g.params[i].extents.elements() == int64_t(net.params()[i].values.size()));
    }
}

TEST_CASE("generated gradients match the naive reference backward") {
    Fixture f;
    StepResult gen = generated_gradients(f);
    ref::Evaluation want = f.net.evaluate(f.images, f.labels);
    CHECK(gen.loss == doctest::Approx(want.loss).epsilon(1e-5));
    for (size_t i = 0; i < want.grads.size(); ++i) {
        INFO("parameter " << f.net.params()[i].name);
        CHECK(relative_error(gen.velocities[i], want.grads[i]) < 1e-4);
    }
}

TEST_CASE("generated gradients match central finite differences (kink-aware)") {
    Fixture f;
    StepResult gen = generated_gradients(f);
    std::mt19937_64 rng(13);
    int probed = 0, skipped = 0;
    for (size_t i = 0; i < f.net.params().size(); ++i) {
        std::vector<double>& values = f.net.params()[i].values;
        double scale = 1e-8;
        for (double g : gen.velocities[i]) scale = std::max(scale, std::abs(g));
        for (int k = 0; k < 12; ++k) {
            size_t at = std::uniform_int_distribution<size_t>(0, values.size() - 1)(rng);
            ref::DerivativeProbe p = ref::probe_derivative(
                [&] { return f.net.loss(f.images, f.labels); }, values, at, 1e-4);
            // A probe that straddled a ReLU or max-pool kink measures nothing about the slope.
            if (p.kink > 1e-3 * scale + p.kink_noise) {
                ++skipped;
                continue;
            }
            ++probed;
            INFO("parameter " << f.net.params()[i].name << "[" << at << "]");
            CHECK(std::abs(gen.velocities[i][at] - p.value) <= 2e-4 * scale + p.value_noise);
        }
    }
    MESSAGE("finite differences: " << probed << " probes checked, " << skipped
                                   << " skipped at kinks");
    CHECK(probed >= 50);
}

TEST_CASE("generated loss and gradients match PyTorch, and so do 3 SGD-momentum steps") {
    std::string why = ref::torch_unavailable_reason();
    REQUIRE_MESSAGE(why.empty(), why);
    Fixture f;
    auto inputs = ref::lenet_reference_inputs(f.net, f.images, f.labels);
    auto torch = ref::run_lenet_reference(inputs, {.momentum_steps = 3, .lr = 0.05,
                                                   .momentum = 0.9});
    StepResult gen = generated_gradients(f);
    CHECK(gen.loss == doctest::Approx(ref::to_doubles(ref::find_tensor(torch, "loss"))[0])
                          .epsilon(1e-5));
    for (size_t i = 0; i < f.net.params().size(); ++i) {
        const std::string& name = f.net.params()[i].name;
        INFO("parameter " << name);
        CHECK(relative_error(gen.velocities[i],
                             ref::to_doubles(ref::find_tensor(torch, "grad." + name))) < 1e-4);
    }
    StepResult stepped = generated_steps(f, 3, 0.05f, 0.9f);
    for (size_t i = 0; i < f.net.params().size(); ++i) {
        const std::string& name = f.net.params()[i].name;
        INFO("updated parameter " << name);
        CHECK(relative_error(stepped.params[i],
                             ref::to_doubles(ref::find_tensor(torch, "updated." + name))) < 1e-4);
    }
}
