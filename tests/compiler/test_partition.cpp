// The partition, memory-plan and training-plan passes: kernel boundaries, fusion of point-wise ops,
// batch-norm folding, kernels shared by identical layers, arena placement, backward call order.
#include <doctest/doctest.h>

#include <map>

#include "compiler/passes/memory_plan.h"
#include "compiler/passes/partition.h"
#include "compiler/passes/shape_inference.h"
#include "compiler/passes/summary.h"
#include "compiler/passes/train_plan.h"
#include "dsl/dsl.h"
#include "examples/architectures/resnet.h"

using namespace cnnc;

namespace {

std::vector<std::string> names(const ir::Graph& g, const std::vector<int>& nodes) {
    std::vector<std::string> out;
    for (int i : nodes) out.push_back(g.node(i).name);
    return out;
}

}  // namespace

TEST_CASE("point-wise ops run inside the kernel that reads them; flatten is skipped by dense") {
    Model m("small");
    Tensor x = m.input({1, 8, 8});
    x = relu(conv2d(x, {.filters = 4, .kernel = 3, .padding = same, .name = "conv"}), "act");
    x = relu(conv2d(x, {.filters = 4, .kernel = 3, .padding = same, .name = "conv2"}), "act2");
    x = avg_pool(x, {.kernel = 2, .name = "pool"});
    softmax_cross_entropy(dense(flatten(x, "flat"), {.units = 3, .name = "fc"}));
    ir::Graph g = passes::build_graph(m);
    passes::Partition p = passes::partition_inference(g);
    REQUIRE(p.segments.size() == 3);
    // The convolution's only reader is its activation: the kernel writes the activation.
    CHECK(names(g, p.segments[0].nodes) == std::vector<std::string>{"conv", "act"});
    CHECK(names(g, p.segments[0].inputs) == std::vector<std::string>{"input"});
    CHECK(p.segments[0].fused_producer == -1);
    CHECK(g.node(p.segments[0].epilogue_of).name == "conv");
    // The pool's only input is a convolution (through its activation): one kernel computes both.
    CHECK(names(g, p.segments[1].nodes) == std::vector<std::string>{"conv2", "act2", "pool"});
    CHECK(names(g, p.segments[1].inputs) == std::vector<std::string>{"act"});
    CHECK(p.segments[1].epilogue_of == -1);
    CHECK(g.node(p.segments[1].fused_producer).name == "conv2");
    // The flatten is never materialised: dense reads the pooled image with an affine index.
    CHECK(names(g, p.segments[2].nodes) == std::vector<std::string>{"fc"});
    CHECK(names(g, p.segments[2].inputs) == std::vector<std::string>{"pool"});
    CHECK(p.segments[2].probabilities);
    CHECK_FALSE(p.segments[0].probabilities);
    CHECK(p.segments[0].params.size() == 2);
    CHECK(p.segments[1].params.size() == 2);
    CHECK(p.kernels.size() == 3);
    // Training keeps every convolution a value of its own: the backward pass reads it.
    passes::Partition t = passes::partition_training(g);
    CHECK(t.segments.size() == 4);
    for (const passes::Segment& s : t.segments) CHECK(s.fused_producer == -1);
    for (const passes::Segment& s : t.segments) CHECK(s.epilogue_of == -1);
}

