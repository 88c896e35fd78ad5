// Machine limits the speed report compares against: how fast this machine can
// stream memory and issue FMA / int8 dot products with a given thread count.
#pragma once

#include <cstdint>
#include <span>

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

// One read of `spans` with the pool's threads, in the read loop of
// measure_roofline: the spans laid end to end are cut into one contiguous
// share per thread. `tessera bench` reads a decode step's weights this way
// right beside each decode run, so the run and the bandwidth it is compared
// with see the machine at the same moment (a VM's bandwidth can move by half
// from one second to the next). Each thread reads the 64-byte aligned
// interior of each piece of its share in whole loop iterations, so a piece
// loses under 320 bytes; `bytes` counts what was read.
struct ReadPass {
  int64_t bytes = 0;
  double seconds = 0;
  double gbps() const { return seconds > 0 ? static_cast<double>(bytes) / seconds / 1e9 : 0.0; }
};
ReadPass read_spans(std::span<const std::span<const uint8_t>> spans, ThreadPool& pool);

}  // namespace tessera
