// Reading whole files, and writing them so that a failure never leaves a half-written one behind.
#pragma once

#include <string>
#include <vector>

namespace cnnc::runtime {

// Writes `bytes` to path + ".tmp", flushes it to disk, then renames it over `path`: `path` is
// either the old file or the complete new one. Throws DataError naming `what` and the path.
void write_atomically(const std::string& path, const std::string& bytes, const char* what);

// Every byte of the file at `path`. Throws DataError "<path>: cannot open the <what>".
std::vector<char> read_whole_file(const std::string& path, const char* what);

}  // namespace cnnc::runtime