TEST_CASE("a convolution read only by its activation is part of the activation's kernel") {
    Model m("epilogues");
    Tensor x = m.input({2, 8, 8});
    // A chain of two activations, the second read twice: the kernel writes the second.
    Tensor a = conv2d(x, {.filters = 4, .kernel = 3, .padding = same, .name = "a"});
    a = relu6(relu(a, "a_relu"), "a_clamp");
    // Read by its activation and by a sum: written as it is.
    Tensor b = conv2d(a, {.filters = 4, .kernel = 3, .padding = same, .name = "b"});
    Tensor b_act = relu(b, "b_relu");
    Tensor sum = add({b, a}, "sum");
    // Two convolutions read only by one sum (a ResNet block with a projection shortcut): the
    // sum and its ReLU join the first one's kernel; the second is written as it is.
    Tensor c = conv2d(a, {.filters = 4, .kernel = 1, .name = "c"});
    Tensor d = conv2d(a, {.filters = 4, .kernel = 1, .name = "d"});
    Tensor cd = relu(add({c, d}, "cd"), "cd_relu");
    // Zero padding changes the shape: the chain stops before it.
    Tensor e = conv2d(a, {.filters = 4, .kernel = 3, .name = "e"});  // 6x6
    e = zero_pad(relu(e, "e_relu"), {1, 1, 1, 1}, "e_pad");
    Tensor out = add({add({add({sum, b_act}, "sum2"), cd}, "sum3"), e}, "sum4");
    softmax_cross_entropy(dense(flatten(out), {.units = 3, .name = "fc"}));
    ir::Graph g = passes::build_graph(m);
    std::map<std::string, const passes::Segment*> by_output;
    const passes::Partition p = passes::partition_inference(g);
    for (const passes::Segment& s : p.segments) by_output[g.node(s.output).name] = &s;
    REQUIRE(by_output.count("a_clamp"));
    CHECK(names(g, by_output["a_clamp"]->nodes) ==
          std::vector<std::string>{"a", "a_relu", "a_clamp"});
    CHECK(g.node(by_output["a_clamp"]->epilogue_of).name == "a");
    CHECK_FALSE(by_output.count("a"));
    REQUIRE(by_output.count("b"));
    CHECK(by_output["b"]->epilogue_of == -1);
    // The chain goes on through the sums after cd_relu, each read once.
    REQUIRE(by_output.count("sum4"));
    const passes::Segment& c_kernel = *by_output["sum4"];
    CHECK(g.node(c_kernel.epilogue_of).name == "c");
    // The other point-wise nodes read once run inside it too, as everywhere.
    CHECK(names(g, c_kernel.nodes) == std::vector<std::string>{"b_relu", "sum", "c", "cd",
                                                               "cd_relu", "e_pad", "sum2", "sum3",
                                                               "sum4"});
    CHECK(names(g, c_kernel.inputs) == std::vector<std::string>{"b", "a_clamp", "d", "e_relu"});
    REQUIRE(by_output.count("d"));
    CHECK(by_output["d"]->epilogue_of == -1);
    REQUIRE(by_output.count("e_relu"));
    CHECK(g.node(by_output["e_relu"]->epilogue_of).name == "e");
}

TEST_CASE("a convolution read by two layers, or by a pool through a sum, stays its own kernel") {
    Model m("shared");
    Tensor x = m.input({2, 8, 8});
    Tensor c = relu(conv2d(x, {.filters = 2, .kernel = 3, .padding = same, .name = "conv"}));
    Tensor both = add({c, x}, "sum");
    Tensor pooled = max_pool(both, {.kernel = 2, .name = "pool"});
    Tensor other = max_pool(c, {.kernel = 2, .name = "pool2"});
    softmax_cross_entropy(dense(flatten(add({pooled, other})), {.units = 3, .name = "fc"}));
    ir::Graph g = passes::build_graph(m);
    for (const passes::Segment& s : passes::partition_inference(g).segments) {
        CHECK(s.fused_producer == -1);
        if (g.node(s.output).name == "conv") CHECK(s.nodes.size() == 1);
    }
}

