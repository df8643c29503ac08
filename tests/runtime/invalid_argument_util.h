// Test helper: the message of the std::invalid_argument a call is expected to throw.
#pragma once

#include <doctest/doctest.h>

#include <exception>
#include <stdexcept>
#include <string>

namespace cnnc::runtime::testing {

// The message of the std::invalid_argument that `f` throws; fails the test (and returns "") if it
// throws nothing or another exception type, so every must-fail test also checks the error type.
template <typename F>
std::string invalid_argument_of(F&& f) {
    try {
        f();
    } catch (const std::invalid_argument& e) {
        return e.what();
    } catch (const std::exception& e) {
        FAIL("expected std::invalid_argument, got another exception: " << e.what());
        return "";
    }
    FAIL("expected std::invalid_argument, nothing was thrown");
    return "";
}

}  // namespace cnnc::runtime::testing
