// Per-layer figures of a graph: output shape, parameters, activation memory, multiply-accumulates.
#pragma once

#include <string>
#include <vector>

#include "compiler/ir/graph.h"

namespace cnnc::passes {

struct LayerFigures {
    std::string name;
    std::string op;
    Shape shape;
    int64_t parameters = 0;
    int64_t activation_bytes = 0;  // per sample, float32
    int64_t macs = 0;              // per sample
};

struct Summary {
    std::vector<LayerFigures> layers;
    int64_t parameters = 0;
    int64_t macs = 0;
    int64_t activation_bytes = 0;
    // The most activation memory the inference library holds at once for one image: the values
    // between its kernels that are live together (passes::partition_inference), input included.
    int64_t peak_activation_bytes = 0;
};

Summary summarize(const ir::Graph& graph);

// The table `summary` and `--emit=shapes` print.
std::string summary_table(const Summary& s);

}  // namespace cnnc::passes
