// How fast two threads read 640 MiB of huge pages, by the form of the read
// loop and by the size of the jobs the bytes are cut into (docs/performance.md,
// "What stands between decode and the read bandwidth"). Every loop prefetches
// 2 KiB ahead like the decode kernels; a job is split over the pool's threads
// as a decode's matmul is (two tasks per thread).
//
//   g++ -O2 -std=c++20 -mavx512f -mavx512dq -mavx2 -Isrc bench/probes/read_jobs.cc \
//       build/libtessera_core.a -lpthread -o /tmp/read_jobs && /tmp/read_jobs
#include <immintrin.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <vector>

#include "core/huge_pages.h"
#include "core/thread_pool.h"

namespace {

constexpr size_t kAhead = 2048;

// Two 512-bit accumulators, 128 bytes per iteration.
float read_zmm2(const uint8_t* p, size_t n) {
  __m512 a0 = _mm512_setzero_ps(), a1 = a0;
  for (size_t i = 0; i + 128 <= n; i += 128) {
    _mm_prefetch(reinterpret_cast<const char*>(p + i + kAhead), _MM_HINT_T0);
    _mm_prefetch(reinterpret_cast<const char*>(p + i + kAhead + 64), _MM_HINT_T0);
    a0 = _mm512_add_ps(a0, _mm512_load_ps(p + i));
    a1 = _mm512_add_ps(a1, _mm512_load_ps(p + i + 64));
  }
  return _mm512_reduce_add_ps(_mm512_add_ps(a0, a1));
}

// Four 256-bit accumulators, 128 bytes per iteration (the roofline's loop).
float read_ymm4(const uint8_t* p, size_t n) {
  __m256 a[4] = {_mm256_setzero_ps(), _mm256_setzero_ps(), _mm256_setzero_ps(), _mm256_setzero_ps()};
  for (size_t i = 0; i + 128 <= n; i += 128) {
    _mm_prefetch(reinterpret_cast<const char*>(p + i + kAhead), _MM_HINT_T0);
    _mm_prefetch(reinterpret_cast<const char*>(p + i + kAhead + 64), _MM_HINT_T0);
    for (int k = 0; k < 4; ++k) a[k] = _mm256_add_ps(a[k], _mm256_load_ps(reinterpret_cast<const float*>(p + i + 32 * k)));
  }
  float out[8];
  _mm256_storeu_ps(out, _mm256_add_ps(_mm256_add_ps(a[0], a[1]), _mm256_add_ps(a[2], a[3])));
  return out[0];
}

// Four 512-bit accumulators, 256 bytes per iteration.
float read_zmm4(const uint8_t* p, size_t n) {
  __m512 a[4] = {_mm512_setzero_ps(), _mm512_setzero_ps(), _mm512_setzero_ps(), _mm512_setzero_ps()};
  for (size_t i = 0; i + 256 <= n; i += 256) {
    for (int k = 0; k < 4; ++k) {
      _mm_prefetch(reinterpret_cast<const char*>(p + i + kAhead + 64 * k), _MM_HINT_T0);
      a[k] = _mm512_add_ps(a[k], _mm512_load_ps(p + i + 64 * k));
    }
  }
  return _mm512_reduce_add_ps(_mm512_add_ps(_mm512_add_ps(a[0], a[1]), _mm512_add_ps(a[2], a[3])));
}

}  // namespace

int main() {
  using namespace tessera;
  const size_t total = size_t{640} << 20;
  auto* buf = static_cast<uint8_t*>(allocate_huge_page_aligned(total));
  if (buf == nullptr) return 1;
  ThreadPool pool(2);
  pool.parallel_for(static_cast<int64_t>(total >> 16), 1, [&](int64_t b, int64_t e) {
    std::memset(buf + (b << 16), 1, static_cast<size_t>(e - b) << 16);
  });
  struct Loop {
    const char* name;
    float (*read)(const uint8_t*, size_t);
  };
  const Loop loops[] = {{"2 x 512-bit", read_zmm2}, {"4 x 256-bit", read_ymm4}, {"4 x 512-bit", read_zmm4}};
  volatile float sink = 0;
  for (const Loop& loop : loops) {
    for (size_t job : {total, size_t{13} << 20, size_t{4} << 20, size_t{1} << 20}) {
      double best = 1e30;
      for (int rep = 0; rep < 5; ++rep) {
        const auto t0 = std::chrono::steady_clock::now();
        for (size_t off = 0; off < total; off += job) {
          const size_t lines = std::min(job, total - off) / 64;
          const int64_t n_tasks = 2 * pool.size();
          std::vector<float> sums(static_cast<size_t>(n_tasks));
          pool.parallel_for(n_tasks, 1, [&](int64_t b, int64_t e) {
            for (int64_t k = b; k < e; ++k) {
              const size_t l0 = lines * k / n_tasks, l1 = lines * (k + 1) / n_tasks;
              sums[k] = loop.read(buf + off + 64 * l0, 64 * (l1 - l0));
            }
          });
          sink = sink + sums[0];
        }
        best = std::min(best, std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
      }
      std::printf("%-12s jobs of %6zu KiB: %.1f GB/s (best of 5)\n", loop.name, job >> 10, total / best / 1e9);
    }
  }
  std::free(buf);
}
