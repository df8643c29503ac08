// Parameter file (.cnnp) writer, reader and model check; layout documented in param_file.h.
#include "runtime/param_file.h"

#include <unistd.h>
#include <zlib.h>

#include <algorithm>
#include <bit>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <map>
#include <set>
#include <utility>

#include "runtime/errors.h"
#include "runtime/tensor.h"

namespace cnnc::runtime {
namespace {

constexpr char magic[8] = {'C', 'N', 'N', 'C', 'P', 'R', 'M', '\0'};
constexpr size_t fixed_len = 24;  // magic, version, header_len, file_len
constexpr size_t crc_len = 4;
constexpr uint32_t max_rank = 16;  // far above any layer; guards a corrupt rank field
constexpr int64_t max_elements = int64_t{1} << 40;  // keeps byte counts far from overflow

std::string hex32(uint32_t v) {
    char buf[16];
    std::snprintf(buf, sizeof buf, "0x%08x", v);
    return buf;
}

// Shows bytes from a file in an error message without spilling control characters.
std::string quoted_bytes(const uint8_t* p, size_t n) {
    std::string out = "\"";
    for (size_t i = 0; i < n; ++i) {
        if (p[i] >= 0x20 && p[i] < 0x7f && p[i] != '"' && p[i] != '\\') {
            out += char(p[i]);
        } else {
            char buf[8];
            std::snprintf(buf, sizeof buf, "\\x%02x", p[i]);
            out += buf;
        }
    }
    return out + "\"";
}

uint32_t crc_of(uint32_t crc, const void* p, size_t n) {
    return uint32_t(crc32_z(crc, static_cast<const Bytef*>(p), n));
}

// Number of values a tensor of these extents holds, or -1 if an extent is negative or the
// count is implausibly large.
int64_t element_count(const std::vector<int64_t>& extents) {
    int64_t n = 1;
    for (int64_t e : extents) {
        if (e < 0) return -1;
        if (e != 0 && n > max_elements / e) return -1;
        n *= e;
    }
    return n;
}

void put_u32(std::vector<uint8_t>& out, uint32_t v) {
    for (int i = 0; i < 4; ++i) out.push_back(uint8_t(v >> (8 * i)));
}
void put_u64(std::vector<uint8_t>& out, uint64_t v) {
    for (int i = 0; i < 8; ++i) out.push_back(uint8_t(v >> (8 * i)));
}
void put_text(std::vector<uint8_t>& out, const std::string& s) {
    put_u32(out, uint32_t(s.size()));
    out.insert(out.end(), s.begin(), s.end());
}
uint32_t get_u32(const uint8_t* p) {
    uint32_t v = 0;
    for (int i = 3; i >= 0; --i) v = v << 8 | p[i];
    return v;
}
uint64_t get_u64(const uint8_t* p) {
    uint64_t v = 0;
    for (int i = 7; i >= 0; --i) v = v << 8 | p[i];
    return v;
}

// Float values as stored (little-endian f32), converted only on big-endian hosts.
void floats_to_bytes(const float* src, size_t n, uint8_t* dst) {
    if constexpr (std::endian::native == std::endian::little) {
        std::memcpy(dst, src, n * 4);
    } else {
        for (size_t i = 0; i < n; ++i) {
            uint32_t v = std::bit_cast<uint32_t>(src[i]);
            for (int b = 0; b < 4; ++b) dst[4 * i + size_t(b)] = uint8_t(v >> (8 * b));
        }
    }
}
void bytes_to_floats(const uint8_t* src, size_t n, float* dst) {
    if (n == 0) return;  // dst may be null: memcpy must not see it
    if constexpr (std::endian::native == std::endian::little) {
        std::memcpy(dst, src, n * 4);
    } else {
        for (size_t i = 0; i < n; ++i) dst[i] = std::bit_cast<float>(get_u32(src + 4 * i));
    }
}

// Sequential reads inside [pos, end) of a loaded file. Reached only after the checksum
// matched, so running past `end` means the writer was faulty or the file was forged.
class Cursor {
public:
    Cursor(const std::string& path, const std::vector<uint8_t>& bytes, size_t pos, size_t end,
           const char* region)
        : path_(path), bytes_(bytes), pos_(pos), end_(end), region_(region) {}

