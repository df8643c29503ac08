// Test helpers: LeNet-5's graph and generated pipelines (plus the model-independent helpers).
#pragma once

#include "compiler/passes/shape_inference.h"
#include "lenet5_infer.h"
#include "lenet5_train_step.h"
#include "runtime/trainer.h"
#include "training_data.h"

cnnc::Model cnnc_build_model();

namespace cnnc::runtime::testing {

inline const ir::Graph& lenet5_graph() {
    static const ir::Graph g = passes::build_graph(cnnc_build_model());
    return g;
}

inline Pipelines lenet5_pipelines() {
    return {{lenet5_infer_argv, lenet5_infer_metadata},
            {lenet5_train_step_argv, lenet5_train_step_metadata}};
}

}  // namespace cnnc::runtime::testing
