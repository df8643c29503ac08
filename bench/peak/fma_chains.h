// The FMA throughput kernels of the peak probe, one per vector width.
// Each lives in its own file, compiled with its own -m flags, so that the probe runs on any x86-64.
#pragma once

#include <stdint.h>

// Independent accumulator chains per kernel: enough to hide the FMA latency (4 cycles) on two
// FMA pipes (8 in flight) with room to spare, while all chains stay in registers (AVX-512 has
// 32 vector registers, AVX2 16: the chains plus the two constant operands must fit).
enum { avx512_chains = 16, avx512_lanes = 16, avx2_chains = 12, avx2_lanes = 8 };

// Runs `iterations` rounds of one FMA on every chain; returns the chains' sum so the work is not
// optimised away. FLOPs done: iterations * chains * lanes * 2.
float fma_chains_avx512(int64_t iterations);
float fma_chains_avx2(int64_t iterations);
