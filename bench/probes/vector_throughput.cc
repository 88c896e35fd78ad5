// Throughput of the vector instructions the AVX2 packed kernels are made of
// (docs/performance.md, "Where prefill time went on Zen 3"): each loop issues
// 8 independent instructions, so the figure is reciprocal throughput, in
// cycles at the clock measured first from a chain of dependent scalar adds.
//
//   g++ -O2 -mavx2 bench/probes/vector_throughput.cc -o /tmp/vt && /tmp/vt
#include <chrono>
#include <cstdio>

// Eight independent ymm8 x ymm9 -> ymm0..7 instances of a 3-operand AVX2
// instruction (an asm string), and the registers they write.
#define EIGHT_INDEPENDENT(op)                                                                     \
  op " %%ymm8,%%ymm9,%%ymm0\n " op " %%ymm8,%%ymm9,%%ymm1\n " op " %%ymm8,%%ymm9,%%ymm2\n "     \
  op " %%ymm8,%%ymm9,%%ymm3\n " op " %%ymm8,%%ymm9,%%ymm4\n " op " %%ymm8,%%ymm9,%%ymm5\n "     \
  op " %%ymm8,%%ymm9,%%ymm6\n " op " %%ymm8,%%ymm9,%%ymm7\n"
#define EIGHT_CLOBBERS "xmm0", "xmm1", "xmm2", "xmm3", "xmm4", "xmm5", "xmm6", "xmm7"

namespace {

template <typename F>
double ns_per_op(F f, long n, int per) {
  const auto t0 = std::chrono::steady_clock::now();
  f(n);
  const auto t1 = std::chrono::steady_clock::now();
  return std::chrono::duration<double, std::nano>(t1 - t0).count() / (n * static_cast<double>(per));
}

}  // namespace

int main() {
  const long n = 50000000;
  // One add per cycle: a dependent chain gives the clock.
  const double ns_per_cycle = ns_per_op([](long m) {
    long x = 0;
    for (long i = 0; i < m; ++i) __asm__ volatile("add $1, %0\n add $1, %0\n add $1, %0\n add $1, %0" : "+r"(x));
  }, 4 * n, 4);
  std::printf("clock ~ %.2f GHz\n", 1.0 / ns_per_cycle);
  auto report = [&](const char* what, double ns) { std::printf("%-32s %.3f cycles\n", what, ns / ns_per_cycle); };
  report("vpmaddubsw", ns_per_op([](long m) {
    for (long i = 0; i < m; ++i) __asm__ volatile(EIGHT_INDEPENDENT("vpmaddubsw") ::: EIGHT_CLOBBERS);
  }, n, 8));
  report("vpaddw", ns_per_op([](long m) {
    for (long i = 0; i < m; ++i) __asm__ volatile(EIGHT_INDEPENDENT("vpaddw") ::: EIGHT_CLOBBERS);
  }, n, 8));
  static int mem[64];
  report("vpbroadcastd ymm, m32", ns_per_op([](long m) {
    for (long i = 0; i < m; ++i)
      __asm__ volatile(
          "vpbroadcastd (%0),%%ymm0\n vpbroadcastd 4(%0),%%ymm1\n vpbroadcastd 8(%0),%%ymm2\n"
          "vpbroadcastd 12(%0),%%ymm3\n vpbroadcastd 16(%0),%%ymm4\n vpbroadcastd 20(%0),%%ymm5\n"
          "vpbroadcastd 24(%0),%%ymm6\n vpbroadcastd 28(%0),%%ymm7\n" ::"r"(mem)
          : "xmm0", "xmm1", "xmm2", "xmm3", "xmm4", "xmm5", "xmm6", "xmm7");
  }, n, 8));
  report("broadcast + maddubs + paddw", ns_per_op([](long m) {
    for (long i = 0; i < m; ++i)
      __asm__ volatile(
          "vpbroadcastd (%0),%%ymm0\n vpmaddubsw %%ymm0,%%ymm9,%%ymm0\n vpaddw %%ymm0,%%ymm10,%%ymm10\n"
          "vpbroadcastd 4(%0),%%ymm1\n vpmaddubsw %%ymm1,%%ymm9,%%ymm1\n vpaddw %%ymm1,%%ymm11,%%ymm11\n"
          "vpbroadcastd 8(%0),%%ymm2\n vpmaddubsw %%ymm2,%%ymm9,%%ymm2\n vpaddw %%ymm2,%%ymm12,%%ymm12\n"
          "vpbroadcastd 12(%0),%%ymm3\n vpmaddubsw %%ymm3,%%ymm9,%%ymm3\n vpaddw %%ymm3,%%ymm13,%%ymm13\n" ::"r"(mem)
          : "xmm0", "xmm1", "xmm2", "xmm3", "xmm10", "xmm11", "xmm12", "xmm13");
  }, n, 4));
  return 0;
}
