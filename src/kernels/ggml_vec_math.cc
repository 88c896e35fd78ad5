#include "kernels/ggml_vec_math.h"

#include <immintrin.h>

#include <bit>
#include <cmath>

#include "kernels/cpu_features.h"
#include "kernels/ggml_vec_math_impl.h"

namespace tessera {

using namespace detail;

namespace {

// ggml_v_expf, AVX2 form, eight lanes (see ggml_expf_lane_avx2 for one lane).
__m256 expf8(__m256 x) {
  const __m256 z = _mm256_fmadd_ps(x, _mm256_set1_ps(kExpLog2e), _mm256_set1_ps(kExpRound));
  const __m256 n = _mm256_sub_ps(z, _mm256_set1_ps(kExpRound));
  const __m256 b = _mm256_fnmadd_ps(n, _mm256_set1_ps(kExpLn2Lo),
                                    _mm256_fnmadd_ps(n, _mm256_set1_ps(kExpLn2Hi), x));
  const __m256i e = _mm256_slli_epi32(_mm256_castps_si256(z), 23);
  const __m256 k = _mm256_castsi256_ps(_mm256_add_epi32(e, _mm256_castps_si256(_mm256_set1_ps(1.0f))));
  const __m256 abs_n = _mm256_andnot_ps(_mm256_set1_ps(-0.0f), n);
  const __m256 big = _mm256_cmp_ps(abs_n, _mm256_set1_ps(126.0f), _CMP_GT_OQ);
  const __m256 u = _mm256_mul_ps(b, b);
  const __m256 j = _mm256_fmadd_ps(
      _mm256_fmadd_ps(_mm256_fmadd_ps(_mm256_set1_ps(kExpP5), b, _mm256_set1_ps(kExpP4)), u,
                      _mm256_fmadd_ps(_mm256_set1_ps(kExpP3), b, _mm256_set1_ps(kExpP2))),
      u, _mm256_mul_ps(_mm256_set1_ps(kExpP1), b));
  const __m256 normal = _mm256_fmadd_ps(k, j, k);
  if (_mm256_movemask_ps(big) == 0) return normal;
  // |n| > 126: 2^n is not a normal float; split it as s1 * s2.
  const __m256i g = _mm256_and_si256(_mm256_castps_si256(_mm256_cmp_ps(n, _mm256_setzero_ps(), _CMP_LE_OQ)),
                                     _mm256_set1_epi32(static_cast<int>(0x82000000u)));
  const __m256 s1 = _mm256_castsi256_ps(_mm256_add_epi32(g, _mm256_set1_epi32(0x7f000000)));
  const __m256 s2 = _mm256_castsi256_ps(_mm256_sub_epi32(e, g));
  const __m256 huge = _mm256_cmp_ps(abs_n, _mm256_set1_ps(192.0f), _CMP_GT_OQ);
  const __m256 split = _mm256_mul_ps(_mm256_fmadd_ps(s2, j, s2), s1);
  const __m256 mid = _mm256_blendv_ps(normal, split, big);
  return _mm256_blendv_ps(mid, _mm256_mul_ps(s1, s1), huge);
}

float hsum8(__m256 v) {
  alignas(32) float lanes[8];
  _mm256_store_ps(lanes, v);
  return ggml_hsum(lanes, 8);
}

}  // namespace

int ggml_lanes() { return cpu_features().level == IsaLevel::kAvx512 ? 16 : 8; }

float ggml_hsum(const float* v, int lanes) {
  float eight[8];
  for (int i = 0; i < 8; ++i) eight[i] = lanes == 16 ? v[i + 8] + v[i] : v[i];
  float four[4];
  for (int i = 0; i < 4; ++i) four[i] = eight[i + 4] + eight[i];
  return (four[0] + four[2]) + (four[1] + four[3]);
}

float ggml_expf_lane_avx512(float x) {
  const float z = std::fma(x, kExpLog2e, kExpRound);
  const float n = z - kExpRound;
  const float b = std::fma(-n, kExpLn2Lo, std::fma(-n, kExpLn2Hi, x));
  const float u = b * b;
  const float p = std::fma(std::fma(std::fma(kExpP5, b, kExpP4), u, std::fma(kExpP3, b, kExpP2)), u,
                           std::fma(kExpP1, b, 1.0f));
  if (std::fabs(n) > 192.0f) return n <= 0.0f ? 0.0f : INFINITY;
  return std::ldexp(p, static_cast<int>(n));  // exact scaling, as vscalefps
}

float ggml_expf_lane_avx2(float x) {
  const float z = std::fma(x, kExpLog2e, kExpRound);
  const float n = z - kExpRound;
  const float b = std::fma(-n, kExpLn2Lo, std::fma(-n, kExpLn2Hi, x));
  const uint32_t e = std::bit_cast<uint32_t>(z) << 23;
  const float k = std::bit_cast<float>(e + std::bit_cast<uint32_t>(1.0f));
  const float u = b * b;
  const float j = std::fma(std::fma(std::fma(kExpP5, b, kExpP4), u, std::fma(kExpP3, b, kExpP2)), u, kExpP1 * b);
  if (!(std::fabs(n) > 126.0f)) return std::fma(k, j, k);
  const uint32_t g = n <= 0.0f ? 0x82000000u : 0u;
  const float s1 = std::bit_cast<float>(g + 0x7f000000u);
  const float s2 = std::bit_cast<float>(e - g);
  if (std::fabs(n) > 192.0f) return s1 * s1;
  return std::fma(s2, j, s2) * s1;
}

float ggml_dot_f16(const float* x, const uint16_t* y, int64_t n, int lanes) {
  // Sixteen lanes are two eight-float registers side by side: lane i % 16
  // sees the same products in the same order either way.
  __m256 lo = _mm256_setzero_ps();
  __m256 hi = _mm256_setzero_ps();
  const auto load_f16 = [](const uint16_t* p) {
    return _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(p)));
  };
  if (lanes == 16) {
    for (int64_t i = 0; i < n; i += 16) {
      lo = _mm256_fmadd_ps(_mm256_loadu_ps(x + i), load_f16(y + i), lo);
      hi = _mm256_fmadd_ps(_mm256_loadu_ps(x + i + 8), load_f16(y + i + 8), hi);
    }
  } else {
    for (int64_t i = 0; i < n; i += 8) lo = _mm256_fmadd_ps(_mm256_loadu_ps(x + i), load_f16(y + i), lo);
  }
  alignas(32) float acc[16];
  _mm256_store_ps(acc, lo);
  _mm256_store_ps(acc + 8, hi);
  return ggml_hsum(acc, lanes);
}

