#include "eval/roofline.h"
#include "eval/roofline_impl.h"
#include "core/error.h"
#include "core/huge_pages.h"
#include "kernels/cpu_features.h"
#include "kernels/packed_walk.h"

#include <immintrin.h>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstring>
#include <memory>
#include <vector>

namespace tessera {

namespace {

using Clock = std::chrono::steady_clock;

double seconds_since(Clock::time_point start) {
  return std::chrono::duration<double>(Clock::now() - start).count();
}

// Each read loop prefetches as far ahead as the decode kernels of its ISA
// (packed_walk.h): a read that does not understates what the
// machine delivers (on an AVX-512 Xeon VM one thread read 15.8 GB/s without
// and 19.1 with it, 2 threads 30.6 and 37.0), and the kernels then
// "exceeded" the machine's bandwidth.
constexpr int64_t kReadAhead = packed::kPrefetchAheadAvx2;
constexpr int64_t kReadAheadZmm = packed::kPrefetchAheadAvx512;

// Sums a range with 4 independent AVX2 accumulators; the result is returned so
// the compiler cannot drop the loads.
float read_range(const float* p, size_t n) {
  __m256 a0 = _mm256_setzero_ps(), a1 = a0, a2 = a0, a3 = a0;
  size_t i = 0;
  for (; i + 32 <= n; i += 32) {
    const char* line = reinterpret_cast<const char*>(p + i);
    _mm_prefetch(line + kReadAhead, _MM_HINT_T0);
    _mm_prefetch(line + kReadAhead + 64, _MM_HINT_T0);
    a0 = _mm256_add_ps(a0, _mm256_load_ps(p + i));
    a1 = _mm256_add_ps(a1, _mm256_load_ps(p + i + 8));
    a2 = _mm256_add_ps(a2, _mm256_load_ps(p + i + 16));
    a3 = _mm256_add_ps(a3, _mm256_load_ps(p + i + 24));
  }
  __m256 s = _mm256_add_ps(_mm256_add_ps(a0, a1), _mm256_add_ps(a2, a3));
  float out[8];
  _mm256_storeu_ps(out, s);
  return out[0] + out[7];
}

float fma_loop(int64_t iters) {
  __m256 acc[10];
  for (int k = 0; k < 10; ++k) acc[k] = _mm256_set1_ps(0.001f * k);
  const __m256 m = _mm256_set1_ps(0.999999f);
  const __m256 b = _mm256_set1_ps(1e-7f);
  for (int64_t i = 0; i < iters; ++i) {
    for (int k = 0; k < 10; ++k) acc[k] = _mm256_fmadd_ps(acc[k], m, b);
  }
  __m256 s = acc[0];
  for (int k = 1; k < 10; ++k) s = _mm256_add_ps(s, acc[k]);
  float out[8];
  _mm256_storeu_ps(out, s);
  return out[0];
}

// Four independent chains hide the latency; chains, operands and constants fit
// the 16 ymm registers. Named registers, not arrays: arrays made opaque with
// asm lived on the stack and the loop measured store forwarding.
constexpr int kInt8Chains = 4;

inline __m256i int8_step(__m256i acc, __m256i a, __m256i b, __m256i ones) {
  return _mm256_add_epi32(acc, _mm256_madd_epi16(_mm256_maddubs_epi16(a, b), ones));
}

int int8_loop(int64_t iters) {
  // u8 x s8 products summed to s16 pairs then s32: the AVX2 int8 dot building block.
  __m256i c0 = _mm256_setzero_si256(), c1 = c0, c2 = c0, c3 = c0;
  __m256i b0 = _mm256_set1_epi8(-2), b1 = _mm256_set1_epi8(-3), b2 = _mm256_set1_epi8(-4);
  __m256i b3 = _mm256_set1_epi8(-5);
  const __m256i a = _mm256_set1_epi8(3);
  const __m256i ones = _mm256_set1_epi16(1);
  for (int64_t i = 0; i < iters; ++i) {
    // Opaque to the optimiser: with loop-invariant operands the multiplies
    // were hoisted and the loop measured only the adds.
    asm volatile("" : "+x"(b0), "+x"(b1), "+x"(b2), "+x"(b3));
    c0 = int8_step(c0, a, b0, ones);
    c1 = int8_step(c1, a, b1, ones);
    c2 = int8_step(c2, a, b2, ones);
    c3 = int8_step(c3, a, b3, ones);
  }
  const __m256i s = _mm256_add_epi32(_mm256_add_epi32(c0, c1), _mm256_add_epi32(c2, c3));
  return _mm256_extract_epi32(s, 0);
}

// Reads the 64-byte aligned interior of p[0, bytes) in whole iterations of the
// CPU's read loop; adds the bytes it read to `read`.
float read_aligned_interior(const uint8_t* p, int64_t bytes, bool zmm, int64_t& read) {
  const auto address = reinterpret_cast<uintptr_t>(p);
  const int64_t skip = static_cast<int64_t>((64 - address % 64) % 64);
  const int64_t step = zmm ? 256 : 128;  // bytes per iteration of read_range_zmm / read_range
  const int64_t n = std::max<int64_t>(0, bytes - skip) / step * step;
  if (n == 0) return 0;
  read += n;
  const auto* f = reinterpret_cast<const float*>(p + skip);
  const auto n_floats = static_cast<size_t>(n / 4);
  return zmm ? avx512::read_range_zmm(f, n_floats, kReadAheadZmm) : read_range(f, n_floats);
}

}  // namespace

ReadPass read_spans(std::span<const std::span<const uint8_t>> spans, ThreadPool& pool) {
  int64_t total = 0;
  for (const auto& s : spans) total += static_cast<int64_t>(s.size());
  if (total == 0) return {};
  const bool zmm = cpu_features().level >= IsaLevel::kAvx512;
  std::vector<int64_t> read(static_cast<size_t>(pool.size()), 0);
  std::vector<float> sink(static_cast<size_t>(pool.size()), 0);
  const auto t0 = Clock::now();
  pool.run([&](int t, int threads) {
    // This thread's share [begin, end) of the spans laid end to end.
    const int64_t begin = total * t / threads, end = total * (t + 1) / threads;
    int64_t offset = 0;
    for (const auto& s : spans) {
      const int64_t size = static_cast<int64_t>(s.size());
      const int64_t b = std::max(begin, offset), e = std::min(end, offset + size);
      if (b < e) sink[t] += read_aligned_interior(s.data() + (b - offset), e - b, zmm, read[t]);
      offset += size;
    }
  });
  ReadPass pass;
  pass.seconds = seconds_since(t0);
  for (int64_t r : read) pass.bytes += r;
  return pass;
}

Roofline measure_roofline(ThreadPool& pool, size_t buffer_bytes) {
  Roofline r;
  const size_t n = buffer_bytes / sizeof(float);
  // Huge pages like the packed weights (core/huge_pages.h): on small pages the
  // figure is the TLB's and the page-bounded prefetchers' limit, not memory's.
  std::unique_ptr<float, decltype(&std::free)> buf(
      reinterpret_cast<float*>(allocate_huge_page_aligned(n * sizeof(float))), &std::free);
  if (buf == nullptr) raise("roofline: out of memory for a {} byte read buffer", n * sizeof(float));
  // First touch from the threads that will read, so pages are mapped up front.
  pool.parallel_for(static_cast<int64_t>(n), 1 << 16, [&](int64_t b, int64_t e) {
    std::memset(buf.get() + b, 1, static_cast<size_t>(e - b) * sizeof(float));
  });
  std::vector<float> sink(pool.size());
  // The faster of the two read loops this CPU runs: with four 512-bit
  // accumulators an AVX-512 VM read 5-8 % more than with four 256-bit ones
  // (bench/probes/read_jobs.cc), and a read figure below what the machine
  // delivers would flatter the decode's share of it.
  const bool zmm = cpu_features().level >= IsaLevel::kAvx512;
  const size_t n_read = n / 64 * 64;  // whole iterations of either loop
  double best = 1e30;
  for (int rep = 0; rep < (zmm ? 10 : 5); ++rep) {
    const bool use_zmm = zmm && rep % 2 == 1;
    const auto t0 = Clock::now();
    pool.run([&](int t, int threads) {
      const size_t begin = (n / threads) * t / 64 * 64;
      const size_t end = t + 1 == threads ? n_read : (n / threads) * (t + 1) / 64 * 64;
      sink[t] += use_zmm ? avx512::read_range_zmm(buf.get() + begin, end - begin, kReadAheadZmm)
                         : read_range(buf.get() + begin, end - begin);
    });
    best = std::min(best, seconds_since(t0));
  }
  r.read_gbps = static_cast<double>(n_read * sizeof(float)) / best / 1e9;

  const int64_t iters = 20'000'000;
  best = 1e30;
  for (int rep = 0; rep < 3; ++rep) {
    const auto t0 = Clock::now();
    pool.run([&](int t, int) { sink[t] += fma_loop(iters); });
    best = std::min(best, seconds_since(t0));
  }
  r.fma_gflops = 2.0 * 8 * 10 * static_cast<double>(iters) * pool.size() / best / 1e9;

  best = 1e30;
  for (int rep = 0; rep < 3; ++rep) {
    const auto t0 = Clock::now();
    pool.run([&](int t, int) { sink[t] += static_cast<float>(int8_loop(iters)); });
    best = std::min(best, seconds_since(t0));
  }
  r.int8_gops = 2.0 * 32 * kInt8Chains * static_cast<double>(iters) * pool.size() / best / 1e9;

  if (cpu_features().level >= IsaLevel::kAvx512) {
    best = 1e30;
    for (int rep = 0; rep < 3; ++rep) {
      const auto t0 = Clock::now();
      pool.run([&](int t, int) { sink[t] += static_cast<float>(avx512::vnni_loop(iters)); });
      best = std::min(best, seconds_since(t0));
    }
    r.int8_vnni_gops = 2.0 * 64 * 8 * static_cast<double>(iters) * pool.size() / best / 1e9;
  }
  return r;
}

}  // namespace tessera
