// Tests for the parameter file: round trips, every rejection of a damaged file, model checks.
#include <doctest/doctest.h>
#include <zlib.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <limits>
#include <string>
#include <vector>

#include "runtime/errors.h"
#include "runtime/param_file.h"
#include "test_util.h"

namespace cnnc::runtime {
namespace {

using testing::data_error_of;
using testing::TempDir;
using Bytes = std::vector<uint8_t>;
using Expected = std::vector<std::pair<std::string, std::vector<int64_t>>>;

ParamFile sample() {
    ParamFile f;
    f.model = "lenet5";
    f.tensors.push_back({"conv.w", {3, 2}, {1.5f, -2.0f, 0.0f, -0.0f, 1e-30f, 3.25f}});
    f.tensors.push_back({"conv.b", {2}, {std::numeric_limits<float>::infinity(), -7.0f}});
    f.tensors.push_back({"scale", {}, {0.5f}});  // rank 0: one value
    f.tensors.push_back({"unused", {0, 4}, {}});
    f.meta_json = R"({"epochs": 3, "accuracy": 0.91})";
    return f;
}

Expected sample_shapes() {
    return {{"conv.w", {3, 2}}, {"conv.b", {2}}, {"scale", {}}, {"unused", {0, 4}}};
}

Bytes read_bytes(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    return Bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
}

void write_bytes(const std::string& path, const Bytes& bytes) {
    std::ofstream f(path, std::ios::binary | std::ios::trunc);
    f.write(reinterpret_cast<const char*>(bytes.data()), std::streamsize(bytes.size()));
    REQUIRE(f.good());
}

// Recomputes the trailing CRC, as a faulty writer would: the damage then passes the checksum
// and has to be caught by the structural checks.
void reseal(Bytes& bytes) {
    size_t at = bytes.size() - 4;
    uint32_t crc = uint32_t(crc32_z(0, bytes.data(), at));
    for (int i = 0; i < 4; ++i) bytes[at + size_t(i)] = uint8_t(crc >> (8 * i));
}

// Offset of the first occurrence of `text` in the file (a tensor or model name).
size_t offset_of(const Bytes& bytes, const std::string& text) {
    auto it = std::search(bytes.begin(), bytes.end(), text.begin(), text.end());
    REQUIRE(it != bytes.end());
    return size_t(it - bytes.begin());
}

TEST_CASE("parameters survive a save and load bit for bit") {
    TempDir dir;
    std::string path = dir.file("model.cnnp");
    ParamFile f = sample();
    save_params(path, f);
    CHECK_FALSE(std::filesystem::exists(path + ".tmp"));

    ParamFile g = load_params(path);
    CHECK(g.model == f.model);
    CHECK(g.meta_json == f.meta_json);
    REQUIRE(g.tensors.size() == f.tensors.size());
    for (size_t i = 0; i < f.tensors.size(); ++i) {
        CAPTURE(f.tensors[i].name);
        CHECK(g.tensors[i].name == f.tensors[i].name);
        CHECK(g.tensors[i].extents == f.tensors[i].extents);
        REQUIRE(g.tensors[i].data.size() == f.tensors[i].data.size());
        if (!f.tensors[i].data.empty()) {
            CHECK(std::memcmp(g.tensors[i].data.data(), f.tensors[i].data.data(),
                              f.tensors[i].data.size() * sizeof(float)) == 0);
        }
    }
    CHECK(std::signbit(g.tensors[0].data[3]));
    CHECK_NOTHROW(check_params_match(g, path, "lenet5", sample_shapes()));

    // Saving again replaces the file.
    f.tensors[1].data = {1.0f, 2.0f};
    f.meta_json.clear();
    save_params(path, f);
    g = load_params(path);
    CHECK(g.tensors[1].data == std::vector<float>{1.0f, 2.0f});
    CHECK(g.meta_json.empty());
}

TEST_CASE("an empty parameter file round-trips") {
    TempDir dir;
    std::string path = dir.file("empty.cnnp");
    save_params(path, ParamFile{});
    ParamFile g = load_params(path);
    CHECK(g.model.empty());
    CHECK(g.tensors.empty());
    CHECK(g.meta_json.empty());
}

TEST_CASE("a file that is not a parameter file is named as such") {
    TempDir dir;
    std::string path = dir.file("weights.bin");
    write_bytes(path, Bytes{'P', 'K', 3, 4, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
                            0,   0,   0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0});
    std::string msg = data_error_of([&] { load_params(path); });
    CHECK_HAS(msg, path);
    CHECK_HAS(msg, "not a cnnc parameter file");
    CHECK_HAS(msg, "\"PK\\x03\\x04");

    write_bytes(path, Bytes{'x'});
    CHECK_HAS(data_error_of([&] { load_params(path); }), "not a cnnc parameter file");
}

TEST_CASE("a newer format version is refused with both versions named") {
    TempDir dir;
    std::string path = dir.file("future.cnnp");
    save_params(path, sample());
    Bytes bytes = read_bytes(path);
    bytes[8] = 2;
    write_bytes(path, bytes);
    std::string msg = data_error_of([&] { load_params(path); });
    CHECK_HAS(msg, path);
    CHECK_HAS(msg, "unsupported parameter file version 2");
    CHECK_HAS(msg, "reads version 1");

    // Even when the rest of the file is cut short: its layout is unknown.
    bytes.resize(12);
    write_bytes(path, bytes);
    CHECK_HAS(data_error_of([&] { load_params(path); }), "version 2");
}

TEST_CASE("a truncated file reports where it ends and how long it should be") {
    TempDir dir;
    std::string good = dir.file("good.cnnp");
    save_params(good, sample());
    Bytes bytes = read_bytes(good);
    const size_t full = bytes.size();
    size_t in_header = offset_of(bytes, "conv.b");
    size_t in_meta = offset_of(bytes, "accuracy");
    size_t in_data = full - 20;
    for (size_t cut : {size_t{0}, size_t{5}, size_t{8}, size_t{10}, size_t{20}, size_t{24},
                       in_header, in_meta, in_data, full - 1}) {
        CAPTURE(cut);
        std::string path = dir.file("cut.cnnp");
        write_bytes(path, Bytes(bytes.begin(), bytes.begin() + std::ptrdiff_t(cut)));
        std::string msg = data_error_of([&] { load_params(path); });
        CHECK_HAS(msg, path);
        CHECK_HAS(msg, "truncated");
        CHECK_HAS(msg, "file ends at byte offset " + std::to_string(cut) + ",");
        if (cut >= 24) CHECK_HAS(msg, "expected at least " + std::to_string(full) + " bytes");
    }
}

TEST_CASE("bytes after the end of the file are an error") {
    TempDir dir;
    std::string path = dir.file("long.cnnp");
    save_params(path, sample());
    Bytes bytes = read_bytes(path);
    size_t full = bytes.size();
    bytes.push_back(0);
    write_bytes(path, bytes);
    std::string msg = data_error_of([&] { load_params(path); });
    CHECK_HAS(msg, path);
    CHECK_HAS(msg, "unexpected data after byte offset " + std::to_string(full));
}

TEST_CASE("any flipped byte after the length field is a checksum mismatch") {
    TempDir dir;
    std::string good = dir.file("good.cnnp");
    save_params(good, sample());
    Bytes bytes = read_bytes(good);
    for (size_t at : {size_t{12}, offset_of(bytes, "lenet5"), offset_of(bytes, "conv.w") - 4,
                      offset_of(bytes, "epochs"), bytes.size() - 12, bytes.size() - 2}) {
        CAPTURE(at);
        Bytes damaged = bytes;
        damaged[at] ^= 0x10;
        std::string path = dir.file("flipped.cnnp");
        write_bytes(path, damaged);
        std::string msg = data_error_of([&] { load_params(path); });
        CHECK_HAS(msg, path);
        CHECK_HAS(msg, "checksum mismatch");
        CHECK_HAS(msg, "stored 0x");
        CHECK_HAS(msg, "computed 0x");
    }
}

TEST_CASE("a damaged length field is reported, not trusted") {
    TempDir dir;
    std::string path = dir.file("len.cnnp");
    save_params(path, sample());
    Bytes bytes = read_bytes(path);
    bytes[16] = 3;
    for (size_t i = 17; i < 24; ++i) bytes[i] = 0;
    write_bytes(path, bytes);
    std::string msg = data_error_of([&] { load_params(path); });
    CHECK_HAS(msg, path);
    CHECK_HAS(msg, "length at byte offset 16 is 3");
}

TEST_CASE("a header inconsistent with its data is rejected even with a valid checksum") {
    TempDir dir;
    std::string good = dir.file("good.cnnp");
    save_params(good, sample());
    const Bytes bytes = read_bytes(good);
    std::string path = dir.file("forged.cnnp");
    // Layout after a tensor name: u32 rank, then i64 extents.
    const size_t conv_w_extent0 = offset_of(bytes, "conv.w") + 6 + 4;

    SUBCASE("extents need more data than the file holds") {
        Bytes forged = bytes;
        forged[conv_w_extent0] = 4;  // [3x2] -> [4x2]: 8 values, 6 stored
        reseal(forged);
        write_bytes(path, forged);
        std::string msg = data_error_of([&] { load_params(path); });
        CHECK_HAS(msg, path);
        CHECK_HAS(msg, "tensor data is");
        CHECK_HAS(msg, "need");
    }
    SUBCASE("a negative extent") {
        Bytes forged = bytes;
        for (size_t i = 0; i < 8; ++i) forged[conv_w_extent0 + i] = 0xff;
        reseal(forged);
        write_bytes(path, forged);
        std::string msg = data_error_of([&] { load_params(path); });
        CHECK_HAS(msg, path);
        CHECK_HAS(msg, "tensor 'conv.w' has invalid extents [-1x2]");
    }
    SUBCASE("an absurd rank") {
        Bytes forged = bytes;
        forged[conv_w_extent0 - 4] = 200;
        reseal(forged);
        write_bytes(path, forged);
        std::string msg = data_error_of([&] { load_params(path); });
        CHECK_HAS(msg, path);
        CHECK_HAS(msg, "tensor 'conv.w' has rank 200");
    }
    SUBCASE("a tensor name given twice") {
        Bytes forged = bytes;
        std::memcpy(forged.data() + offset_of(bytes, "conv.b"), "conv.w", 6);
        reseal(forged);
        write_bytes(path, forged);
        std::string msg = data_error_of([&] { load_params(path); });
        CHECK_HAS(msg, path);
        CHECK_HAS(msg, "tensor 'conv.w' appears twice");
    }
    SUBCASE("a header length that disagrees with the header") {
        Bytes forged = bytes;
        forged[12] += 1;
        reseal(forged);
        write_bytes(path, forged);
        std::string msg = data_error_of([&] { load_params(path); });
        CHECK_HAS(msg, path);
        CHECK_HAS(msg, "corrupt header");
    }
    SUBCASE("a header length past the end of the file") {
        Bytes forged = bytes;
        forged[15] = 0x7f;
        reseal(forged);
        write_bytes(path, forged);
        std::string msg = data_error_of([&] { load_params(path); });
        CHECK_HAS(msg, path);
        CHECK_HAS(msg, "header length");
    }
    SUBCASE("a name length past the end of the header") {
        Bytes forged = bytes;
        forged[offset_of(bytes, "lenet5") - 4] = 250;
        reseal(forged);
        write_bytes(path, forged);
        std::string msg = data_error_of([&] { load_params(path); });
        CHECK_HAS(msg, path);
        CHECK_HAS(msg, "model name at byte offset 28 needs 250 bytes");
    }
}

TEST_CASE("a missing parameter file is named") {
    TempDir dir;
    std::string path = dir.file("absent.cnnp");
    std::string msg = data_error_of([&] { load_params(path); });
    CHECK_HAS(msg, path);
    CHECK_HAS(msg, "no such file");
}

TEST_CASE("check_params_match names the model, missing, extra and misshapen tensors") {
    ParamFile f = sample();
    const std::string path = "/models/lenet5.cnnp";
    CHECK_NOTHROW(check_params_match(f, path, "lenet5", sample_shapes()));

    // Order does not matter.
    Expected reversed = sample_shapes();
    std::reverse(reversed.begin(), reversed.end());
    CHECK_NOTHROW(check_params_match(f, path, "lenet5", reversed));

    std::string msg = data_error_of([&] { check_params_match(f, path, "resnet18", {}); });
    CHECK_HAS(msg, path);
    CHECK_HAS(msg, "'lenet5'");
    CHECK_HAS(msg, "'resnet18'");

    Expected more = sample_shapes();
    more.push_back({"fc.w", {10, 84}});
    msg = data_error_of([&] { check_params_match(f, path, "lenet5", more); });
    CHECK_HAS(msg, path);
    CHECK_HAS(msg, "lacks tensor(s) 'fc.w'");

    Expected fewer = sample_shapes();
    fewer.erase(fewer.begin() + 2);  // "scale"
    msg = data_error_of([&] { check_params_match(f, path, "lenet5", fewer); });
    CHECK_HAS(msg, path);
    CHECK_HAS(msg, "not in the model: 'scale'");

    Expected reshaped = sample_shapes();
    reshaped[0].second = {2, 3};
    msg = data_error_of([&] { check_params_match(f, path, "lenet5", reshaped); });
    CHECK_HAS(msg, path);
    CHECK_HAS(msg, "tensor 'conv.w' has shape [3x2] in the file but the model expects [2x3]");
}

TEST_CASE("a failed save leaves the previous file intact") {
    TempDir dir;
    std::string path = dir.file("model.cnnp");
    save_params(path, sample());
    const Bytes before = read_bytes(path);

    SUBCASE("the directory does not exist") {
        std::string nowhere = dir.file("no-such-dir/model.cnnp");
        std::string msg = data_error_of([&] { save_params(nowhere, sample()); });
        CHECK_HAS(msg, nowhere);
        CHECK_HAS(msg, "cannot create");
        CHECK_FALSE(std::filesystem::exists(nowhere));
    }
    SUBCASE("the temporary file cannot be created") {
        std::filesystem::create_directory(path + ".tmp");  // a directory where the file goes
        ParamFile other = sample();
        other.model = "other";
        std::string msg = data_error_of([&] { save_params(path, other); });
        CHECK_HAS(msg, path);
        CHECK(read_bytes(path) == before);
        CHECK(load_params(path).model == "lenet5");
    }
    SUBCASE("a tensor's data does not fit its extents") {
        ParamFile bad = sample();
        bad.tensors[1].data.push_back(1.0f);
        std::string msg = data_error_of([&] { save_params(path, bad); });
        CHECK_HAS(msg, path);
        CHECK_HAS(msg, "tensor 'conv.b' has 3 values but its extents [2] need 2");
        CHECK(read_bytes(path) == before);
        CHECK_FALSE(std::filesystem::exists(path + ".tmp"));
    }
    SUBCASE("a tensor has a negative extent") {
        ParamFile bad = sample();
        bad.tensors[0].extents = {-3, 2};
        std::string msg = data_error_of([&] { save_params(path, bad); });
        CHECK_HAS(msg, "tensor 'conv.w' has invalid extents [-3x2]");
        CHECK(read_bytes(path) == before);
    }
}

}  // namespace
}  // namespace cnnc::runtime