    const uint8_t* take(uint64_t n, const std::string& what) {
        if (n > end_ - pos_) {
            throw DataError(path_ + ": corrupt " + region_ + ": " + what + " at byte offset " +
                            std::to_string(pos_) + " needs " + std::to_string(n) +
                            " bytes but the " + region_ + " ends at offset " +
                            std::to_string(end_));
        }
        const uint8_t* p = bytes_.data() + pos_;
        pos_ += size_t(n);
        return p;
    }
    uint32_t u32(const std::string& what) { return get_u32(take(4, what)); }
    uint64_t u64(const std::string& what) { return get_u64(take(8, what)); }
    std::string text(const std::string& what) {
        uint32_t n = u32(what + " length");
        const uint8_t* p = take(n, what);
        return std::string(reinterpret_cast<const char*>(p), n);
    }
    size_t pos() const { return pos_; }
    size_t end() const { return end_; }

private:
    const std::string& path_;
    const std::vector<uint8_t>& bytes_;
    size_t pos_, end_;
    const char* region_;
};

std::vector<uint8_t> read_whole_file(const std::string& path) {
    errno = 0;
    std::FILE* f = std::fopen(path.c_str(), "rb");
    if (!f) {
        std::string why = errno == ENOENT ? "no such file" : std::strerror(errno);
        throw DataError("cannot open parameter file " + path + ": " + why);
    }
    std::vector<uint8_t> out;
    std::error_code ec;
    auto size = std::filesystem::file_size(path, ec);
    if (!ec) out.reserve(size_t(size));
    uint8_t buf[1 << 16];
    size_t got;
    while ((got = std::fread(buf, 1, sizeof buf, f)) > 0) out.insert(out.end(), buf, buf + got);
    bool failed = std::ferror(f);
    int err = errno;
    std::fclose(f);
    if (failed) throw DataError("cannot read parameter file " + path + ": " + std::strerror(err));
    return out;
}

// Owns the ".tmp" file while it is written; removes it unless the save got to the rename.
class TempFile {
public:
    explicit TempFile(std::string final_path)
        : final_path_(std::move(final_path)), path_(final_path_ + ".tmp") {
        errno = 0;
        file_ = std::fopen(path_.c_str(), "wb");
        if (!file_) fail("cannot create " + path_);
    }
    ~TempFile() {
        if (file_) std::fclose(file_);
        if (!committed_) std::remove(path_.c_str());
    }
    TempFile(const TempFile&) = delete;
    TempFile& operator=(const TempFile&) = delete;

    void write(const void* p, size_t n) {
        if (n && std::fwrite(p, 1, n, file_) != n) fail("cannot write " + path_);
    }

    // Data must be on disk before the rename, or a crash could leave a renamed empty file.
    void commit() {
        if (std::fflush(file_) != 0 || ::fsync(fileno(file_)) != 0) fail("cannot write " + path_);
        std::FILE* f = std::exchange(file_, nullptr);
        if (std::fclose(f) != 0) fail("cannot write " + path_);
        std::error_code ec;
        std::filesystem::rename(path_, final_path_, ec);
        if (ec) {
            throw DataError("cannot save parameters to " + final_path_ + ": cannot rename " +
                            path_ + " over it: " + ec.message());
        }
        committed_ = true;
    }

private:
    [[noreturn]] void fail(const std::string& what) {
        int err = errno;
        throw DataError("cannot save parameters to " + final_path_ + ": " + what + ": " +
                        (err ? std::strerror(err) : "unknown error"));
    }

