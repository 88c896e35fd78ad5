// Throughput loops behind measure_roofline() that need wider instruction sets
// than the baseline build (defined in roofline_avx512.cc).
#pragma once

#include <cstdint>

namespace tessera::avx512 {
// iters x 8 vpdpbusd on 512-bit registers (64 u8 x s8 products each);
// returns a value that depends on every iteration.
int vnni_loop(int64_t iters);
}  // namespace tessera::avx512
