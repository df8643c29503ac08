// IDX (MNIST / Fashion-MNIST) readers for gzip-compressed or plain image and label files.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace cnnc::runtime {

// Where the Debian package dataset-fashion-mnist installs its files.
inline constexpr const char* default_fashion_mnist_dir = "/usr/share/datasets/fashion-mnist";

// Images as stored in the file: image-major, then row-major, one byte per pixel (0 = background).
struct IdxImages {
    int64_t count = 0, rows = 0, cols = 0;
    std::vector<uint8_t> pixels;  // count * rows * cols bytes
};

// Reads an idx3-ubyte file (magic 0x00000803, big-endian count, rows, cols, then the pixels).
// Gzip-compressed and uncompressed files are both accepted; byte offsets in error messages are
// offsets into the uncompressed data. Throws DataError for a missing file, a wrong magic, absurd
// dimensions, truncated data or bytes after the last image.
IdxImages read_idx_images(const std::string& path);

// Reads an idx1-ubyte file (magic 0x00000801, big-endian count, then one byte per item). Values
// are not range-checked here: that depends on the data set.
std::vector<uint8_t> read_idx_labels(const std::string& path);

struct Dataset {
    IdxImages images;
    std::vector<uint8_t> labels;  // one per image, 0..9
};

// Loads the training split (train-*-ubyte.gz) or the test split (t10k-*-ubyte.gz) from `dir`,
// checking that images and labels pair up and that every label is a class 0..9.
Dataset load_fashion_mnist(const std::string& dir, bool train);

}  // namespace cnnc::runtime
