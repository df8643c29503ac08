// Helpers shared by the DSL tests.
#pragma once

#include <doctest/doctest.h>

#include <string>

#include "dsl/shape_rules.h"

namespace cnnc::test {

// The message of the ShapeError that `build` throws; fails the test if it throws none.
inline std::string error_of(auto&& build) {
    try {
        build();
    } catch (const ShapeError& e) {
        return e.what();
    }
    FAIL("expected a ShapeError");
    return {};
}

}  // namespace cnnc::test
