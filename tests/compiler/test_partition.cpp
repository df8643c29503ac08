// The partition pass: kernel boundaries, fusion of point-wise ops, batch-norm folding and the
// sharing of kernels between identical layers.
#include <doctest/doctest.h>

#include "compiler/passes/partition.h"
#include "compiler/passes/shape_inference.h"
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
    x = max_pool(x, {.kernel = 2, .name = "pool"});
    softmax_cross_entropy(dense(flatten(x, "flat"), {.units = 3, .name = "fc"}));
    ir::Graph g = passes::build_graph(m);
    passes::Partition p = passes::partition_inference(g);
    REQUIRE(p.segments.size() == 3);
    CHECK(names(g, p.segments[0].nodes) == std::vector<std::string>{"conv"});
    CHECK(names(g, p.segments[0].inputs) == std::vector<std::string>{"input"});
    CHECK(names(g, p.segments[1].nodes) == std::vector<std::string>{"act", "pool"});
    CHECK(names(g, p.segments[1].inputs) == std::vector<std::string>{"conv"});
    // The flatten is never materialised: dense reads the pooled image with an affine index.
    CHECK(names(g, p.segments[2].nodes) == std::vector<std::string>{"fc"});
    CHECK(names(g, p.segments[2].inputs) == std::vector<std::string>{"pool"});
    CHECK(p.segments[2].probabilities);
    CHECK_FALSE(p.segments[0].probabilities);
    CHECK(p.segments[0].params.size() == 2);
    CHECK(p.kernels.size() == 3);
}

TEST_CASE("a folded batch norm belongs to its convolution's kernel") {
    Model m("folded");
    Tensor x = m.input({3, 8, 8});
    Tensor c = conv2d(x, {.filters = 4, .kernel = 3, .padding = same, .bias = false,
                          .name = "conv"});
    x = relu(batch_norm(c, {.name = "bn"}), "act");
    softmax_cross_entropy(dense(flatten(x), {.units = 3, .name = "fc"}));
    ir::Graph g = passes::build_graph(m);
    passes::Partition p = passes::partition_inference(g);
    REQUIRE(p.segments.size() == 2);
    CHECK(names(g, p.segments[0].nodes) == std::vector<std::string>{"conv", "bn"});
    CHECK(g.node(p.segments[0].output).name == "bn");
    CHECK(p.segments[0].params.size() == 5);  // conv weight, bn weight, bias, mean, var
    CHECK(names(g, p.segments[1].nodes) == std::vector<std::string>{"act", "fc"});
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
    // The first convolution reads the input directly, the next two read relu(previous): those
    // two are one kernel; the strided one is another.
    CHECK(p.segments[1].kernel == p.segments[2].kernel);
    CHECK(p.segments[0].kernel != p.segments[1].kernel);
    CHECK(p.segments[3].kernel != p.segments[2].kernel);
    CHECK(p.kernels.size() == 4);
}

TEST_CASE("ResNet-152's repeated blocks compile to few kernels") {
    ir::Graph g = passes::build_graph(arch::resnet152());
    passes::Partition p = passes::partition_inference(g);
    // 155 convolutions (batch norms folded in), the max pool, the global pool, the classifier,
    // and the sums of 49 blocks: read by the next block's convolution and its shortcut, they are
    // computed once. Only the last block's sum, read by the pool alone, is fused into it.
    CHECK(p.segments.size() == 158 + 49);
    CHECK(p.kernels.size() <= 31);
    MESSAGE("ResNet-152: " << p.segments.size() << " kernel calls, " << p.kernels.size()
                           << " distinct kernels");
}