TEST_CASE("a depthwise convolution is computed in the kernel of the 1x1 convolution it feeds") {
    Model m("separable");
    Tensor x = m.input({8, 6, 6});
    x = conv2d(
        x, {.filters = 8, .kernel = 3, .padding = same, .groups = 8, .bias = false, .name = "dw"});
    x = relu6(batch_norm(x, {.name = "dw_bn"}), "dw_act");
    x = conv2d(x, {.filters = 16, .kernel = 1, .bias = false, .name = "pw"});
    x = batch_norm(x, {.name = "pw_bn"});
    Tensor y =
        conv2d(x, {.filters = 16, .kernel = 3, .padding = same, .groups = 16, .name = "dw2"});
    y = conv2d(y, {.filters = 4, .kernel = 3, .padding = same, .name = "full"});  // not 1x1
    softmax_cross_entropy(dense(flatten(y), {.units = 3, .name = "fc"}));
    ir::Graph g = passes::build_graph(m);
    passes::Partition p = passes::partition_inference(g);
    REQUIRE(p.segments.size() == 4);
    CHECK(names(g, p.segments[0].nodes) ==
          std::vector<std::string>{"dw", "dw_bn", "dw_act", "pw", "pw_bn"});
    CHECK(g.node(p.segments[0].fused_producer).name == "dw");
    CHECK(g.node(p.segments[0].output).name == "pw_bn");
    CHECK(p.segments[1].fused_producer == -1);  // dw2 feeds a 3x3 convolution
    CHECK(p.segments[2].fused_producer == -1);
}

TEST_CASE("a folded batch norm belongs to its convolution's kernel") {
    Model m("folded");
    Tensor x = m.input({3, 8, 8});
    Tensor c =
        conv2d(x, {.filters = 4, .kernel = 3, .padding = same, .bias = false, .name = "conv"});
    x = relu(batch_norm(c, {.name = "bn"}), "act");
    softmax_cross_entropy(dense(flatten(x), {.units = 3, .name = "fc"}));
    ir::Graph g = passes::build_graph(m);
    passes::Partition p = passes::partition_inference(g);
    REQUIRE(p.segments.size() == 2);
    // With its activation, the convolution's only reader: the kernel writes the activation.
    CHECK(names(g, p.segments[0].nodes) == std::vector<std::string>{"conv", "bn", "act"});
    CHECK(g.node(p.segments[0].output).name == "act");
    CHECK(g.node(p.segments[0].epilogue_of).name == "conv");
    CHECK(p.segments[0].params.size() == 5);  // conv weight, bn weight, bias, mean, var
    CHECK(names(g, p.segments[1].nodes) == std::vector<std::string>{"fc"});
}

TEST_CASE("identical layers share one kernel; different shapes or attributes do not") {
    Model m("repeat");
    Tensor x = m.input({8, 6, 6});
    for (int i = 0; i < 3; ++i) x = relu(conv2d(x, {.filters = 8, .kernel = 3, .padding = same}));
    x = relu(conv2d(x, {.filters = 8, .kernel = 3, .stride = 2, .padding = same}));
    softmax_cross_entropy(dense(flatten(x), {.units = 3}));
    ir::Graph g = passes::build_graph(m);
    passes::Partition p = passes::partition_inference(g);
    REQUIRE(p.segments.size() == 5);
    // Each kernel computes a convolution and its ReLU from an 8x6x6 value: the first three are
    // one kernel; the strided one is another.
    CHECK(p.segments[1].kernel == p.segments[2].kernel);
    CHECK(p.segments[0].kernel == p.segments[1].kernel);
    CHECK(p.segments[3].kernel != p.segments[2].kernel);
    CHECK(p.kernels.size() == 3);
}

TEST_CASE("ResNet-152's repeated blocks compile to few kernels") {
    ir::Graph g = passes::build_graph(arch::resnet152());
    passes::Partition p = passes::partition_inference(g);
    // 155 convolutions (batch norms folded in), the max pool, the global pool and the
    // classifier. Each block's sum and ReLU are computed in the tile of its last convolution
    // (the last block's, read by the pool alone, in the pool's kernel); the stem's convolution
    // is computed in its pool's kernel.
    CHECK(p.segments.size() == 157);
    CHECK(p.kernels.size() <= 27);
    MESSAGE("ResNet-152: " << p.segments.size() << " kernel calls, " << p.kernels.size()
                           << " distinct kernels");
}

