// The versioned, checksummed parameter file (.cnnp): model name, named float tensors, metadata.
#pragma once

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

namespace cnnc::runtime {

// Layout, version 1. All integers little-endian; offsets in bytes.
//
//   0   magic        8 bytes  "CNNCPRM\0"
//   8   version      u32      1
//   12  header_len   u32      length of the header that starts at offset 24
//   16  file_len     u64      length of the whole file, checksum included
//   24  header       model name (u32 length + UTF-8 bytes), u32 tensor count, then per tensor:
//                    name (u32 length + bytes), u32 rank, rank x i64 extents (innermost first,
//                    as in TensorOf)
//   ..  meta         u64 length + bytes of free-form JSON text (may be empty)
//   ..  data         every tensor's values as f32, in header order, no padding
//   ..  crc          u32 CRC-32 (zlib crc32) of every byte before it
//
// file_len sits in the fixed part so that a cut-off file is reported as truncated before
// anything else is read, and the checksum is verified before the header is trusted: any other
// damaged byte is then reported as a checksum mismatch, not as a puzzling parse error.
inline constexpr uint32_t param_file_version = 1;

struct NamedTensor {
    std::string name;
    std::vector<int64_t> extents;
    std::vector<float> data;  // product of extents values
};

struct ParamFile {
    std::string model;
    std::vector<NamedTensor> tensors;
    std::string meta_json;  // e.g. training figures; may be empty
};

// Writes `f` to path + ".tmp", flushes it to disk, then renames it over `path`: an interrupted
// or failed save leaves the previous file as it was. Throws DataError naming the path on any
// I/O failure, or naming the tensor whose data does not match its extents.
void save_params(const std::string& path, const ParamFile& f);

// Reads and validates a parameter file. Throws DataError naming the path for: a missing file,
// a wrong magic, an unsupported version, truncation or trailing bytes, a checksum mismatch, and
// a header inconsistent with the data that follows it.
ParamFile load_params(const std::string& path);

// Checks that `f` (read from `path`) was made for `model` and holds exactly the `expected`
// tensors (name, extents), in any order. Throws DataError listing every difference.
void check_params_match(const ParamFile& f, const std::string& path, const std::string& model,
                        const std::vector<std::pair<std::string, std::vector<int64_t>>>& expected);

}  // namespace cnnc::runtime
