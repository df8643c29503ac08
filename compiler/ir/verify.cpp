// Structural and shape verification of the graph IR.
#include <set>

#include "compiler/ir/graph.h"

namespace cnnc::ir {
namespace {

[[noreturn]] void fail(const Node& n, const std::string& what) {
    throw VerifyError("node '" + n.name + "' (" + std::string(op_name(n.op)) + "): " + what);
}

bool arity_ok(Op op, size_t n) {
    if (op == Op::input) return n == 0;
    if (op == Op::add || op == Op::concat) return n >= 2;
    return n == 1;
}

std::string arity_text(Op op) {
    if (op == Op::input) return "0";
    if (op == Op::add || op == Op::concat) return "at least 2";
    return "1";
}

void verify_node(const Graph& g, int index, std::set<std::string>& names) {
    const Node& n = g.node(index);
    if (!names.insert(n.name).second) fail(n, "name is used by another node");
    if (!arity_ok(n.op, n.inputs.size()))
        fail(n, "takes " + arity_text(n.op) + " inputs, has " + std::to_string(n.inputs.size()));
    for (int i : n.inputs)
        if (i < 0 || i >= index) fail(n, "input %" + std::to_string(i) + " is not defined before it");
    if (n.shape.rank == 0 || n.shape.elements() <= 0) fail(n, "has no inferred shape");
    if (n.op == Op::input) return;
    std::vector<Shape> in;
    for (int i : n.inputs) in.push_back(g.node(i).shape);
    Attrs attrs = n.attrs;
    Shape expected = infer_shape(n.op, attrs, in, n.name);
    if (!(expected == n.shape))
        fail(n, "shape " + to_string(n.shape) + " disagrees with the inferred " + to_string(expected));
    auto ps = param_shapes(n.op, n.attrs, in.at(0));
    if (ps.size() != n.params.size()) fail(n, "has the wrong number of parameters");
    for (size_t k = 0; k < ps.size(); ++k)
        if (!(g.params.at(size_t(n.params[k])).extents == ps[k].extents))
            fail(n, "parameter '" + g.params[size_t(n.params[k])].name + "' has extents " +
                        to_string(g.params[size_t(n.params[k])].extents) + ", expected " +
                        to_string(ps[k].extents));
}

}  // namespace

void verify(const Graph& g) {
    if (g.input != 0) throw VerifyError("graph '" + g.name + "': the first node must be the input");
    std::set<std::string> names;
    for (int i = 0; i < int(g.nodes.size()); ++i) verify_node(g, i, names);
    if (g.logits < 0) throw VerifyError("graph '" + g.name + "': no output");
    if (g.loss >= 0 && g.loss != int(g.nodes.size()) - 1)
        throw VerifyError("graph '" + g.name + "': the loss must be the last node");
}

}  // namespace cnnc::ir
