// Machine limits the speed report compares against: how fast this machine can
// stream memory and issue FMA / int8 dot products with a given thread count.
#pragma once

#include "core/thread_pool.h"

namespace tessera {

struct Roofline {
  double read_gbps = 0;        // sequential read bandwidth over a buffer much larger than cache
  double fma_gflops = 0;       // fp32 FMA throughput (2 flops per lane per FMA)
  double int8_gops = 0;        // int8 multiply-add throughput (2 ops per product), AVX2 maddubs + madd
  double int8_vnni_gops = 0;   // the same with AVX-512 VNNI vpdpbusd; 0 when the CPU lacks it
};

// Measures each figure with the pool's threads (best of a few repeats).
// buffer_bytes: size of the streamed buffer (default 1 GiB, as STREAM-style
// measurements want a buffer far larger than the last-level cache).
Roofline measure_roofline(ThreadPool& pool, size_t buffer_bytes = size_t{1} << 30);

}  // namespace tessera
