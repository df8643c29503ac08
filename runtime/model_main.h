// The model program's command line: summary, train, eval, bench and export over generated code.
#pragma once

#include <string>

#include "dsl/model.h"
#include "runtime/trainer.h"

namespace cnnc::runtime {

struct ModelProgram {
    Model (*build_model)() = nullptr;
    PipelineEntry infer;
    PipelineEntry train_step;
    std::string compiler;     // the model's compiler program, which `export` and `tune` run
    std::string records_dir;  // tuned schedule records, which `tune` writes
};

int model_main(int argc, char** argv, const ModelProgram& program);

}  // namespace cnnc::runtime
