// The generated LeNet-5 training step (the AOT library the build made from examples/lenet5): its
// gradients against the naive reference backward, central finite differences and PyTorch, and
// its SGD-with-momentum update against torch.optim.SGD.
#include <doctest/doctest.h>

#include <cmath>
#include <random>

#include "compiler/passes/shape_inference.h"
#include "lenet5_train_step.h"
#include "runtime/optimizer.h"
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
    std::vector<std::vector<double>> grads, params;
};

std::vector<double> doubles(const Buffer& t) { return {t.values().begin(), t.values().end()}; }

// `steps` generated training steps on the same batch, each followed by the generated SGD-momentum
// update; returns the first step's loss and gradients and the final parameters.
StepResult generated_steps(const Fixture& f, int steps, float lr) {
    ir::Graph g = passes::build_graph(cnnc_build_model());
    std::vector<Buffer> params, grads;
    for (const ref::Param& p : f.net.params()) {
        Buffer t(p.extents);
        for (size_t k = 0; k < p.values.size(); ++k) t.data()[k] = float(p.values[k]);
        params.push_back(t);
        grads.emplace_back(p.extents);
    }
    Buffer images({1, 28, 28, batch}), loss(std::vector<int64_t>{}), correct(std::vector<int64_t>{});
    for (size_t k = 0; k < f.images.v.size(); ++k) images.data()[k] = float(f.images.v[k]);
    runtime::LabelTensor labels({batch});
    std::copy(f.labels.begin(), f.labels.end(), labels.data());
    runtime::OptimizerConfig config;
    config.kind = "momentum";
    config.lr = lr;
    config.momentum = 0.9f;
    runtime::OptimizerState optimizer(g, config);
    StepResult r;
    for (int s = 0; s < steps; ++s) {
        int32_t seed = 0;
        std::vector<void*> args{images.raw(), labels.raw(), &seed};
        for (Buffer& t : params) args.push_back(t.raw());
        args.push_back(loss.raw());
        args.push_back(correct.raw());
        for (Buffer& t : grads) args.push_back(t.raw());
        runtime::invoke({lenet5_train_step_argv, lenet5_train_step_metadata}, args);
        if (s == 0) {
            r.loss = loss.data()[0];
            for (const Buffer& t : grads) r.grads.push_back(doubles(t));
        }
        optimizer.apply(params, grads, lr);
    }
    for (const Buffer& t : params) r.params.push_back(doubles(t));
    return r;
}

StepResult generated_gradients(const Fixture& f) { return generated_steps(f, 1, 0.0f); }

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
        CHECK(relative_error(gen.grads[i], want.grads[i]) < 1e-4);
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
        for (double g : gen.grads[i]) scale = std::max(scale, std::abs(g));
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
            CHECK(std::abs(gen.grads[i][at] - p.value) <= 2e-4 * scale + p.value_noise);
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
        CHECK(relative_error(gen.grads[i],
                             ref::to_doubles(ref::find_tensor(torch, "grad." + name))) < 1e-4);
    }
    StepResult stepped = generated_steps(f, 3, 0.05f);
    for (size_t i = 0; i < f.net.params().size(); ++i) {
        const std::string& name = f.net.params()[i].name;
        INFO("updated parameter " << name);
        CHECK(relative_error(stepped.params[i],
                             ref::to_doubles(ref::find_tensor(torch, "updated." + name))) < 1e-4);
    }
}
