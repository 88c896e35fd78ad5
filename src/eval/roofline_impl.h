// Throughput loops behind measure_roofline() that need wider instruction sets
// than the baseline build (defined in roofline_avx512.cc).
#pragma once

#include <cstddef>
#include <cstdint>

namespace tessera::avx512 {
// Sums n floats (a multiple of 64) with four 512-bit accumulators, prefetching
// `ahead` bytes ahead; the read loop of AVX-512 CPUs (see read_range).
float read_range_zmm(const float* p, size_t n, int64_t ahead);
// iters x 8 vpdpbusd on 512-bit registers (64 u8 x s8 products each);
// returns a value that depends on every iteration.
int vnni_loop(int64_t iters);
}  // namespace tessera::avx512
