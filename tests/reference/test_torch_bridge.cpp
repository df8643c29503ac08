// Tests of the tensor-file bridge and of the naive LeNet-5 reference against PyTorch.
#include <doctest/doctest.h>
#include <unistd.h>

#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <stdexcept>
#include <string>
#include <vector>

#include "tests/reference/naive_ops.h"
#include "tests/reference/torch_bridge.h"

namespace ref = cnnc::reference;

namespace {

// ||a - b|| / ||b||: one number per tensor, insensitive to individual tiny entries.
double relative_difference(const std::vector<double>& a, const std::vector<double>& b) {
    REQUIRE(a.size() == b.size());
    double diff = 0, norm = 0;
    for (size_t i = 0; i < a.size(); ++i) {
        diff += (a[i] - b[i]) * (a[i] - b[i]);
        norm += b[i] * b[i];
    }
    return std::sqrt(diff) / std::max(std::sqrt(norm), 1e-300);
}

std::filesystem::path scratch_file(const std::string& name) {
    return std::filesystem::temp_directory_path() /
           ("cnnc-reference-test-" + std::to_string(::getpid()) + "-" + name);
}

// Runs the PyTorch script; a missing torch is a failure that says so, never a silent skip.
std::vector<ref::NamedArray> run_torch(const std::vector<ref::NamedArray>& inputs,
                                       const ref::TorchRunOptions& options) {
    try {
        return ref::run_lenet_reference(inputs, options);
    } catch (const std::exception& e) {
        FAIL(e.what());
    }
    return {};
}

}  // namespace

TEST_CASE("tensor files round-trip and reject corrupt input") {
    std::vector<ref::NamedArray> arrays{
        {"scalar", {}, {3.5f}},
        {"conv2d.weight", {2, 3, 1, 2}, {}},
        {"empty", {0, 4}, {}},
        {"labels", {3}, {1.0f, 0.0f, 9.0f}},
    };
    for (int i = 0; i < 12; ++i) arrays[1].values.push_back(float(i) * 0.25f - 1.0f);
    std::string path = scratch_file("roundtrip.cnnt").string();
    ref::write_tensors(path, arrays);
    std::vector<ref::NamedArray> back = ref::read_tensors(path);
    REQUIRE(back.size() == arrays.size());
    for (size_t i = 0; i < arrays.size(); ++i) {
        CHECK(back[i].name == arrays[i].name);
        CHECK(back[i].extents == arrays[i].extents);
        CHECK(back[i].values == arrays[i].values);
    }
    CHECK(ref::find_tensor(back, "labels").values[2] == 9.0f);
    CHECK_THROWS_AS(ref::find_tensor(back, "missing"), std::runtime_error);

    // Truncation anywhere must be reported, not read as zeros.
    auto size = std::filesystem::file_size(path);
    std::filesystem::resize_file(path, size - 3);
    CHECK_THROWS_AS(ref::read_tensors(path), std::runtime_error);
    {
        std::ofstream bad(path, std::ios::binary | std::ios::trunc);
        bad << "NOTATENSORFILE";
    }
    CHECK_THROWS_AS(ref::read_tensors(path), std::runtime_error);
    std::filesystem::remove(path);

    ref::NamedArray wrong{"wrong", {2, 2}, {1.0f}};
    CHECK_THROWS_AS(ref::write_tensors(path, {wrong}), std::runtime_error);
    std::filesystem::remove(path);
}

TEST_CASE("LeNet-5: naive double reference agrees with PyTorch") {
    ref::SequentialNet net = ref::lenet5();
    net.randomize(2024);
    // Both sides must see identical inputs, and the exchange is float32.
    net.round_params_to_float();
    std::mt19937_64 rng(7);
    const int64_t batch = 4;
    ref::Act images = ref::random_act(1, 28, 28, batch, rng, 0.0, 1.0);
    for (double& v : images.v) v = double(float(v));
    std::vector<int32_t> labels = ref::random_labels(batch, 10, rng);

    ref::TorchRunOptions options;
    options.momentum_steps = 3;
    options.lr = 0.05;
    options.momentum = 0.9;
    std::vector<ref::NamedArray> torch =
        run_torch(ref::lenet_reference_inputs(net, images, labels), options);

    ref::Evaluation e = net.evaluate(images, labels);

    // One script run (about a second of torch import) serves every check below, so no SUBCASEs:
    // doctest would re-run the whole case, and the script, for each of them.
    {  // float64 loss, logits, probabilities and gradients
        double torch_loss = ref::find_tensor(torch, "loss").values.at(0);
        CHECK(std::abs(torch_loss - e.loss) <= 1e-6 * std::abs(e.loss));
        const ref::NamedArray& logits = ref::find_tensor(torch, "logits");
        CHECK(logits.extents == std::vector<int64_t>{10, batch});
        CHECK(relative_difference(ref::to_doubles(logits), e.logits.v) <= 1e-6);
        CHECK(relative_difference(ref::to_doubles(ref::find_tensor(torch, "probabilities")),
                                  e.probabilities.v) <= 1e-6);
        for (size_t p = 0; p < net.params().size(); ++p) {
            const ref::Param& param = net.params()[p];
            const ref::NamedArray& g = ref::find_tensor(torch, "grad." + param.name);
            INFO(param.name);
            CHECK(g.extents == param.extents);
            CHECK(relative_difference(ref::to_doubles(g), e.grads[p]) <= 1e-6);
        }
    }

    {  // the float32 run agrees to float32 accuracy
        double torch_loss = ref::find_tensor(torch, "float32.loss").values.at(0);
        CHECK(std::abs(torch_loss - e.loss) <= 1e-5 * std::abs(e.loss));
        for (size_t p = 0; p < net.params().size(); ++p) {
            const ref::Param& param = net.params()[p];
            INFO(param.name);
            CHECK(relative_difference(
                      ref::to_doubles(ref::find_tensor(torch, "float32.grad." + param.name)),
                      e.grads[p]) <= 1e-4);
        }
    }

    {  // SGD with momentum steps
        ref::SequentialNet trained = net;
        std::vector<std::vector<double>> velocity;
        const ref::NamedArray& losses = ref::find_tensor(torch, "momentum.losses");
        REQUIRE(losses.values.size() == size_t(options.momentum_steps));
        for (int step = 0; step < options.momentum_steps; ++step) {
            ref::Evaluation s = trained.evaluate(images, labels);
            INFO("step " << step);
            CHECK(std::abs(losses.values[size_t(step)] - s.loss) <= 1e-6 * std::abs(s.loss));
            ref::sgd_momentum_step(trained, s.grads, velocity, options.lr, options.momentum);
        }
        for (size_t p = 0; p < trained.params().size(); ++p) {
            const ref::Param& param = trained.params()[p];
            INFO(param.name);
            std::vector<double> updated =
                ref::to_doubles(ref::find_tensor(torch, "updated." + param.name));
            CHECK(relative_difference(updated, param.values) <= 1e-6);
            // The change itself, so that a wrong update cannot hide under the weights' size;
            // looser because the stored parameters were rounded to float32.
            std::vector<double> torch_delta(updated.size()), delta(updated.size());
            for (size_t i = 0; i < updated.size(); ++i) {
                torch_delta[i] = updated[i] - net.params()[p].values[i];
                delta[i] = param.values[i] - net.params()[p].values[i];
            }
            CHECK(relative_difference(torch_delta, delta) <= 1e-4);
        }
    }
}

