// ggml's vector exp (ggml_v_expf), AVX-512 form, sixteen lanes. Only for
// translation units compiled with AVX-512 flags (files named *_avx512*.cc).
// Lane for lane it equals ggml_expf_lane_avx512 (kernels/ggml_vec_math.h),
// which scalar code uses to reproduce it.
#pragma once

#include <immintrin.h>

#include <cmath>

#include "kernels/ggml_vec_math_impl.h"

namespace tessera::detail {

inline __m512 expf16(__m512 x) {
  const __m512 z = _mm512_fmadd_ps(x, _mm512_set1_ps(kExpLog2e), _mm512_set1_ps(kExpRound));
  const __m512 n = _mm512_sub_ps(z, _mm512_set1_ps(kExpRound));
  const __m512 b = _mm512_fnmadd_ps(n, _mm512_set1_ps(kExpLn2Lo),
                                    _mm512_fnmadd_ps(n, _mm512_set1_ps(kExpLn2Hi), x));
  const __m512 u = _mm512_mul_ps(b, b);
  const __m512 p = _mm512_fmadd_ps(
      _mm512_fmadd_ps(_mm512_fmadd_ps(_mm512_set1_ps(kExpP5), b, _mm512_set1_ps(kExpP4)), u,
                      _mm512_fmadd_ps(_mm512_set1_ps(kExpP3), b, _mm512_set1_ps(kExpP2))),
      u, _mm512_fmadd_ps(_mm512_set1_ps(kExpP1), b, _mm512_set1_ps(1.0f)));
  const __m512 scaled = _mm512_scalef_ps(p, n);
  // |n| by clearing the sign bit (what _mm512_abs_ps does; g++ 12 warns on that intrinsic).
  const __m512 abs_n = _mm512_castsi512_ps(_mm512_and_si512(_mm512_castps_si512(n), _mm512_set1_epi32(0x7fffffff)));
  const __mmask16 out_of_range = _mm512_cmp_ps_mask(abs_n, _mm512_set1_ps(192.0f), _CMP_GT_OQ);
  if (out_of_range == 0) return scaled;
  const __mmask16 non_positive = _mm512_cmp_ps_mask(n, _mm512_setzero_ps(), _CMP_LE_OQ);
  const __m512 limit = _mm512_mask_blend_ps(non_positive, _mm512_set1_ps(INFINITY), _mm512_setzero_ps());
  return _mm512_mask_blend_ps(out_of_range, scaled, limit);
}

}  // namespace tessera::detail
