// Tests for the IDX readers and load_fashion_mnist: good files, every rejection, the real data.
#include <doctest/doctest.h>
#include <zlib.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "runtime/errors.h"
#include "runtime/idx.h"
#include "test_util.h"

namespace cnnc::runtime {
namespace {

using testing::data_error_of;
using testing::TempDir;
using Bytes = std::vector<uint8_t>;

void put_be32(Bytes& out, uint32_t v) {
    for (int shift = 24; shift >= 0; shift -= 8) out.push_back(uint8_t(v >> shift));
}

Bytes images_file(uint32_t count, uint32_t rows, uint32_t cols, size_t payload,
                  uint32_t magic = 0x803) {
    Bytes out;
    put_be32(out, magic);
    put_be32(out, count);
    put_be32(out, rows);
    put_be32(out, cols);
    for (size_t i = 0; i < payload; ++i) out.push_back(uint8_t(i * 7));
    return out;
}

Bytes labels_file(uint32_t count, const Bytes& labels, uint32_t magic = 0x801) {
    Bytes out;
    put_be32(out, magic);
    put_be32(out, count);
    out.insert(out.end(), labels.begin(), labels.end());
    return out;
}

void write_plain(const std::string& path, const Bytes& bytes) {
    std::ofstream f(path, std::ios::binary);
    f.write(reinterpret_cast<const char*>(bytes.data()), std::streamsize(bytes.size()));
    REQUIRE(f.good());
}

void write_gz(const std::string& path, const Bytes& bytes) {
    gzFile f = gzopen(path.c_str(), "wb");
    REQUIRE(f != nullptr);
    if (!bytes.empty()) REQUIRE(gzwrite(f, bytes.data(), unsigned(bytes.size())) > 0);
    REQUIRE(gzclose(f) == Z_OK);
}

TEST_CASE("read_idx_images reads gzip and plain files") {
    TempDir dir;
    Bytes bytes = images_file(3, 2, 4, 24);
    for (bool gz : {true, false}) {
        CAPTURE(gz);
        std::string path = dir.file(gz ? "images.gz" : "images");
        gz ? write_gz(path, bytes) : write_plain(path, bytes);
        IdxImages images = read_idx_images(path);
        CHECK(images.count == 3);
        CHECK(images.rows == 2);
        CHECK(images.cols == 4);
        REQUIRE(images.pixels.size() == 24);
        CHECK(images.pixels[0] == 0);
        CHECK(images.pixels[23] == uint8_t(23 * 7));
    }
}

TEST_CASE("read_idx_labels reads a label file") {
    TempDir dir;
    std::string path = dir.file("labels.gz");
    write_gz(path, labels_file(4, {3, 1, 4, 1}));
    CHECK(read_idx_labels(path) == Bytes{3, 1, 4, 1});
}

TEST_CASE("wrong magic names the file, the magic found and the one expected") {
    TempDir dir;
    std::string path = dir.file("labels-as-images.gz");
    write_gz(path, labels_file(2, {0, 1}));
    std::string msg = data_error_of([&] { read_idx_images(path); });
    CHECK_HAS(msg, path);
    CHECK_HAS(msg, "0x00000801");
    CHECK_HAS(msg, "expected 0x00000803");
    CHECK_HAS(msg, "byte offset 0");

    std::string images = dir.file("images-as-labels.gz");
    write_gz(images, images_file(1, 1, 1, 1));
    msg = data_error_of([&] { read_idx_labels(images); });
    CHECK_HAS(msg, images);
    CHECK_HAS(msg, "0x00000803");
    CHECK_HAS(msg, "expected 0x00000801");
}

TEST_CASE("truncated header is reported with the offset where data ended") {
    TempDir dir;
    std::string path = dir.file("short.gz");
    Bytes bytes = images_file(3, 2, 2, 0);
    bytes.resize(6);
    write_gz(path, bytes);
    std::string msg = data_error_of([&] { read_idx_images(path); });
    CHECK_HAS(msg, path);
    CHECK_HAS(msg, "truncated header");
    CHECK_HAS(msg, "byte offset 6");
    CHECK_HAS(msg, "expected 16");

    std::string empty = dir.file("empty.gz");
    write_gz(empty, {});
    msg = data_error_of([&] { read_idx_labels(empty); });
    CHECK_HAS(msg, empty);
    CHECK_HAS(msg, "byte offset 0");
    CHECK_HAS(msg, "expected 8");
}

TEST_CASE("truncated pixel data names the end offset and the bytes expected") {
    TempDir dir;
    std::string path = dir.file("cut.gz");
    write_gz(path, images_file(3, 2, 2, 10));
    std::string msg = data_error_of([&] { read_idx_images(path); });
    CHECK_HAS(msg, path);
    CHECK_HAS(msg, "truncated");
    CHECK_HAS(msg, "byte offset 26");
    CHECK_HAS(msg, "expected 12 bytes");
    CHECK_HAS(msg, "3 images of 2x2");
}

TEST_CASE("a cut-off gzip stream is reported as truncated") {
    TempDir dir;
    std::string whole = dir.file("whole.gz");
    // Incompressible-ish pixels, so cutting the compressed file loses pixel data.
    Bytes bytes = images_file(16, 32, 32, 0);
    uint32_t x = 12345;
    for (int i = 0; i < 16 * 32 * 32; ++i) {
        x = x * 1103515245u + 12345u;
        bytes.push_back(uint8_t(x >> 16));
    }
    write_gz(whole, bytes);
    std::ifstream in(whole, std::ios::binary);
    Bytes compressed((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    REQUIRE(compressed.size() > 2000);
    compressed.resize(compressed.size() / 2);
    std::string cut = dir.file("cut.gz");
    write_plain(cut, compressed);
    std::string msg = data_error_of([&] { read_idx_images(cut); });
    CHECK_HAS(msg, cut);
    CHECK_HAS(msg, "truncated");
    CHECK_HAS(msg, "expected 16384 bytes");
}

TEST_CASE("bytes after the last item are an error") {
    TempDir dir;
    std::string path = dir.file("long.gz");
    write_gz(path, images_file(3, 2, 2, 13));
    std::string msg = data_error_of([&] { read_idx_images(path); });
    CHECK_HAS(msg, path);
    CHECK_HAS(msg, "after byte offset 28");

    std::string labels = dir.file("long-labels");
    write_plain(labels, labels_file(2, {1, 2, 3}));
    msg = data_error_of([&] { read_idx_labels(labels); });
    CHECK_HAS(msg, labels);
    CHECK_HAS(msg, "after byte offset 10");
}

TEST_CASE("truncated labels are reported") {
    TempDir dir;
    std::string path = dir.file("labels.gz");
    write_gz(path, labels_file(5, {1, 2}));
    std::string msg = data_error_of([&] { read_idx_labels(path); });
    CHECK_HAS(msg, path);
    CHECK_HAS(msg, "byte offset 10");
    CHECK_HAS(msg, "expected 5 bytes");
}

TEST_CASE("absurd dimensions are rejected before reading the data") {
    TempDir dir;
    struct Case {
        uint32_t count, rows, cols;
        const char* says;
    };
    for (Case c : {Case{0, 28, 28, "item count 0"}, Case{100'000'001, 28, 28, "item count"},
                   Case{10, 0, 28, "image size 0x28"}, Case{10, 28, 0, "image size 28x0"},
                   Case{10, 8192, 4097, "image size 8192x4097"}}) {
        CAPTURE(c.says);
        std::string path = dir.file("dims.gz");
        write_gz(path, images_file(c.count, c.rows, c.cols, 0));
        std::string msg = data_error_of([&] { read_idx_images(path); });
        CHECK_HAS(msg, path);
        CHECK_HAS(msg, c.says);
        CHECK_HAS(msg, "out of range");
    }
    std::string labels = dir.file("labels.gz");
    write_gz(labels, labels_file(0, {}));
    CHECK_HAS(data_error_of([&] { read_idx_labels(labels); }), "item count 0");
}

TEST_CASE("a missing file names the path, with a package hint under /usr/share/datasets") {
    TempDir dir;
    std::string path = dir.file("no-such-file.gz");
    std::string msg = data_error_of([&] { read_idx_images(path); });
    CHECK_HAS(msg, path);
    CHECK_HAS(msg, "no such file");
    CHECK_FALSE(testing::contains(msg, "install"));

    std::string packaged = "/usr/share/datasets/fashion-mnist/no-such-file-idx3-ubyte.gz";
    msg = data_error_of([&] { read_idx_labels(packaged); });
    CHECK_HAS(msg, packaged);
    CHECK_HAS(msg, "install the Debian package dataset-fashion-mnist");

    msg = data_error_of([&] { read_idx_images(dir.path().string()); });
    CHECK_HAS(msg, dir.path().string());
    CHECK_HAS(msg, "directory");
}

// Writes a small data set in the Fashion-MNIST file layout.
void write_dataset(const TempDir& dir, const std::string& split, uint32_t images,
                   const Bytes& labels) {
    write_gz(dir.file(split + "-images-idx3-ubyte.gz"), images_file(images, 2, 3, images * 6));
    write_gz(dir.file(split + "-labels-idx1-ubyte.gz"),
             labels_file(uint32_t(labels.size()), labels));
}

TEST_CASE("load_fashion_mnist pairs images with labels") {
    TempDir dir;
    write_dataset(dir, "train", 4, {0, 9, 5, 3});
    write_dataset(dir, "t10k", 2, {7, 1});
    Dataset train = load_fashion_mnist(dir.path().string(), true);
    CHECK(train.images.count == 4);
    CHECK(train.images.rows == 2);
    CHECK(train.images.cols == 3);
    CHECK(train.labels == Bytes{0, 9, 5, 3});
    Dataset test = load_fashion_mnist(dir.path().string(), false);
    CHECK(test.images.count == 2);
    CHECK(test.labels == Bytes{7, 1});
}

TEST_CASE("load_fashion_mnist rejects mismatched counts, bad labels and missing files") {
    TempDir dir;
    write_dataset(dir, "train", 4, {0, 1, 2});
    std::string msg = data_error_of([&] { load_fashion_mnist(dir.path().string(), true); });
    CHECK_HAS(msg, dir.file("train-images-idx3-ubyte.gz"));
    CHECK_HAS(msg, dir.file("train-labels-idx1-ubyte.gz"));
    CHECK_HAS(msg, "4 images");
    CHECK_HAS(msg, "3 labels");

    write_dataset(dir, "t10k", 3, {0, 12, 10});
    msg = data_error_of([&] { load_fashion_mnist(dir.path().string(), false); });
    CHECK_HAS(msg, dir.file("t10k-labels-idx1-ubyte.gz"));
    CHECK_HAS(msg, "label 1 ");
    CHECK_HAS(msg, "is 12");

    std::filesystem::remove(dir.file("t10k-labels-idx1-ubyte.gz"));
    msg = data_error_of([&] { load_fashion_mnist(dir.path().string(), false); });
    CHECK_HAS(msg, dir.file("t10k-labels-idx1-ubyte.gz"));
    CHECK_HAS(msg, "no such file");
}

TEST_CASE("the installed Fashion-MNIST files read as 60000 + 10000 images of 28x28") {
    if (!std::filesystem::is_directory(default_fashion_mnist_dir)) {
        MESSAGE("skipped: " << default_fashion_mnist_dir
                            << " is absent (Debian package dataset-fashion-mnist)");
        return;
    }
    for (bool train : {true, false}) {
        CAPTURE(train);
        Dataset d = load_fashion_mnist(default_fashion_mnist_dir, train);
        CHECK(d.images.count == (train ? 60000 : 10000));
        CHECK(d.images.rows == 28);
        CHECK(d.images.cols == 28);
        CHECK(d.images.pixels.size() == size_t(d.images.count * 28 * 28));
        REQUIRE(d.labels.size() == size_t(d.images.count));
        // Every class is present, and the set is balanced as published (6000 / 1000 per class).
        std::vector<int64_t> per_class(10, 0);
        for (uint8_t label : d.labels) per_class.at(label) += 1;
        for (int64_t n : per_class) CHECK(n == (train ? 6000 : 1000));
    }
}

}  // namespace
}  // namespace cnnc::runtime
