// How well one core overlaps streaming weights from memory with integer dot
// work on them (docs/performance.md, "Memory and compute in the 8-sequence
// step"): a loop that reads 512 MiB (huge pages) 64 bytes at a time and runs
// K vpdpbusd on each line (eight independent chains, register operands),
// prefetching 2 KiB ahead as the packed decode tiles do; the same loop over
// 512 KiB (in L2) gives its compute rate. "two streams" alternates 128-byte
// steps, or 2304-byte ones (about a Q4_K super-block), between the two halves
// of the buffer. GB/s of lines consumed, best of three.
//
//   g++ -O3 -std=c++20 -march=native bench/probes/stream_overlap.cc -o /tmp/stream_overlap \
//       && /tmp/stream_overlap
#include <immintrin.h>
#include <sys/mman.h>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>

namespace {

using Clock = std::chrono::steady_clock;
constexpr int64_t kAhead = 2048;

// K dot instructions on the 64-byte line at p.
template <int K>
inline void dot_line(const uint8_t* p, __m512i (&acc)[8], __m512i x) {
  const __m512i w = _mm512_load_si512(p);
#pragma GCC unroll 32
  for (int k = 0; k < K; ++k) acc[k % 8] = _mm512_dpbusd_epi32(acc[k % 8], w, x);
}

int64_t reduce(__m512i (&acc)[8]) {
  int64_t s = 0;
  for (auto& a : acc) s += _mm512_reduce_add_epi32(a);
  return s;
}

// One stream: 256 bytes per step, its four lines prefetched kAhead ahead.
template <int K>
__attribute__((noinline)) int64_t one_stream(const uint8_t* buf, int64_t bytes) {
  __m512i acc[8];
  for (auto& a : acc) a = _mm512_setzero_si512();
  const __m512i x = _mm512_set1_epi32(0x01010101);
  for (int64_t off = 0; off < bytes; off += 256) {
    for (int l = 0; l < 4; ++l) _mm_prefetch(reinterpret_cast<const char*>(buf + off + kAhead + 64 * l), _MM_HINT_T0);
    for (int l = 0; l < 4; ++l) dot_line<K>(buf + off + 64 * l, acc, x);
  }
  return reduce(acc);
}

// Two streams (the buffer's halves), alternating every `step` bytes.
template <int K>
__attribute__((noinline)) int64_t two_streams(const uint8_t* buf, int64_t bytes, int64_t step) {
  __m512i acc[8];
  for (auto& a : acc) a = _mm512_setzero_si512();
  const __m512i x = _mm512_set1_epi32(0x01010101);
  const int64_t half = bytes / 2;
  for (int64_t o = 0; o + step <= half; o += step) {
    for (int s = 0; s < 2; ++s) {
      for (int64_t off = o + s * half; off < o + s * half + step; off += 128) {
        for (int l = 0; l < 2; ++l) _mm_prefetch(reinterpret_cast<const char*>(buf + off + kAhead + 64 * l), _MM_HINT_T0);
        for (int l = 0; l < 2; ++l) dot_line<K>(buf + off + 64 * l, acc, x);
      }
    }
  }
  return reduce(acc);
}

template <typename Fn>
double best_seconds(const Fn& fn, int repeats) {
  double best = 1e9;
  for (int r = 0; r < 3; ++r) {
    const auto t0 = Clock::now();
    for (int i = 0; i < repeats; ++i) {
      volatile int64_t sink = fn();
      (void)sink;
    }
    best = std::min(best, std::chrono::duration<double>(Clock::now() - t0).count());
  }
  return best;
}

template <int K>
void report(const uint8_t* buf, int64_t bytes) {
  const int64_t small = 512 << 10;
  const double cache = small * 1024.0 / best_seconds([&] { return one_stream<K>(buf, small); }, 1024) / 1e9;
  const double memory = bytes / best_seconds([&] { return one_stream<K>(buf, bytes); }, 1) / 1e9;
  const double two_128 = bytes / best_seconds([&] { return two_streams<K>(buf, bytes, 128); }, 1) / 1e9;
  const double two_2304 = bytes / best_seconds([&] { return two_streams<K>(buf, bytes, 2304); }, 1) / 1e9;
  std::printf("%5d %10.1f %10.1f %8.0f %% %14.1f %14.1f\n", K, cache, memory, 100 * memory / cache, two_128, two_2304);
}

}  // namespace

int main() {
  const int64_t bytes = int64_t{512} << 20;
  auto* buf = static_cast<uint8_t*>(std::aligned_alloc(1 << 21, bytes + (1 << 21)));
  madvise(buf, bytes + (1 << 21), MADV_HUGEPAGE);
  std::memset(buf, 1, bytes + (1 << 21));
  std::printf("vpdpbusd per 64 B, GB/s: in L2 | from memory | share | two streams (128 B steps) | (2304 B steps)\n");
  std::printf("%5s %10s %10s %10s %14s %14s\n", "K", "L2", "memory", "share", "two/128 B", "two/2304 B");
  report<8>(buf, bytes);
  report<16>(buf, bytes);
  report<20>(buf, bytes);
  report<24>(buf, bytes);
  std::free(buf);
}
