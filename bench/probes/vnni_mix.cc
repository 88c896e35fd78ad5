// What a vpdpbusd costs next to the other work of a lane tile (docs/performance.md,
// "Where the prefill tiles stop on Zen 5"): the latency of vpdpbusd, an FMA and a
// convert (chains of one instruction, in cycles of a chain of 1-cycle scalar adds),
// the rate of 4, 8 and 12 independent vpdpbusd chains, and the rate of 8 chains of 8
// vpdpbusd when 8 independent instructions of another kind are added per 64.
// Register operands only; one thread.
//
//   g++ -O2 -std=c++20 -mavx512f -mavx512vnni bench/probes/vnni_mix.cc -o /tmp/vnni_mix && /tmp/vnni_mix
#include <immintrin.h>

#include <chrono>
#include <cstdio>

namespace {

using Clock = std::chrono::steady_clock;

template <typename Fn>
double seconds(const Fn& fn) {
  const auto t0 = Clock::now();
  fn();
  return std::chrono::duration<double>(Clock::now() - t0).count();
}

#define DP(k) "vpdpbusd %%zmm0, %%zmm1, %%zmm" #k "\n\t"
#define V8 DP(2) DP(3) DP(4) DP(5) DP(6) DP(7) DP(8) DP(9)
#define V64 V8 V8 V8 V8 V8 V8 V8 V8
#define X8(op) op(10) op(11) op(12) op(13) op(14) op(15) op(16) op(17)
#define CVT(k) "vcvtdq2ps %%zmm0, %%zmm" #k "\n\t"
#define FMA(k) "vfmadd231ps %%zmm0, %%zmm1, %%zmm" #k "\n\t"
#define WSSD(k) "vpdpwssd %%zmm0, %%zmm1, %%zmm" #k "\n\t"
#define MULLD(k) "vpmulld %%zmm0, %%zmm1, %%zmm" #k "\n\t"
#define ADDD(k) "vpaddd %%zmm0, %%zmm1, %%zmm" #k "\n\t"
#define CLOBBER "xmm2", "xmm3", "xmm4", "xmm5", "xmm6", "xmm7", "xmm8", "xmm9", "xmm10", "xmm11", "xmm12", "xmm13", \
                "xmm14", "xmm15", "xmm16", "xmm17"

}  // namespace

int main() {
  const long m = 50000000;
  const double add_ns = seconds([&] {
    for (long i = 0; i < m; ++i) asm volatile("add $1, %%rax\n\tadd $1, %%rax\n\tadd $1, %%rax\n\tadd $1, %%rax" ::: "rax");
  }) / (4.0 * m) * 1e9;
  std::printf("clock ~%.2f GHz (chain of 1-cycle scalar adds)\n", 1.0 / add_ns);
  const double dp_lat = seconds([&] {
    for (long i = 0; i < m; ++i) asm volatile(DP(2) DP(2) DP(2) DP(2) ::: "xmm2");
  }) / (4.0 * m) * 1e9;
  const double fma_lat = seconds([&] {
    for (long i = 0; i < m; ++i) asm volatile(FMA(2) FMA(2) FMA(2) FMA(2) ::: "xmm2");
  }) / (4.0 * m) * 1e9;
  const double cvt_lat = seconds([&] {
    for (long i = 0; i < m; ++i)
      asm volatile("vcvtdq2ps %%zmm2, %%zmm2\n\tvcvtdq2ps %%zmm2, %%zmm2\n\tvcvtdq2ps %%zmm2, %%zmm2\n\t"
                   "vcvtdq2ps %%zmm2, %%zmm2" ::: "xmm2");
  }) / (4.0 * m) * 1e9;
  std::printf("latency, cycles: vpdpbusd %.1f, vfmadd231ps %.1f, vcvtdq2ps %.1f\n", dp_lat / add_ns,
              fma_lat / add_ns, cvt_lat / add_ns);
  const double c4 = seconds([&] {
    for (long i = 0; i < m; ++i) asm volatile(DP(2) DP(3) DP(4) DP(5) DP(2) DP(3) DP(4) DP(5) ::: CLOBBER);
  }) / (8.0 * m) * 1e9;
  const double c8 = seconds([&] {
    for (long i = 0; i < m; ++i) asm volatile(V8 V8 ::: CLOBBER);
  }) / (16.0 * m) * 1e9;
  const double c12 = seconds([&] {
    for (long i = 0; i < m; ++i) asm volatile(V8 DP(10) DP(11) DP(12) DP(13) ::: CLOBBER);
  }) / (12.0 * m) * 1e9;
  std::printf("ns per vpdpbusd, independent chains: 4 %.3f, 8 %.3f, 12 %.3f\n", c4, c8, c12);
  const long n = m / 10;
  auto mix = [&](const char* name, double s) {
    std::printf("8 chains of 8 vpdpbusd %-24s %.3f ns per vpdpbusd\n", name, s / (64.0 * n) * 1e9);
  };
  mix("alone", seconds([&] { for (long i = 0; i < n; ++i) asm volatile(V64 ::: CLOBBER); }));
  mix("+ 8 vcvtdq2ps", seconds([&] { for (long i = 0; i < n; ++i) asm volatile(V64 X8(CVT) ::: CLOBBER); }));
  mix("+ 8 vfmadd231ps", seconds([&] { for (long i = 0; i < n; ++i) asm volatile(V64 X8(FMA) ::: CLOBBER); }));
  mix("+ 8 vcvtdq2ps + 8 FMA",
      seconds([&] { for (long i = 0; i < n; ++i) asm volatile(V64 X8(CVT) X8(FMA) ::: CLOBBER); }));
  mix("+ 8 vpdpwssd", seconds([&] { for (long i = 0; i < n; ++i) asm volatile(V64 X8(WSSD) ::: CLOBBER); }));
  mix("+ 8 vpmulld", seconds([&] { for (long i = 0; i < n; ++i) asm volatile(V64 X8(MULLD) ::: CLOBBER); }));
  mix("+ 8 vpaddd", seconds([&] { for (long i = 0; i < n; ++i) asm volatile(V64 X8(ADDD) ::: CLOBBER); }));
}
