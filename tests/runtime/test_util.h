// Runtime test helpers: a scratch directory and the message of an expected DataError.
#pragma once

#include <doctest/doctest.h>
#include <unistd.h>

#include <atomic>
#include <filesystem>
#include <stdexcept>
#include <string>

#include "runtime/errors.h"

// Checks that an error message contains `part`, showing the whole message when it does not.
#define CHECK_HAS(message, part)                                     \
    CHECK_MESSAGE(::cnnc::runtime::testing::contains(message, part), \
                  "message: " << (message) << "\nlacks: " << (part))

namespace cnnc::runtime::testing {

class TempDir {
public:
    // Named by process id and a counter so parallel test runs never share files.
    TempDir() {
        static std::atomic<int> counter{0};
        auto base = std::filesystem::temp_directory_path();
        for (int tries = 0; tries < 100; ++tries) {
            path_ = base /
                    ("cnnc-test-" + std::to_string(::getpid()) + "-" + std::to_string(counter++));
            if (std::filesystem::create_directory(path_)) return;
        }
        throw std::runtime_error("cannot create a temporary directory under " + base.string());
    }
    ~TempDir() {
        std::error_code ec;
        std::filesystem::remove_all(path_, ec);
    }
    TempDir(const TempDir&) = delete;
    TempDir& operator=(const TempDir&) = delete;

    std::string file(const std::string& name) const { return (path_ / name).string(); }
    const std::filesystem::path& path() const { return path_; }

private:
    std::filesystem::path path_;
};

// The message of the DataError that `f` throws; fails the test (and returns "") if it throws
// nothing or another exception type.
template <typename F>
std::string data_error_of(F&& f) {
    try {
        f();
    } catch (const DataError& e) {
        return e.what();
    } catch (const std::exception& e) {
        FAIL("expected DataError, got another exception: " << e.what());
        return "";
    }
    FAIL("expected DataError, nothing was thrown");
    return "";
}

inline bool contains(const std::string& text, const std::string& part) {
    return text.find(part) != std::string::npos;
}

}  // namespace cnnc::runtime::testing
