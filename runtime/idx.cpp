// IDX (MNIST / Fashion-MNIST) readers: zlib's gz* stream, validated header, exact-size payload.
#include "runtime/idx.h"

#include <zlib.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <string_view>

#include "runtime/errors.h"

namespace cnnc::runtime {
namespace {

constexpr uint32_t images_magic = 0x00000803;
constexpr uint32_t labels_magic = 0x00000801;
constexpr int64_t max_image_pixels = int64_t{4096} * 4096;
constexpr int64_t max_items = 100'000'000;

std::string hex32(uint32_t v) {
    char buf[16];
    std::snprintf(buf, sizeof buf, "0x%08x", v);
    return buf;
}

uint32_t big_endian32(const uint8_t* p) {
    return uint32_t(p[0]) << 24 | uint32_t(p[1]) << 16 | uint32_t(p[2]) << 8 | uint32_t(p[3]);
}

// The Debian data set packages install under /usr/share/datasets/<name>/ from the package
// dataset-<name>; naming it turns "file not found" into something the user can act on.
std::string install_hint(const std::string& path) {
    constexpr std::string_view root = "/usr/share/datasets/";
    if (!path.starts_with(root)) return "";
    std::string_view rest = std::string_view(path).substr(root.size());
    std::string_view name = rest.substr(0, rest.find('/'));
    if (name.empty()) return "";
    return " (install the Debian package dataset-" + std::string(name) + ")";
}

// A gzip (or plain: zlib passes those through) byte stream that keeps its uncompressed offset.
class GzReader {
public:
    explicit GzReader(const std::string& path) : path_(path) {
        namespace fs = std::filesystem;
        std::error_code ec;
        if (!fs::exists(path, ec)) {
            throw DataError("cannot open " + path + ": no such file" + install_hint(path));
        }
        if (fs::is_directory(path, ec)) {
            throw DataError("cannot open " + path + ": it is a directory, expected an IDX file");
        }
        errno = 0;
        file_ = gzopen(path.c_str(), "rb");
        if (!file_) {
            throw DataError("cannot open " + path + ": " +
                            (errno ? std::strerror(errno) : "out of memory"));
        }
        gzbuffer(file_, 1 << 17);  // larger than the default 8 KiB: fewer read() calls
    }
    ~GzReader() {
        if (file_) gzclose(file_);
    }
    GzReader(const GzReader&) = delete;
    GzReader& operator=(const GzReader&) = delete;

    // Reads up to n bytes, fewer only at the end of the data. Throws on a read or gzip error.
    size_t read(uint8_t* dst, size_t n) {
        size_t done = 0;
        while (done < n) {
            // gzread takes an unsigned int length: read in chunks well below that.
            unsigned want = unsigned(std::min<size_t>(n - done, size_t{1} << 24));
            int got = gzread(file_, dst + done, want);
            if (got < 0) {
                throw DataError(path_ + ": cannot read at byte offset " + std::to_string(offset_) +
                                ": " + problem());
            }
            done += size_t(got);
            offset_ += got;
            if (unsigned(got) < want) break;
        }
        return done;
    }

    int64_t offset() const { return offset_; }

    // Why the data stopped early, when it was not a clean end of file (e.g. a cut-off gzip
    // stream), as " (gzip: ...)"; empty otherwise.
    std::string early_end_reason() {
        int code = Z_OK;
        const char* msg = gzerror(file_, &code);
        if (code == Z_OK || !msg || !*msg) return "";
        return " (gzip: " + std::string(msg) + ")";
    }

private:
    std::string problem() {
        int code = Z_OK;
        const char* msg = gzerror(file_, &code);
        if (code == Z_ERRNO) return std::strerror(errno);
        return msg && *msg ? msg : "unknown zlib error";
    }