double ggml_softmax_exp(const float* x, float* y, int64_t n, float max) {
  int64_t i = 0;
  double sum = 0.0;
  if (ggml_lanes() == 16) {
    i = n - n % 16;
    sum = detail::ggml_softmax_exp_avx512(x, y, i, max);
  } else {
    const __m256 m = _mm256_set1_ps(max);
    for (; i + 8 <= n; i += 8) {
      const __m256 v = expf8(_mm256_sub_ps(_mm256_loadu_ps(x + i), m));
      _mm256_storeu_ps(y + i, v);
      sum += static_cast<double>(hsum8(v));
    }
  }
  for (; i < n; ++i) {
    const float v = std::exp(x[i] - max);
    sum += static_cast<double>(v);
    y[i] = v;
  }
  return sum;
}

void ggml_swiglu(const float* gate, const float* up, float* out, int64_t n) {
  int64_t i = 0;
  if (ggml_lanes() == 16) {
    i = n - n % 16;
    detail::ggml_swiglu_avx512(gate, up, out, i);
  } else {
    const __m256 one = _mm256_set1_ps(1.0f);
    for (; i + 8 <= n; i += 8) {
      const __m256 g = _mm256_loadu_ps(gate + i);
      const __m256 silu = _mm256_div_ps(g, _mm256_add_ps(one, expf8(_mm256_sub_ps(_mm256_setzero_ps(), g))));
      _mm256_storeu_ps(out + i, _mm256_mul_ps(silu, _mm256_loadu_ps(up + i)));
    }
  }
  for (; i < n; ++i) out[i] = gate[i] / (1.0f + std::exp(-gate[i])) * up[i];
}

}  // namespace tessera
