// Tensor helpers that need no template.
#include "runtime/tensor.h"

namespace cnnc::runtime {

std::string extents_text(const std::vector<int64_t>& extents) {
    std::string out = "[";
    for (size_t i = 0; i < extents.size(); ++i) {
        if (i) out += "x";
        out += std::to_string(extents[i]);
    }
    return out + "]";
}

}  // namespace cnnc::runtime