    std::string path_;
    gzFile file_ = nullptr;
    int64_t offset_ = 0;
};

// Reads the magic and `dims` big-endian 32-bit dimensions that open every IDX file.
std::vector<int64_t> read_header(GzReader& in, const std::string& path, uint32_t magic,
                                 const char* kind, int dims) {
    uint8_t buf[16];
    size_t want = size_t(4 + 4 * dims);
    size_t got = in.read(buf, want);
    if (got >= 4 && big_endian32(buf) != magic) {
        throw DataError(path + ": not an IDX " + kind + " file: magic at byte offset 0 is " +
                        hex32(big_endian32(buf)) + ", expected " + hex32(magic));
    }
    if (got < want) {
        throw DataError(path + ": truncated header: data ends at byte offset " +
                        std::to_string(in.offset()) + ", expected " + std::to_string(want) +
                        " header bytes" + in.early_end_reason());
    }
    std::vector<int64_t> out;
    for (int i = 0; i < dims; ++i) out.push_back(int64_t(big_endian32(buf + 4 + 4 * i)));
    return out;
}

void check_count(const std::string& path, int64_t count) {
    if (count == 0 || count > max_items) {
        throw DataError(path + ": item count " + std::to_string(count) +
                        " at byte offset 4 is out of range (1.." + std::to_string(max_items) + ")");
    }
}

// Reads exactly `n` payload bytes, then makes sure nothing follows them.
std::vector<uint8_t> read_payload(GzReader& in, const std::string& path, int64_t n,
                                  const std::string& what) {
    std::vector<uint8_t> out;
    int64_t start = in.offset();
    // Grow as data arrives rather than trusting the header with one big allocation: a corrupt
    // count then ends as a truncation error, not as std::bad_alloc.
    constexpr int64_t chunk = int64_t{1} << 24;
    int64_t done = 0;
    while (done < n) {
        int64_t want = std::min(chunk, n - done);
        if (int64_t(out.size()) < done + want) {
            out.resize(size_t(std::min(n, std::max(done + want, 2 * int64_t(out.size())))));
        }
        size_t got = in.read(out.data() + done, size_t(want));
        done += int64_t(got);
        if (int64_t(got) < want) {
            throw DataError(path + ": truncated: data ends at byte offset " +
                            std::to_string(in.offset()) + ", expected " + std::to_string(n) +
                            " bytes (" + what + ") from offset " + std::to_string(start) + " to " +
                            std::to_string(start + n) + in.early_end_reason());
        }
    }
    uint8_t extra = 0;
    if (in.read(&extra, 1) != 0) {
        throw DataError(path + ": unexpected data after byte offset " + std::to_string(start + n) +
                        ": the file should end after " + what);
    }
    return out;
}

}  // namespace

IdxImages read_idx_images(const std::string& path) {
    GzReader in(path);
    std::vector<int64_t> dims = read_header(in, path, images_magic, "image", 3);
    IdxImages out;
    out.count = dims[0];
    out.rows = dims[1];
    out.cols = dims[2];
    check_count(path, out.count);
    if (out.rows == 0 || out.cols == 0 || out.rows * out.cols > max_image_pixels) {
        throw DataError(path + ": image size " + std::to_string(out.rows) + "x" +
                        std::to_string(out.cols) +
                        " at byte offset 8 is out of range (each side at least 1, at most " +
                        std::to_string(max_image_pixels) + " pixels)");
    }
    std::string what = std::to_string(out.count) + " images of " + std::to_string(out.rows) + "x" +
                       std::to_string(out.cols);
    out.pixels = read_payload(in, path, out.count * out.rows * out.cols, what);
    return out;
}

std::vector<uint8_t> read_idx_labels(const std::string& path) {
    GzReader in(path);
    std::vector<int64_t> dims = read_header(in, path, labels_magic, "label", 1);
    check_count(path, dims[0]);
    return read_payload(in, path, dims[0], std::to_string(dims[0]) + " labels");
}

Dataset load_fashion_mnist(const std::string& dir, bool train) {
    std::string prefix = (std::filesystem::path(dir) / (train ? "train" : "t10k")).string();
    std::string images_path = prefix + "-images-idx3-ubyte.gz";
    std::string labels_path = prefix + "-labels-idx1-ubyte.gz";
    Dataset out;
    out.images = read_idx_images(images_path);
    out.labels = read_idx_labels(labels_path);
    if (int64_t(out.labels.size()) != out.images.count) {
        throw DataError("image and label counts differ: " + images_path + " has " +
                        std::to_string(out.images.count) + " images but " + labels_path + " has " +
                        std::to_string(out.labels.size()) + " labels");
    }
    auto bad = std::find_if(out.labels.begin(), out.labels.end(), [](uint8_t v) { return v > 9; });
    if (bad != out.labels.end()) {
        int64_t index = bad - out.labels.begin();
        throw DataError(labels_path + ": label " + std::to_string(index) + " (byte offset " +
                        std::to_string(8 + index) + ") is " + std::to_string(*bad) +
                        ", expected a class 0..9");
    }
    return out;
}

}  // namespace cnnc::runtime