TEST_CASE("tensor files, version 2: float64 travels exactly, text entries, activations") {
    std::vector<double> exact{0.1, -1.0 / 3.0, 1e-300, 12345.678901234567};
    std::vector<ref::NamedArray> arrays{
        ref::to_named_array64("exact", {2, 2}, exact),
        ref::text_array("spec.json", R"({"op": "relu", "note": "ünïcode"})"),
        {"single", {2}, {1.5f, -2.5f}},
        ref::to_named_array64("empty64", {0}, std::vector<double>{}),
    };
    std::string path = scratch_file("v2.cnnt").string();
    ref::write_tensors(path, arrays);
    {
        std::ifstream in(path, std::ios::binary);
        char magic[8];
        in.read(magic, 8);
        CHECK(std::string(magic, 8) == "CNNCTNS2");
    }
    std::vector<ref::NamedArray> back = ref::read_tensors(path);
    REQUIRE(back.size() == arrays.size());
    CHECK(back[0].dtype == ref::Dtype::float64);
    CHECK(ref::to_doubles(back[0]) == exact);                     // bit for bit
    CHECK(back[0].values[1] == float(-1.0 / 3.0));               // and rounded for float readers
    CHECK(back[1].dtype == ref::Dtype::text);
    CHECK(back[1].text == arrays[1].text);
    CHECK_THROWS_AS(ref::to_doubles(back[1]), std::invalid_argument);
    CHECK(back[2].dtype == ref::Dtype::float32);
    CHECK(back[2].values == arrays[2].values);
    CHECK(back[3].extents == std::vector<int64_t>{0});

    // A truncated version 2 file, and an unknown dtype, are reported.
    auto size = std::filesystem::file_size(path);
    std::filesystem::resize_file(path, size - 40);
    CHECK_THROWS_AS(ref::read_tensors(path), std::runtime_error);
    ref::write_tensors(path, {ref::to_named_array64("x", {1}, std::vector<double>{1.0})});
    {
        std::fstream f(path, std::ios::binary | std::ios::in | std::ios::out);
        f.seekp(8 + 8 + 4 + 1);  // magic, count, name length, name: the dtype byte
        f.put(char(7));
    }
    CHECK_THROWS_AS(ref::read_tensors(path), std::runtime_error);
    std::filesystem::remove(path);

    // All-float32 files stay version 1, which older readers understand.
    ref::write_tensors(path, {arrays[2]});
    {
        std::ifstream in(path, std::ios::binary);
        char magic[8];
        in.read(magic, 8);
        CHECK(std::string(magic, 8) == "CNNCTNS1");
    }
    std::filesystem::remove(path);

    std::mt19937_64 rng(3);
    ref::Act spatial = ref::random_act(3, 4, 2, 2, rng);
    ref::Act flat = ref::random_act(5, 1, 1, 3, rng);
    ref::NamedArray s = ref::act_to_named_array("s", spatial);
    ref::NamedArray f = ref::act_to_named_array("f", flat);
    CHECK(s.extents == std::vector<int64_t>{3, 4, 2, 2});
    CHECK(f.extents == std::vector<int64_t>{5, 3});
    ref::Act s_back = ref::named_array_to_act(s), f_back = ref::named_array_to_act(f);
    CHECK(s_back.same_shape(spatial));
    CHECK(s_back.v == spatial.v);
    CHECK(f_back.same_shape(flat));
    CHECK(f_back.v == flat.v);
}

TEST_CASE("reference cases: names are checked before anything runs") {
    std::vector<ref::ReferenceCase> slash{{"a/b", R"({"op": "relu"})", {}}};
    CHECK_THROWS_AS(ref::run_op_references(slash), std::invalid_argument);
    std::vector<ref::ReferenceCase> twice{{"a", "{}", {}}, {"a", "{}", {}}};
    CHECK_THROWS_AS(ref::run_op_references(twice), std::invalid_argument);
    CHECK_THROWS_AS(ref::optimizer_reference_inputs({{1.0}}, {{{1.0}, {2.0}}}),
                    std::invalid_argument);
}
