// The AVX-512 VNNI int8 peak for the roofline (built with AVX-512 flags; call
// only when cpu_features().level is kAvx512): vpdpbusd on 512-bit registers,
// the instruction the Q4_0 / Q5_0 / Q8_0 / Q4_K kernels use on this level.
#include <immintrin.h>

#include <cstdint>

#include "eval/roofline_impl.h"

namespace tessera::avx512 {

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
