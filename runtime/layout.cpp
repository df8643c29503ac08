// Blocked transposes from the NCHW image layout into the channels-innermost one.
#include "runtime/layout.h"

#include <algorithm>
#include <bit>
#include <cstdint>

#if defined(__SSE2__)
#include <immintrin.h>
#endif

namespace cnnc::runtime {
namespace {

constexpr int64_t block = 16;

// Copies of at least this many bytes into the channels-innermost order stream past the caches.
// The pipeline's input buffer is written on one call's copy and read by both cores' kernel tasks;
// plain stores first had to take every line back from the other core's cache. Streaming stores,
// `bench`, alternated: 3x3 64->64 @56 (0.8 MB) 0.735 -> 0.701 ms, depthwise 144 @56 (1.8 MB)
// 0.513 -> 0.429 ms, 128 @28 (0.4 MB) 0.709 -> 0.699 ms, the ResNet stem's 3 channels (0.6 MB,
// scalar) 0.063 -> 0.051 ms for the copy alone; 512 @7 (0.1 MB) no change.
constexpr int64_t streaming_bytes = 256 * 1024;

void transpose_scalar(const float* from, float* to, int64_t rows, int64_t cols, int64_t r0,
                      int64_t r1, int64_t c0, int64_t c1) {
    for (int64_t c = c0; c < c1; ++c)
        for (int64_t r = r0; r < r1; ++r) to[c * rows + r] = from[r * cols + c];
}

// The same where the block holds whole rows (fewer than 16 channels: the ResNet stem's 3), so
// that its output is one contiguous run, written with streaming stores.
void transpose_scalar_streaming(const float* from, float* to, int64_t rows, int64_t cols,
                                int64_t c0, int64_t c1) {
#if defined(__SSE2__)
    for (int64_t c = c0; c < c1; ++c)
        for (int64_t r = 0; r < rows; ++r)
            _mm_stream_si32(reinterpret_cast<int*>(to + c * rows + r),
                            std::bit_cast<int>(from[r * cols + c]));
#else
    transpose_scalar(from, to, rows, cols, 0, rows, c0, c1);
#endif
}

#if defined(__SSE2__)
// One 4 x 4 tile of a block, transposed in SSE registers.
template <bool streaming>
void transpose_tile(const float* f, float* t, int64_t rows, int64_t cols) {
    __m128 a = _mm_loadu_ps(f), b = _mm_loadu_ps(f + cols);
    __m128 d = _mm_loadu_ps(f + 2 * cols), e = _mm_loadu_ps(f + 3 * cols);
    _MM_TRANSPOSE4_PS(a, b, d, e);
    if constexpr (streaming) {
        _mm_stream_ps(t, a);
        _mm_stream_ps(t + rows, b);
        _mm_stream_ps(t + 2 * rows, d);
        _mm_stream_ps(t + 3 * rows, e);
    } else {
        _mm_storeu_ps(t, a);
        _mm_storeu_ps(t + rows, b);
        _mm_storeu_ps(t + 2 * rows, d);
        _mm_storeu_ps(t + 3 * rows, e);
    }
}
#endif

// A whole block as 4 x 4 tiles in SSE registers (every x86-64 has SSE2): 3x faster than the
// scalar loop on a 64 x 12544 matrix (0.45 -> 0.15 ms, one thread). Streaming, the tiles go
// column by column, so that each output line is complete before the next one starts (the
// write-combining buffers then flush whole lines); streaming stores need 16-byte alignment.
void transpose_whole_block(const float* from, float* to, int64_t rows, int64_t cols,
                           bool streaming) {
#if defined(__SSE2__)
    if (streaming && reinterpret_cast<uintptr_t>(to) % 16 == 0 && rows % 4 == 0) {
        for (int64_t c = 0; c < block; c += 4)
            for (int64_t r = 0; r < block; r += 4)
                transpose_tile<true>(from + r * cols + c, to + c * rows + r, rows, cols);
        return;
    }
    for (int64_t r = 0; r < block; r += 4)
        for (int64_t c = 0; c < block; c += 4)
            transpose_tile<false>(from + r * cols + c, to + c * rows + r, rows, cols);
#else
    (void)streaming;
    transpose_scalar(from, to, rows, cols, 0, block, 0, block);
#endif
}

// Makes a task's streaming stores visible before the task is seen to be done.
void finish_streaming_stores() {
#if defined(__SSE2__)
    _mm_sfence();
#endif
}

// The blocks of a rows x cols matrix whose first row is in [r_begin, r_end) and first column in
// [c_begin, c_end), each read row by row and written column by column: square blocks keep both
// the strided side and the contiguous side in L1 (the plain double loop strided one side by a
// whole plane per value: 60% of a 144x56x56 ReLU's `bench` time).
void transpose_blocks(const float* from, float* to, int64_t rows, int64_t cols, int64_t r_begin,
                      int64_t r_end, int64_t c_begin, int64_t c_end, bool streaming) {
    for (int64_t r0 = r_begin; r0 < r_end; r0 += block)
        for (int64_t c0 = c_begin; c0 < c_end; c0 += block) {
            const int64_t r1 = std::min(rows, r0 + block), c1 = std::min(cols, c0 + block);
            if (r1 - r0 == block && c1 - c0 == block)
                transpose_whole_block(from + r0 * cols + c0, to + c0 * rows + r0, rows, cols,
                                      streaming);
            else if (streaming && r0 == 0 && r1 == rows)
                transpose_scalar_streaming(from, to, rows, cols, c0, c1);
            else
                transpose_scalar(from, to, rows, cols, r0, r1, c0, c1);
        }
}

// n matrices, as tasks of about 64 KB each, split along the longer side: an image's 3 channel
// planes (the ResNet stem's input) split by pixels, a 7x7 image of 512 channels by channels.
void transpose_matrices(const float* from, float* to, int64_t n, int64_t rows, int64_t cols,
                        const ParallelFor& parallel, bool streaming) {
    const bool by_rows = rows >= cols;
    const int64_t side = by_rows ? rows : cols, across = by_rows ? cols : rows;
    const int64_t blocks = (side + block - 1) / block;
    const int64_t per_task = std::clamp<int64_t>(16384 / (block * across), 1, blocks);
    const int64_t chunks = (blocks + per_task - 1) / per_task;
    parallel(n * chunks, [&](int64_t t) {
        const int64_t image = t / chunks, first = (t % chunks) * per_task * block;
        const int64_t last = std::min(side, first + per_task * block);
        const float* f = from + image * rows * cols;
        float* o = to + image * rows * cols;
        if (by_rows)
            transpose_blocks(f, o, rows, cols, first, last, 0, cols, streaming);
        else
            transpose_blocks(f, o, rows, cols, 0, rows, first, last, streaming);
        if (streaming) finish_streaming_stores();
    });
}

}  // namespace

void serial_for(int64_t count, const TaskBody& body) {
    for (int64_t i = 0; i < count; ++i) body(i);
}

void nchw_to_channels_last(const float* from, float* to, int64_t n, int64_t channels,
                           int64_t pixels, const ParallelFor& parallel) {
    const bool streaming = n * channels * pixels * int64_t(sizeof(float)) >= streaming_bytes;
    transpose_matrices(from, to, n, channels, pixels, parallel, streaming);
}

}  // namespace cnnc::runtime