TEST_CASE("the memory plan reuses dead values' memory and never overlaps live ones") {
    ir::Graph g = passes::build_graph(arch::resnet50());
    passes::Partition p = passes::partition_inference(g);
    passes::MemoryPlan m = passes::plan_memory(g, p);
    std::map<int, size_t> written, last_read;
    for (size_t t = 0; t < p.segments.size(); ++t) {
        written[p.segments[t].output] = t;
        last_read[p.segments[t].output] = t;
        for (int i : p.segments[t].inputs) last_read[i] = t;
    }
    int64_t total = 0;
    for (const auto& [a, offset_a] : m.offset) {
        const int64_t size_a = g.node(a).shape.elements();
        total += size_a;
        CHECK(offset_a + size_a <= m.arena_floats);
        CHECK(offset_a % 16 == 0);  // 64-byte aligned at any batch (compiler/passes/memory_plan)
        for (const auto& [b, offset_b] : m.offset) {
            if (a >= b || last_read[a] < written[b] || last_read[b] < written[a]) continue;
            const int64_t size_b = g.node(b).shape.elements();
            INFO(g.node(a).name << " and " << g.node(b).name << " are live together");
            CHECK((offset_a + size_a <= offset_b || offset_b + size_b <= offset_a));
        }
    }
    // Every value but the output is in the arena, which is far smaller than all of them.
    CHECK(m.offset.size() == p.segments.size() - 1);
    CHECK(m.arena_floats * 4 < total);
    // No plan can beat the live peak; first fit stays close to it.
    const int64_t peak_floats = passes::summarize(g).peak_activation_bytes / 4;
    CHECK(m.arena_floats <= peak_floats * 3 / 2);
    MESSAGE("ResNet-50: arena " << m.arena_floats * 4 << " bytes per image, all values "
                                << total * 4 << ", live peak " << peak_floats * 4);
}

TEST_CASE("the training plan: backward calls in reverse, adjoints summed, buffers never overlap") {
    ir::Graph g = passes::build_graph(arch::resnet18_fashion());
    passes::TrainPlan p = passes::plan_training(g);
    const size_t segments = p.partition.segments.size();
    REQUIRE(p.calls.size() == 2 * segments + 1);  // every segment here has a gradient to give
    CHECK(p.calls[segments].kind == passes::TrainCall::Kind::loss);
    // The stem's output and every block's output but the last (read by the pool only) feed the
    // next block's convolution and its shortcut: their adjoints have two contributions.
    size_t summed = 0;
    for (const passes::TrainCall& c : p.calls) summed += c.adjoints.size() == 2;
    CHECK(summed == 8);
    std::vector<size_t> from(p.buffers.size(), p.calls.size()), to(p.buffers.size(), 0);
    for (size_t t = 0; t < p.calls.size(); ++t)
        for (const std::vector<int>* list :
             {&p.calls[t].inputs, &p.calls[t].adjoints, &p.calls[t].outputs})
            for (int b : *list) {
                from[size_t(b)] = std::min(from[size_t(b)], t);
                to[size_t(b)] = std::max(to[size_t(b)], t);
            }
    int64_t total = 0;
    for (size_t a = 1; a < p.buffers.size(); ++a) {
        const int64_t size_a = p.buffers[a].shape.elements();
        total += size_a;
        CHECK(p.buffers[a].offset + size_a <= p.arena_floats);
        for (size_t b = a + 1; b < p.buffers.size(); ++b) {
            if (to[a] < from[b] || to[b] < from[a]) continue;
            INFO("buffers " << a << " and " << b << " are live together");
            const int64_t size_b = p.buffers[b].shape.elements();
            CHECK((p.buffers[a].offset + size_a <= p.buffers[b].offset ||
                   p.buffers[b].offset + size_b <= p.buffers[a].offset));
        }
    }
    CHECK(p.arena_floats * 2 < total);
    MESSAGE("ResNet-18 (28x28) training: " << p.calls.size() << " calls, arena "
                                           << p.arena_floats * 4 << " bytes per image, unshared "
                                           << total * 4);
}
