// The roofline's AVX-512 loops (built with AVX-512 flags; call only when
// cpu_features().level is kAvx512): the read loop, and the VNNI int8 peak
// (vpdpbusd on 512-bit registers, the instruction the packed kernels use on
// this level).
#include <immintrin.h>

#include <cstdint>

#include "eval/roofline_impl.h"

namespace tessera::avx512 {

float read_range_zmm(const float* p, size_t n, int64_t ahead) {
  __m512 acc[4] = {_mm512_setzero_ps(), _mm512_setzero_ps(), _mm512_setzero_ps(), _mm512_setzero_ps()};
  for (size_t i = 0; i + 64 <= n; i += 64) {
    for (int k = 0; k < 4; ++k) {
      _mm_prefetch(reinterpret_cast<const char*>(p + i + 16 * k) + ahead, _MM_HINT_T0);
      acc[k] = _mm512_add_ps(acc[k], _mm512_load_ps(p + i + 16 * k));
    }
  }
  alignas(64) float lanes[16];
  _mm512_store_ps(lanes, _mm512_add_ps(_mm512_add_ps(acc[0], acc[1]), _mm512_add_ps(acc[2], acc[3])));
  return lanes[0] + lanes[15];
}

int vnni_loop(int64_t iters) {
  // Eight independent accumulators hide vpdpbusd's latency.
  __m512i acc[8];
  for (int k = 0; k < 8; ++k) acc[k] = _mm512_set1_epi32(k);
  const __m512i a = _mm512_set1_epi8(3);
  const __m512i b = _mm512_set1_epi8(-2);
  for (int64_t i = 0; i < iters; ++i) {
    for (int k = 0; k < 8; ++k) acc[k] = _mm512_dpbusd_epi32(acc[k], a, b);
  }
  __m512i s = acc[0];
  for (int k = 1; k < 8; ++k) s = _mm512_add_epi32(s, acc[k]);
  // Stored, not extracted: g++ 12's extract intrinsics trip -Wuninitialized
  // inside its own headers (GCC bug 105593).
  alignas(64) int32_t lanes[16];
  _mm512_store_si512(lanes, s);
  return lanes[0];
}

}  // namespace tessera::avx512
