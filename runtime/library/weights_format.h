/* The weights of an exported library: one blob, embedded in the archive or kept as an external
 * file, read by cnnc_library.c and written by `<model> export` (runtime/export.cpp).
 *
 * Layout, little-endian (every target cnnc exports for is little-endian):
 *   byte  0  char[8]   magic "CNNCWTS1"
 *   byte  8  uint32    format version (1)
 *   byte 12  uint32    header bytes (128): the parameters start here, 64-byte aligned
 *   byte 16  uint64    parameter bytes (the file is header + this many bytes)
 *   byte 24  uint64    checksum of bytes 32 to the end (cnnc_weights_checksum)
 *   byte 32  uint64    fingerprint of the model's layout (name, input, output, parameter
 *                      names and extents): a file made for another model, or for another
 *                      version of this one, is refused
 *   byte 40  float32   input mean, byte 44 float32 input standard deviation: the library
 *                      computes (x - mean) / std for every input value
 *   byte 48  char[64]  the model's name, zero-padded (for messages)
 *   byte 112 zeros up to 128
 *   byte 128 every parameter in graph order, float32, in its storage order */
#ifndef CNNC_WEIGHTS_FORMAT_H
#define CNNC_WEIGHTS_FORMAT_H

#include <stdint.h>
#include <string.h>

#define CNNC_WEIGHTS_MAGIC "CNNCWTS1"
#define CNNC_WEIGHTS_VERSION 1u
#define CNNC_WEIGHTS_HEADER_BYTES 128u
#define CNNC_WEIGHTS_CHECKED_FROM 32u
#define CNNC_WEIGHTS_NAME_BYTES 64u

/* FNV-1a's constants over 64-bit words, with a shift to carry high bits down: cheap (a 100 MB
 * file in well under a second) and any single changed byte changes the result. Not a defence
 * against deliberate tampering. */
static inline uint64_t cnnc_weights_checksum(const unsigned char *p, uint64_t n) {
    uint64_t h = 0xcbf29ce484222325ull;
    for (; n >= 8; p += 8, n -= 8) {
        uint64_t w;
        memcpy(&w, p, 8);
        h = (h ^ w) * 0x100000001b3ull;
        h ^= h >> 29;
    }
    for (; n; ++p, --n) h = (h ^ *p) * 0x100000001b3ull;
    return h;
}

static inline uint32_t cnnc_read_u32(const unsigned char *p) {
    uint32_t v;
    memcpy(&v, p, 4);
    return v;
}

static inline uint64_t cnnc_read_u64(const unsigned char *p) {
    uint64_t v;
    memcpy(&v, p, 8);
    return v;
}

#endif
