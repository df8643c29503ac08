// DataError: the exception thrown for bad data and parameter files.
#pragma once

#include <stdexcept>
#include <string>

namespace cnnc::runtime {

// A file on disk is missing, malformed or does not fit the model. Kept apart from logic errors so
// that a command-line driver can print the message and exit instead of reporting a bug: the
// message always names the file and what is wrong with it, and is meant for the user as is.
class DataError : public std::runtime_error {
public:
    using std::runtime_error::runtime_error;
};

}  // namespace cnnc::runtime
