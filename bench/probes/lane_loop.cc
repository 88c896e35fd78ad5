// Where the AVX-512 VNNI lane tile stops (docs/performance.md, "Where the VNNI
// prefill tile stops"): ns per vpdpbusd of loops shaped like q45k_tile's lane
// loop (8 tokens, one chain per token restarted every 32-column sub-block, a
// convert and an FMA per token and sub-block; data in L1), against plain
// chains of vpdpbusd with register operands and with a broadcast activation,
// and (tenth session) the tile over 32 rows, each activation broadcast once
// into a register for two row groups.
// One thread; the clock is estimated from a chain of 1-cycle vpaddd.
//
//   g++ -O3 -std=c++20 -mavx512f -mavx512bw -mavx512vl -mavx512vnni bench/probes/lane_loop.cc -o /tmp/lane_loop \
//       && /tmp/lane_loop
#include <immintrin.h>

#include <chrono>
#include <cstdint>
#include <cstdio>

namespace {

using Clock = std::chrono::steady_clock;

inline __m512i dp(__m512i acc, __m512i w, const int8_t* x) {
  asm("vpdpbusd %2%{1to16%}, %1, %0" : "+v"(acc) : "v"(w), "m"(*reinterpret_cast<const int32_t(*)[1]>(x)));
  return acc;
}
inline __m512i dp0(__m512i w, const int8_t* x) {
  __m512i acc;
  asm("vpxord %0, %0, %0\n\tvpdpbusd %2%{1to16%}, %1, %0"
      : "=&v"(acc)
      : "v"(w), "m"(*reinterpret_cast<const int32_t(*)[1]>(x)));
  return acc;
}

enum class Shape { kTile, kIntegerOnly, kNoLaneLoads, kTwoChains };

// n_sub sub-blocks of NT tokens; x rows xs bytes apart; lanes and activations
// cycle over 64 sub-blocks (32 KiB and NT × 2 KiB: L1 / L2).
template <int NT, Shape kShape>
__attribute__((noinline)) void lane_loop(const uint8_t* lanes, const int8_t* xbase, int64_t xs, const uint8_t* scales,
                                         int64_t n_sub, float* out) {
  __m512 part[NT];
  for (int t = 0; t < NT; ++t) part[t] = _mm512_setzero_ps();
  const __m512i fixed = _mm512_load_si512(lanes);
  for (int64_t j = 0; j < n_sub; ++j) {
    const uint8_t* l = lanes + 512 * (j & 63);
    const int8_t* xq[NT];
    for (int t = 0; t < NT; ++t) xq[t] = xbase + t * xs + 32 * (j & 63);
    auto lane = [&](int g) { return kShape == Shape::kNoLaneLoads ? fixed : _mm512_load_si512(l + 64 * g); };
    __m512i s[NT];
    if constexpr (kShape == Shape::kTwoChains) {
      __m512i u[NT];
      for (int t = 0; t < NT; ++t) {
        s[t] = dp0(lane(0), xq[t]);
        u[t] = dp0(lane(1), xq[t] + 4);
      }
      for (int g = 2; g < 8; g += 2) {
        const __m512i wa = lane(g), wb = lane(g + 1);
        for (int t = 0; t < NT; ++t) {
          s[t] = dp(s[t], wa, xq[t] + 4 * g);
          u[t] = dp(u[t], wb, xq[t] + 4 * g + 4);
        }
      }
      for (int t = 0; t < NT; ++t) s[t] = _mm512_add_epi32(s[t], u[t]);
    } else {
      const __m512i w0 = lane(0);
      for (int t = 0; t < NT; ++t) s[t] = dp0(w0, xq[t]);
      for (int g = 1; g < 8; ++g) {
        const __m512i w = lane(g);
        for (int t = 0; t < NT; ++t) s[t] = dp(s[t], w, xq[t] + 4 * g);
      }
    }
    if constexpr (kShape == Shape::kIntegerOnly) {
      for (int t = 0; t < NT; ++t) part[t] = _mm512_castsi512_ps(_mm512_xor_si512(s[t], _mm512_castps_si512(part[t])));
    } else {
      const __m512 scale = _mm512_cvtepi32_ps(
          _mm512_cvtepu8_epi32(_mm_loadu_si128(reinterpret_cast<const __m128i*>(scales + 16 * (j & 63)))));
      for (int t = 0; t < NT; ++t) part[t] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(s[t]), scale, part[t]);
    }
  }
  for (int t = 0; t < NT; ++t) _mm512_storeu_ps(out + 16 * t, part[t]);
}

inline __m512i broadcast_to_register(const int8_t* x) {
  __m512i r;
  asm("vpbroadcastd %1, %0" : "=v"(r) : "m"(*reinterpret_cast<const int32_t(*)[1]>(x)));
  return r;
}
inline __m512i dp_reg(__m512i acc, __m512i w, __m512i a) {
  asm("vpdpbusd %2, %1, %0" : "+v"(acc) : "v"(w), "v"(a));
  return acc;
}

