// The cnnc DSL in one include: shapes, ops, models and layer functions.
#pragma once

#include "dsl/layers.h"
#include "dsl/model.h"
#include "dsl/ops.h"
#include "dsl/shape.h"
#include "dsl/shape_rules.h"

// Names the function that builds the model of this program: the compiler and the model binary
// both call cnnc_build_model().
::cnnc::Model cnnc_build_model();

#define CNNC_MODEL(build_function) \
    ::cnnc::Model cnnc_build_model() { return build_function(); }
