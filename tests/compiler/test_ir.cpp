// Graph IR: building from the DSL, verification failures, the printed form and the summary.
#include <doctest/doctest.h>

#include "compiler/ir/graph.h"
#include "compiler/passes/shape_inference.h"
#include "compiler/passes/summary.h"
#include "dsl/dsl.h"

using namespace cnnc;

namespace {

Model small_model() {
    Model m("small");
    Tensor x = m.input({1, 8, 8});
    x = max_pool(relu(conv2d(x, {.filters = 4, .kernel = 3, .padding = same})), {.kernel = 2});
    softmax_cross_entropy(dense(flatten(x), {.units = 3}));
    return m;
}

}  // namespace

TEST_CASE("the IR lists parameters with storage extents and verifies") {
    ir::Graph g = passes::build_graph(small_model());
    REQUIRE(g.params.size() == 4);
    CHECK(g.params[0].name == "conv2d.weight");
    CHECK(g.params[0].extents == Shape{4, 3, 3, 1});  // (co, kx, ky, ci)
    CHECK(g.params[2].name == "dense.weight");
    CHECK(g.params[2].extents == Shape{3, 64});  // (o, i)
    CHECK(g.logits == 5);
    CHECK(g.loss == 6);
    CHECK(g.parameter_count() == 4 * 9 + 4 + 64 * 3 + 3);
}

TEST_CASE("the printed graph shows ops, attributes, parameters and shapes") {
    std::string text = ir::print(passes::build_graph(small_model()));
    CHECK(text.find("%1 = conv2d(%0, @conv2d.weight, @conv2d.bias) {filters=4, kernel=3x3, "
                    "stride=1x1, padding=same(1,1,1,1)} : [4x8x8]") != std::string::npos);
    CHECK(text.find("%5 = dense(%4, @dense.weight, @dense.bias) {units=3} : [3]") !=
          std::string::npos);
    CHECK(text.find("output %5, loss %6") != std::string::npos);
}

TEST_CASE("verify rejects a node whose shape disagrees with inference, naming it") {
    ir::Graph g = passes::build_graph(small_model());
    g.nodes[3].shape = Shape{4, 5, 5};
    CHECK_THROWS_WITH_AS(ir::verify(g),
                         "node 'max_pool' (max_pool): shape [4x5x5] disagrees with the inferred "
                         "[4x4x4]",
                         ir::VerifyError);
}

TEST_CASE("verify rejects inputs defined later, wrong arity and duplicate names") {
    ir::Graph g = passes::build_graph(small_model());
    ir::Graph later = g;
    later.nodes[2].inputs = {5};
    CHECK_THROWS_WITH_AS(ir::verify(later), "node 'relu' (relu): input %5 is not defined before it",
                         ir::VerifyError);
    ir::Graph arity = g;
    arity.nodes[2].inputs = {1, 1};
    CHECK_THROWS_WITH_AS(ir::verify(arity), "node 'relu' (relu): takes 1 inputs, has 2",
                         ir::VerifyError);
    ir::Graph dup = g;
    dup.nodes[2].name = "conv2d";
    CHECK_THROWS_WITH_AS(ir::verify(dup), "node 'conv2d' (relu): name is used by another node",
                         ir::VerifyError);
    ir::Graph param = g;
    param.params[0].extents = Shape{4, 3, 3, 2};
    CHECK_THROWS_AS(ir::verify(param), ir::VerifyError);
}

TEST_CASE("summary counts parameters, activations and multiply-accumulates") {
    passes::Summary s = passes::summarize(passes::build_graph(small_model()));
    CHECK(s.parameters == 4 * 9 + 4 + 64 * 3 + 3);
    CHECK(s.macs == 4 * 8 * 8 * 9 + 3 * 64);
    CHECK(s.layers[1].activation_bytes == 4 * 8 * 8 * 4);
    CHECK(passes::summary_table(s).find("total") != std::string::npos);
    // Kernels: conv+relu+pool, the convolution's rows computed per task of the pool and never
    // stored whole (input 256 B and the pooled 256 B live), then dense.
    CHECK(s.peak_activation_bytes == 256 + 256);
}