// The tile over 32 rows (two lane registers per 4 columns, 1 KiB per
// sub-block): each token's activation broadcast once into a register and
// used by both row groups' chains; NT tokens, 2·NT chains.
template <int NT>
__attribute__((noinline)) void lane_loop_32_rows(const uint8_t* lanes, const int8_t* xbase, int64_t xs,
                                                 const uint8_t* scales, int64_t n_sub, float* out) {
  __m512 part[NT][2];
  for (int t = 0; t < NT; ++t) part[t][0] = part[t][1] = _mm512_setzero_ps();
  for (int64_t j = 0; j < n_sub; ++j) {
    const uint8_t* l = lanes + 1024 * (j & 31);
    const int8_t* xq = xbase + 32 * (j & 31);
    __m512i s[NT][2];
    for (int t = 0; t < NT; ++t) s[t][0] = s[t][1] = _mm512_setzero_si512();
    for (int g = 0; g < 8; ++g) {
      const __m512i w0 = _mm512_load_si512(l + 64 * g), w1 = _mm512_load_si512(l + 512 + 64 * g);
      for (int t = 0; t < NT; ++t) {
        const __m512i a = broadcast_to_register(xq + t * xs + 4 * g);
        s[t][0] = dp_reg(s[t][0], w0, a);
        s[t][1] = dp_reg(s[t][1], w1, a);
      }
    }
    for (int r = 0; r < 2; ++r) {
      const __m512 scale = _mm512_cvtepi32_ps(_mm512_cvtepu8_epi32(
          _mm_loadu_si128(reinterpret_cast<const __m128i*>(scales + 16 * r + 32 * (j & 31)))));
      for (int t = 0; t < NT; ++t) part[t][r] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(s[t][r]), scale, part[t][r]);
    }
  }
  for (int t = 0; t < NT; ++t) {
    for (int r = 0; r < 2; ++r) _mm512_storeu_ps(out + 16 * (2 * t + r), part[t][r]);
  }
}

#define R(k) "vpdpbusd %%zmm0, %%zmm1, %%zmm" #k "\n\t"
#define B(k, off) "vpdpbusd " #off "(%0)%{1to16%}, %%zmm1, %%zmm" #k "\n\t"
#define A "vpaddd %%zmm0, %%zmm2, %%zmm2\n\t"
#define CLOBBER16 "xmm2", "xmm3", "xmm4", "xmm5", "xmm6", "xmm7", "xmm8", "xmm9", "xmm10", "xmm11", "xmm12", \
                  "xmm13", "xmm14", "xmm15", "xmm16", "xmm17"

template <typename Fn>
double seconds(const Fn& fn) {
  const auto t0 = Clock::now();
  fn();
  return std::chrono::duration<double>(Clock::now() - t0).count();
}

}  // namespace

int main() {
  alignas(64) static uint8_t lanes[512 * 64];
  alignas(64) static int8_t x[12 * 2304];
  alignas(64) static uint8_t scales[16 * 64];
  alignas(64) static float out[16 * 16];
  alignas(64) static int32_t mem[64] = {1};
  for (auto& v : lanes) v = 3;
  for (auto& v : x) v = 1;
  for (auto& v : scales) v = 1;
  const long m = 50000000;
  const double add_ns = seconds([&] {
    for (long i = 0; i < m; ++i) asm volatile(A A A A A A A A A A A A ::: "xmm2");
  }) / (12.0 * m) * 1e9;
  const double ghz = 1.0 / add_ns;
  std::printf("clock ~%.2f GHz (1-cycle vpaddd chain)\n", ghz);
  auto report = [&](const char* name, double ns) {
    std::printf("%-58s %.3f ns per vpdpbusd, %.2f per cycle\n", name, ns, 1.0 / (ns * ghz));
  };
  report("16 independent chains, register operands", seconds([&] {
    for (long i = 0; i < m; ++i)
      asm volatile(R(2) R(3) R(4) R(5) R(6) R(7) R(8) R(9) R(10) R(11) R(12) R(13) R(14) R(15) R(16) R(17) ::: CLOBBER16);
  }) / (16.0 * m) * 1e9);
  report("16 chains, broadcast activation ({1to16})", seconds([&] {
    for (long i = 0; i < m; ++i)
      asm volatile(B(2, 0) B(3, 4) B(4, 8) B(5, 12) B(6, 16) B(7, 20) B(8, 24) B(9, 28) B(10, 32) B(11, 36) B(12, 40)
                       B(13, 44) B(14, 48) B(15, 52) B(16, 56) B(17, 60)::"r"(mem)
                   : CLOBBER16);
  }) / (16.0 * m) * 1e9);
  const int64_t n_sub = 2500000;
  auto tile = [&](const char* name, auto fn) {
    fn(lanes, x, 2304, scales, n_sub / 10, out);  // warm-up
    report(name, seconds([&] { fn(lanes, x, 2304, scales, n_sub, out); }) / (n_sub * 64.0) * 1e9);
  };
  tile("lane tile loop (8 tokens, cvt + FMA per sub-block)", lane_loop<8, Shape::kTile>);
  tile("the same, an integer op instead of cvt + FMA", lane_loop<8, Shape::kIntegerOnly>);
  tile("the same, the lane register kept in a register", lane_loop<8, Shape::kNoLaneLoads>);
  tile("the same, two chains per token (16 chains of 4)", lane_loop<8, Shape::kTwoChains>);
  // 32 rows: 16 vpdpbusd per token and sub-block.
  auto tile32 = [&](const char* name, auto fn, int n_tokens) {
    fn(lanes, x, 2304, scales, n_sub / 10, out);
    report(name, seconds([&] { fn(lanes, x, 2304, scales, n_sub, out); }) / (n_sub * 16.0 * n_tokens) * 1e9);
  };
  tile32("6 tokens x 32 rows, activations broadcast to registers", lane_loop_32_rows<6>, 6);
  tile32("4 tokens x 32 rows, the same", lane_loop_32_rows<4>, 4);
}