    std::string final_path_, path_;
    std::FILE* file_ = nullptr;
    bool committed_ = false;
};

}  // namespace

void save_params(const std::string& path, const ParamFile& f) {
    // Refuse to write a file that load_params would reject, before touching the disk.
    uint64_t data_bytes = 0;
    for (const NamedTensor& t : f.tensors) {
        std::string what = "cannot save parameters to " + path + ": tensor '" + t.name + "'";
        int64_t n = element_count(t.extents);
        if (n < 0 || t.extents.size() > max_rank) {
            throw DataError(what + " has invalid extents " + extents_text(t.extents));
        }
        if (uint64_t(n) != t.data.size()) {
            throw DataError(what + " has " + std::to_string(t.data.size()) +
                            " values but its extents " + extents_text(t.extents) + " need " +
                            std::to_string(n));
        }
        data_bytes += uint64_t(n) * 4;
    }

    std::vector<uint8_t> header;
    put_text(header, f.model);
    put_u32(header, uint32_t(f.tensors.size()));
    for (const NamedTensor& t : f.tensors) {
        put_text(header, t.name);
        put_u32(header, uint32_t(t.extents.size()));
        for (int64_t e : t.extents) put_u64(header, uint64_t(e));
    }

    std::vector<uint8_t> prefix(magic, magic + sizeof magic);
    put_u32(prefix, param_file_version);
    put_u32(prefix, uint32_t(header.size()));
    uint64_t file_len = fixed_len + header.size() + 8 + f.meta_json.size() + data_bytes + crc_len;
    put_u64(prefix, file_len);
    prefix.insert(prefix.end(), header.begin(), header.end());
    put_u64(prefix, f.meta_json.size());
    prefix.insert(prefix.end(), f.meta_json.begin(), f.meta_json.end());

    TempFile out(path);
    uint32_t crc = crc_of(0, prefix.data(), prefix.size());
    out.write(prefix.data(), prefix.size());
    std::vector<uint8_t> chunk;
    for (const NamedTensor& t : f.tensors) {
        constexpr size_t per_chunk = size_t{1} << 20;  // floats converted per write
        for (size_t i = 0; i < t.data.size(); i += per_chunk) {
            size_t n = std::min(per_chunk, t.data.size() - i);
            chunk.resize(n * 4);
            floats_to_bytes(t.data.data() + i, n, chunk.data());
            crc = crc_of(crc, chunk.data(), chunk.size());
            out.write(chunk.data(), chunk.size());
        }
    }
    uint8_t crc_bytes[4];
    for (int i = 0; i < 4; ++i) crc_bytes[i] = uint8_t(crc >> (8 * i));
    out.write(crc_bytes, 4);
    out.commit();
}

ParamFile load_params(const std::string& path) {
    std::vector<uint8_t> bytes = read_whole_file(path);
    const size_t size = bytes.size();
    auto truncated = [&](uint64_t expected) {
        return DataError(path + ": truncated parameter file: file ends at byte offset " +
                         std::to_string(size) + ", expected at least " + std::to_string(expected) +
                         " bytes");
    };

    // Magic, then version, before any length: a future version may lay out the rest differently.
    size_t magic_seen = std::min(size, sizeof magic);
    if (size > 0 && std::memcmp(bytes.data(), magic, magic_seen) != 0) {
        throw DataError(path + " is not a cnnc parameter file: it starts with " +
                        quoted_bytes(bytes.data(), magic_seen) + " at byte offset 0, expected " +
                        quoted_bytes(reinterpret_cast<const uint8_t*>(magic), sizeof magic));
    }
    if (size < 12) throw truncated(fixed_len + crc_len);
    uint32_t version = get_u32(bytes.data() + 8);
    if (version != param_file_version) {
        throw DataError(path + ": unsupported parameter file version " + std::to_string(version) +
                        " (byte offset 8); this build reads version " +
                        std::to_string(param_file_version));
    }
    if (size < fixed_len) throw truncated(fixed_len + crc_len);
    uint32_t header_len = get_u32(bytes.data() + 12);
    uint64_t file_len = get_u64(bytes.data() + 16);
    if (file_len < fixed_len + crc_len) {
        throw DataError(path + ": corrupt parameter file: the length at byte offset 16 is " +
                        std::to_string(file_len) + ", less than the smallest possible file (" +
                        std::to_string(fixed_len + crc_len) + " bytes)");
    }
    if (size < file_len) throw truncated(file_len);
    if (size > file_len) {
        throw DataError(path + ": unexpected data after byte offset " + std::to_string(file_len) +
                        ": the file is " + std::to_string(size) +
                        " bytes but its length field (byte offset 16) says " +
                        std::to_string(file_len));
    }

    const size_t crc_at = size - crc_len;
    uint32_t stored = get_u32(bytes.data() + crc_at);
    uint32_t computed = crc_of(0, bytes.data(), crc_at);
    if (stored != computed) {
        throw DataError(path + ": checksum mismatch: stored " + hex32(stored) + " (byte offset " +
                        std::to_string(crc_at) + "), computed " + hex32(computed) +
                        " over bytes 0.." + std::to_string(crc_at) + "; the file is corrupt");
    }

    // From here the bytes are as written; the checks below guard against a faulty writer.
    if (uint64_t(header_len) > crc_at - fixed_len) {
        throw DataError(path + ": corrupt header: header length " + std::to_string(header_len) +
                        " (byte offset 12) runs past the data end at offset " +
                        std::to_string(crc_at));
    }
    ParamFile out;
    Cursor header(path, bytes, fixed_len, fixed_len + header_len, "header");
    out.model = header.text("model name");
    uint32_t count = header.u32("tensor count");
    std::set<std::string> seen;
    std::vector<int64_t> counts;
    for (uint32_t i = 0; i < count; ++i) {
        std::string label = "tensor " + std::to_string(i);
        NamedTensor t;
        t.name = header.text(label + " name");
        label = "tensor '" + t.name + "'";
        if (!seen.insert(t.name).second) {
            throw DataError(path + ": corrupt header: " + label + " appears twice");
        }
        uint32_t rank = header.u32(label + " rank");
        if (rank > max_rank) {
            throw DataError(path + ": corrupt header: " + label + " has rank " +
                            std::to_string(rank) + ", at most " + std::to_string(max_rank) +
                            " is supported");
        }
        for (uint32_t d = 0; d < rank; ++d) {
            t.extents.push_back(int64_t(header.u64(label + " extent " + std::to_string(d))));
        }
        int64_t n = element_count(t.extents);
        if (n < 0) {
            throw DataError(path + ": corrupt header: " + label + " has invalid extents " +
                            extents_text(t.extents));
        }
        counts.push_back(n);
        out.tensors.push_back(std::move(t));
    }
    if (header.pos() != header.end()) {
        throw DataError(path + ": corrupt header: it ends at byte offset " +
                        std::to_string(header.pos()) + " but its length (byte offset 12) says " +
                        std::to_string(header.end()));
    }

    Cursor body(path, bytes, header.end(), crc_at, "file");
    uint64_t meta_len = body.u64("metadata length");
    const uint8_t* meta = body.take(meta_len, "metadata");
    out.meta_json.assign(reinterpret_cast<const char*>(meta), size_t(meta_len));

    uint64_t need = 0;
    for (int64_t n : counts) need += uint64_t(n) * 4;
    uint64_t have = crc_at - body.pos();
    if (need != have) {
        throw DataError(path + ": tensor data is " + std::to_string(have) + " bytes (byte offset " +
                        std::to_string(body.pos()) + " to " + std::to_string(crc_at) +
                        ") but the extents of its " + std::to_string(counts.size()) +
                        " tensors need " + std::to_string(need) + " bytes");
    }
    for (size_t i = 0; i < out.tensors.size(); ++i) {
        NamedTensor& t = out.tensors[i];
        t.data.resize(size_t(counts[i]));
        const uint8_t* p = body.take(uint64_t(counts[i]) * 4, "data of tensor '" + t.name + "'");
        bytes_to_floats(p, t.data.size(), t.data.data());
    }
    return out;
}

void check_params_match(const ParamFile& f, const std::string& path, const std::string& model,
                        const std::vector<std::pair<std::string, std::vector<int64_t>>>& expected) {
    if (f.model != model) {
        throw DataError(path + " holds parameters for model '" + f.model + "', not for model '" +
                        model + "'");
    }
    std::map<std::string, const std::vector<int64_t>*> in_file;
    for (const NamedTensor& t : f.tensors) in_file[t.name] = &t.extents;

    std::vector<std::string> problems;
    std::string missing, extra;
    std::set<std::string> wanted;
    for (const auto& [name, extents] : expected) {
        wanted.insert(name);
        auto it = in_file.find(name);
        if (it == in_file.end()) {
            missing += (missing.empty() ? "" : ", ") + ("'" + name + "'");
        } else if (*it->second != extents) {
            problems.push_back("tensor '" + name + "' has shape " + extents_text(*it->second) +
                               " in the file but the model expects " + extents_text(extents));
        }
    }
    for (const NamedTensor& t : f.tensors) {
        if (!wanted.count(t.name)) extra += (extra.empty() ? "" : ", ") + ("'" + t.name + "'");
    }
    if (!missing.empty()) problems.insert(problems.begin(), "it lacks tensor(s) " + missing);
    if (!extra.empty()) problems.push_back("it has tensor(s) not in the model: " + extra);
    if (problems.empty()) return;

    std::string msg = path + " does not match model '" + model + "': ";
    for (size_t i = 0; i < problems.size(); ++i) msg += (i ? "; " : "") + problems[i];
    throw DataError(msg);
}

}  // namespace cnnc::runtime
