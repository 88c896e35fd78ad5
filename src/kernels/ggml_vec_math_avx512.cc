// AVX-512 halves of kernels/ggml_vec_math.cc (compiled with AVX-512 flags).
// g++ 12's AVX-512 headers warn about their own "undefined" registers when
// inlined (GCC bug 105593, as in vec_dot_avx512.cc).
#pragma GCC diagnostic ignored "-Wuninitialized"
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#include <immintrin.h>

#include <cmath>

#include "kernels/expf_avx512.h"
#include "kernels/ggml_vec_math.h"
#include "kernels/ggml_vec_math_impl.h"

namespace tessera::detail {

namespace {

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
