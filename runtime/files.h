// Writing files so that a failure never leaves a half-written one behind.
#pragma once

#include <string>

namespace cnnc::runtime {

// Writes `bytes` to path + ".tmp", flushes it to disk, then renames it over `path`: `path` is
// either the old file or the complete new one. Throws DataError naming `what` and the path.
void write_atomically(const std::string& path, const std::string& bytes, const char* what);

}  // namespace cnnc::runtime
