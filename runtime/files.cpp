// Whole-file reads, and atomic file writes through a temporary file and a rename.
#include "runtime/files.h"

#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>

#include "runtime/errors.h"

namespace cnnc::runtime {

std::vector<char> read_whole_file(const std::string& path, const char* what) {
    std::ifstream in(path, std::ios::binary);
    if (!in) throw DataError(path + ": cannot open the " + what);
    return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

void write_atomically(const std::string& path, const std::string& text, const char* what) {
    const std::string tmp = path + ".tmp";
    auto fail = [&](const std::string& step, int err) {
        std::remove(tmp.c_str());
        throw DataError(std::string("cannot write ") + what + " to " + path + ": " + step + ": " +
                        (err ? std::strerror(err) : "unknown error"));
    };
    errno = 0;
    std::FILE* f = std::fopen(tmp.c_str(), "wb");
    if (!f) {
        int err = errno;  // nothing to remove: the file was not created
        throw DataError(std::string("cannot write ") + what + " to " + path + ": cannot create " +
                        tmp + ": " + (err ? std::strerror(err) : "unknown error"));
    }
    bool ok = std::fwrite(text.data(), 1, text.size(), f) == text.size();
    // On disk before the rename, or a crash could leave a renamed empty file.
    ok = ok && std::fflush(f) == 0 && ::fsync(fileno(f)) == 0;
    int err = errno;
    ok = std::fclose(f) == 0 && ok;
    if (!ok) fail("cannot write " + tmp, err ? err : errno);
    std::error_code ec;
    std::filesystem::rename(tmp, path, ec);
    if (ec) {
        std::remove(tmp.c_str());
        throw DataError(std::string("cannot write ") + what + " to " + path + ": cannot rename " +
                        tmp + " over it: " + ec.message());
    }
}

}  // namespace cnnc::runtime
