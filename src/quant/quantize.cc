#include "quant/quantize.h"

#include <immintrin.h>

#include <algorithm>
#include <cmath>
#include <cstring>

#include "quant/blocks.h"
#include "quant/half.h"

namespace tessera {

namespace {

// AVX2 (the baseline ISA) throughout: these run once per token and matrix,
// and in scalar code they took 1.4 (Q8_0) and 3.0 (Q8_K) µs per 2048
// inputs -- as long as a 2048-column Q4_K GEMV row group of a whole layer's
// worth of decode time on one token (about 2 % of a 1.1B decode step).
// Every lane computes what the scalar rule computes (same products, same
// round-half-to-even through the default MXCSR mode, maxima are exact), so
// the results are bit for bit the scalar rule's for finite inputs
// (tests/unit/kernels/quantize_test.cc holds them to it).

inline __m256 abs_ps(__m256 v) { return _mm256_andnot_ps(_mm256_set1_ps(-0.0f), v); }

inline float hmax(__m256 v) {
  __m128 m = _mm_max_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
  m = _mm_max_ps(m, _mm_movehl_ps(m, m));
  m = _mm_max_ss(m, _mm_movehdup_ps(m));
  return _mm_cvtss_f32(m);
}

// max |x[j]| over n (a multiple of 8) floats. A NaN input is skipped, as in
// `amax = max(amax, |x|)` written with the running maximum second.
inline float abs_max(const float* x, int n) {
  __m256 m = _mm256_setzero_ps();
  for (int j = 0; j < n; j += 8) m = _mm256_max_ps(abs_ps(_mm256_loadu_ps(x + j)), m);
  return hmax(m);
}

// Rounds x[0..32) * scale half to even and narrows to 32 bytes in order
// (saturating: the products lie within ±127 for finite inputs).
inline __m256i round_32(const float* x, __m256 scale) {
  __m256i v[4];
  for (int k = 0; k < 4; ++k) v[k] = _mm256_cvtps_epi32(_mm256_mul_ps(_mm256_loadu_ps(x + 8 * k), scale));
  // packs interleave 128-bit lanes: a0-3 b0-3 a4-7 b4-7, then the bytes of
  // (ab, cd) as ab.lo cd.lo ab.hi cd.hi; the permute restores x's order.
  const __m256i packed = _mm256_packs_epi16(_mm256_packs_epi32(v[0], v[1]), _mm256_packs_epi32(v[2], v[3]));
  return _mm256_permutevar8x32_epi32(packed, _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7));
}

// Sums of the low and high 16 bytes of q (signed).
inline void sums_of_16(__m256i q, int* low, int* high) {
  const __m256i pairs = _mm256_maddubs_epi16(_mm256_set1_epi8(1), q);  // 1·q[2i] + 1·q[2i+1], exact
  __m256i quads = _mm256_madd_epi16(pairs, _mm256_set1_epi16(1));
  quads = _mm256_hadd_epi32(quads, quads);
  quads = _mm256_hadd_epi32(quads, quads);
  *low = _mm256_extract_epi32(quads, 0);
  *high = _mm256_extract_epi32(quads, 4);
}

// Shared by Q8_0 and Q8_1: quantizes one block of 32, returns d and sum(qs).
// Rule: d = amax / 127, q = x · (127 / amax) rounded half to even, as
// ggml's AVX2 quantize_row_q8_0 / q8_1 do; |x · id| <= 127, no clamping.
inline float quantize_block_32(const float* x, int8_t* qs, int* sum) {
  const float amax = abs_max(x, kQK);
  const float id = amax != 0.0f ? 127.0f / amax : 0.0f;
  const __m256i q = round_32(x, _mm256_set1_ps(id));
  _mm256_storeu_si256(reinterpret_cast<__m256i*>(qs), q);
  int low, high;
  sums_of_16(q, &low, &high);
  *sum = low + high;
  return amax / 127.0f;
}

}  // namespace

void quantize_row_q8_0(const float* x, uint8_t* out, int64_t n) {
  auto* y = reinterpret_cast<BlockQ8_0*>(out);
  for (int64_t b = 0; b < n / kQK; ++b) {
    int sum;
    y[b].d = float_to_half(quantize_block_32(x + b * kQK, y[b].qs, &sum));
  }
}

void quantize_row_q8_1(const float* x, uint8_t* out, int64_t n) {
  auto* y = reinterpret_cast<BlockQ8_1*>(out);
  for (int64_t b = 0; b < n / kQK; ++b) {
    int sum;
    const float d = quantize_block_32(x + b * kQK, y[b].qs, &sum);
    y[b].d = float_to_half(d);
    y[b].s = float_to_half(d * static_cast<float>(sum));
  }
}

// ggml's reference rule: max = the first x[j] of largest |x[j]| (its sign
// kept), iscale = -127 / max (so max itself maps to exactly -127), q =
// min(127, round_half_even(iscale · x)), d = 1 / iscale, bsums per 16.
void quantize_row_q8_k(const float* x, uint8_t* out, int64_t n) {
  auto* y = reinterpret_cast<BlockQ8_K*>(out);
  for (int64_t b = 0; b < n / kQKK; ++b, x += kQKK) {
    const float amax = abs_max(x, kQKK);
    if (amax == 0.0f) {
      std::memset(&y[b], 0, sizeof(BlockQ8_K));
      continue;
    }
    // The first j with |x[j]| == amax is the one a strict `>` scan keeps.
    float max = amax;
    const __m256 target = _mm256_set1_ps(amax);
    for (int j = 0; j < kQKK; j += 8) {
      const int hits = _mm256_movemask_ps(_mm256_cmp_ps(abs_ps(_mm256_loadu_ps(x + j)), target, _CMP_EQ_OQ));
      if (hits != 0) {
        max = x[j + __builtin_ctz(static_cast<unsigned>(hits))];
        break;
      }
    }
    const float iscale = -127.0f / max;
    const __m256 scale = _mm256_set1_ps(iscale);
    for (int j = 0; j < kQKK; j += 32) {
      const __m256i q = round_32(x + j, scale);
      _mm256_storeu_si256(reinterpret_cast<__m256i*>(y[b].qs + j), q);
      int low, high;
      sums_of_16(q, &low, &high);
      y[b].bsums[j / 16] = static_cast<int16_t>(low);
      y[b].bsums[j / 16 + 1] = static_cast<int16_t>(high);
    }
    y[b].d = 1.0f / iscale;
  }
}

void quantize_row_f16(const float* x, uint8_t* out, int64_t n) {
  auto* y = reinterpret_cast<uint16_t*>(out);
  int64_t i = 0;
  for (; i + 8 <= n; i += 8) {
    _mm_storeu_si128(reinterpret_cast<__m128i*>(y + i),
                     _mm256_cvtps_ph(_mm256_loadu_ps(x + i), _MM_FROUND_TO_NEAREST_INT));
  }
  for (; i < n; ++i) y[i] = float_to_half(x[i]);
}

void quantize_row_bf16(const float* x, uint8_t* out, int64_t n) {
  auto* y = reinterpret_cast<uint16_t*>(out);
  for (int64_t i = 0; i < n; ++i) y[i] = float_to_bfloat(x[i]);
}

void quantize_row_f32(const float* x, uint8_t* out, int64_t n) {
  std::memcpy(out, x, static_cast<size_t>(n) * sizeof(float));
}

}  // namespace tessera
