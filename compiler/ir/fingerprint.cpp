// The fingerprint of a model's weight layout: the weights file checksum over a canonical text.
#include "compiler/ir/fingerprint.h"

#include <sstream>

#include "runtime/library/weights_format.h"

namespace cnnc::ir {

uint64_t weights_fingerprint(const Graph& g) {
    std::ostringstream s;
    auto shape = [&](const Shape& sh) {
        for (int d = 0; d < sh.rank; ++d) s << sh.dims[size_t(d)] << ",";
        s << ";";
    };
    s << g.name << "\n";
    shape(g.node(g.input).shape);
    shape(g.node(g.logits).shape);
    s << "\n";
    for (const Param& p : g.params) {
        s << p.name << ":";
        for (int64_t e : p.storage_extents()) s << e << ",";
        s << "\n";
    }
    const std::string text = s.str();
    return cnnc_weights_checksum(reinterpret_cast<const unsigned char*>(text.data()), text.size());
}

}  // namespace cnnc::ir
