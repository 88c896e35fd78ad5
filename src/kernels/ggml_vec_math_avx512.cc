// AVX-512 halves of kernels/ggml_vec_math.cc (compiled with AVX-512 flags).
// g++ 12's AVX-512 headers warn about their own "undefined" registers when
// inlined (GCC bug 105593, as in vec_dot_avx512.cc).
#pragma GCC diagnostic ignored "-Wuninitialized"
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#include <immintrin.h>

#include <cmath>

#include "kernels/ggml_vec_math.h"
#include "kernels/ggml_vec_math_impl.h"

namespace tessera::detail {

namespace {

// ggml_v_expf, AVX-512 form, sixteen lanes (see ggml_expf_lane_avx512).
__m512 expf16(__m512 x) {
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

float hsum16(__m512 v) {
  alignas(64) float lanes[16];
  _mm512_store_ps(lanes, v);
  return ggml_hsum(lanes, 16);
}

}  // namespace

double ggml_softmax_exp_avx512(const float* x, float* y, int64_t n, float max) {
  const __m512 m = _mm512_set1_ps(max);
  double sum = 0.0;
  for (int64_t i = 0; i < n; i += 16) {
    const __m512 v = expf16(_mm512_sub_ps(_mm512_loadu_ps(x + i), m));
    _mm512_storeu_ps(y + i, v);
    sum += static_cast<double>(hsum16(v));
  }
  return sum;
}

void ggml_swiglu_avx512(const float* gate, const float* up, float* out, int64_t n) {
  const __m512 one = _mm512_set1_ps(1.0f);
  for (int64_t i = 0; i < n; i += 16) {
    const __m512 g = _mm512_loadu_ps(gate + i);
    const __m512 silu = _mm512_div_ps(g, _mm512_add_ps(one, expf16(_mm512_sub_ps(_mm512_setzero_ps(), g))));
    _mm512_storeu_ps(out + i, _mm512_mul_ps(silu, _mm512_loadu_ps(up + i)));
  }
}

}  // namespace tessera::detail
