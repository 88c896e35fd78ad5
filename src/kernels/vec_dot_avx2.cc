// AVX2 integer dot products. Signed int8 x int8 products use the usual trick:
// maddubs needs an unsigned left operand, so take |w| and move w's sign onto x.
#include <immintrin.h>

#include <cmath>
#include <cstring>

#include "kernels/vec_dot_impl.h"
#include "quant/blocks.h"
#include "quant/dequantize.h"

namespace tessera::avx2 {

namespace {

inline float hsum(__m256 v) {
  __m128 lo = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
  lo = _mm_add_ps(lo, _mm_movehl_ps(lo, lo));
  lo = _mm_add_ss(lo, _mm_movehdup_ps(lo));
  return _mm_cvtss_f32(lo);
}

inline int hsum_i32(__m256i v) {
  __m128i s = _mm_add_epi32(_mm256_castsi256_si128(v), _mm256_extracti128_si256(v, 1));
  s = _mm_add_epi32(s, _mm_shuffle_epi32(s, 0x4E));
  s = _mm_add_epi32(s, _mm_shuffle_epi32(s, 0xB1));
  return _mm_cvtsi128_si32(s);
}

// 8 int32 partial sums of w·x for 32 signed int8 pairs.
inline __m256i dot_i8(__m256i w, __m256i x) {
  const __m256i p16 = _mm256_maddubs_epi16(_mm256_sign_epi8(w, w), _mm256_sign_epi8(x, w));
  return _mm256_madd_epi16(p16, _mm256_set1_epi16(1));
}

// 32 nibbles of 16 bytes: low nibbles in bytes 0..15, high nibbles in 16..31.
inline __m256i unpack_nibbles(const uint8_t* q) {
  const __m128i raw = _mm_loadu_si128(reinterpret_cast<const __m128i*>(q));
  const __m256i both = _mm256_set_m128i(_mm_srli_epi16(raw, 4), raw);
  return _mm256_and_si256(both, _mm256_set1_epi8(0x0F));
}

// The 32 high bits of Q5_0 as bytes 0x10 / 0x00.
inline __m256i expand_bits(const uint8_t* qh) {
  uint32_t bits;
  std::memcpy(&bits, qh, 4);
  const __m256i shuffle = _mm256_set_epi64x(0x0303030303030303, 0x0202020202020202,
                                            0x0101010101010101, 0x0000000000000000);
  __m256i v = _mm256_shuffle_epi8(_mm256_set1_epi32(static_cast<int>(bits)), shuffle);
  const __m256i bit_mask = _mm256_set1_epi64x(static_cast<int64_t>(0x8040201008040201ULL));
  v = _mm256_and_si256(v, bit_mask);
  v = _mm256_cmpeq_epi8(v, bit_mask);
  return _mm256_and_si256(v, _mm256_set1_epi8(0x10));
}

}  // namespace

float dot_q4_0(const uint8_t* wr, const uint8_t* xr, int64_t n) {
  const auto* w = reinterpret_cast<const BlockQ4_0*>(wr);
  const auto* x = reinterpret_cast<const BlockQ8_0*>(xr);
  __m256 acc = _mm256_setzero_ps();
  for (int64_t b = 0; b < n / kQK; ++b) {
    const __m256i q = _mm256_sub_epi8(unpack_nibbles(w[b].qs), _mm256_set1_epi8(8));
    const __m256i a = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(x[b].qs));
    const __m256 d = _mm256_set1_ps(fp16_to_fp32(w[b].d) * fp16_to_fp32(x[b].d));
    acc = _mm256_fmadd_ps(d, _mm256_cvtepi32_ps(dot_i8(q, a)), acc);
  }
  return hsum(acc);
}

float dot_q5_0(const uint8_t* wr, const uint8_t* xr, int64_t n) {
  const auto* w = reinterpret_cast<const BlockQ5_0*>(wr);
  const auto* x = reinterpret_cast<const BlockQ8_0*>(xr);
  __m256 acc = _mm256_setzero_ps();
  for (int64_t b = 0; b < n / kQK; ++b) {
    __m256i q = _mm256_or_si256(unpack_nibbles(w[b].qs), expand_bits(w[b].qh));
    q = _mm256_sub_epi8(q, _mm256_set1_epi8(16));
    const __m256i a = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(x[b].qs));
    const __m256 d = _mm256_set1_ps(fp16_to_fp32(w[b].d) * fp16_to_fp32(x[b].d));
    acc = _mm256_fmadd_ps(d, _mm256_cvtepi32_ps(dot_i8(q, a)), acc);
  }
  return hsum(acc);
}

float dot_q8_0(const uint8_t* wr, const uint8_t* xr, int64_t n) {
  const auto* w = reinterpret_cast<const BlockQ8_0*>(wr);
  const auto* x = reinterpret_cast<const BlockQ8_0*>(xr);
  __m256 acc = _mm256_setzero_ps();
  for (int64_t b = 0; b < n / kQK; ++b) {
    const __m256i q = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(w[b].qs));
    const __m256i a = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(x[b].qs));
    const __m256 d = _mm256_set1_ps(fp16_to_fp32(w[b].d) * fp16_to_fp32(x[b].d));
    acc = _mm256_fmadd_ps(d, _mm256_cvtepi32_ps(dot_i8(q, a)), acc);
  }
  return hsum(acc);
}

float dot_q4_k(const uint8_t* wr, const uint8_t* xr, int64_t n) {
  const auto* w = reinterpret_cast<const BlockQ4_K*>(wr);
  const auto* x = reinterpret_cast<const BlockQ8_K*>(xr);
  // Float accumulation order as llama.cpp's x86 Q4_K kernel: per super-block
  // fma(sum, d_w * d_x) and fma(mins, dmin_w * d_x), subtracted at the end.
  float sum = 0.0f, sum_mins = 0.0f;
  const __m256i low_mask = _mm256_set1_epi8(0x0F);
  for (int64_t b = 0; b < n / kQKK; ++b) {
    uint8_t sc[8], mn[8];
    for (int j = 0; j < 8; ++j) q4k_scale_min(j, w[b].scales, &sc[j], &mn[j]);
    int summ = 0;
    for (int j = 0; j < 8; ++j) summ += mn[j] * (x[b].bsums[2 * j] + x[b].bsums[2 * j + 1]);
    __m256i acc = _mm256_setzero_si256();
    const uint8_t* q = w[b].qs;
    const int8_t* a = x[b].qs;
    for (int j = 0; j < 8; j += 2) {
      const __m256i raw = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(q));
      const __m256i lo = _mm256_and_si256(raw, low_mask);
      const __m256i hi = _mm256_and_si256(_mm256_srli_epi16(raw, 4), low_mask);
      const __m256i a0 = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(a));
      const __m256i a1 = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(a + 32));
      // Weights are unsigned 0..15, so maddubs applies directly.
      const __m256i p0 = _mm256_madd_epi16(_mm256_maddubs_epi16(lo, a0), _mm256_set1_epi16(sc[j]));
      const __m256i p1 = _mm256_madd_epi16(_mm256_maddubs_epi16(hi, a1), _mm256_set1_epi16(sc[j + 1]));
      acc = _mm256_add_epi32(acc, _mm256_add_epi32(p0, p1));
      q += 32;
      a += 64;
    }
    const int sumi = hsum_i32(acc);
    sum = std::fma(static_cast<float>(sumi), fp16_to_fp32(w[b].d) * x[b].d, sum);
    sum_mins = std::fma(static_cast<float>(summ), fp16_to_fp32(w[b].dmin) * x[b].d, sum_mins);
  }
  return sum - sum_mins;
}

float dot_q6_k(const uint8_t* wr, const uint8_t* xr, int64_t n) {
  const auto* w = reinterpret_cast<const BlockQ6_K*>(wr);
  const auto* x = reinterpret_cast<const BlockQ8_K*>(xr);
  // Eight int32 lanes per super-block, converted and accumulated per lane in
  // float, summed at the end: llama.cpp's x86 order, so results agree bit for bit.
  __m256 acc_f = _mm256_setzero_ps();
  const __m256i m4 = _mm256_set1_epi8(0x0F);
  const __m256i m2 = _mm256_set1_epi8(0x03);
  for (int64_t b = 0; b < n / kQKK; ++b) {
    const uint8_t* ql = w[b].ql;
    const uint8_t* qh = w[b].qh;
    const int8_t* a = x[b].qs;
    const int8_t* sc = w[b].scales;
    __m256i acc = _mm256_setzero_si256();
    // Σ (q - 32) * a = Σ q * a - 32 * Σ a, with q in 0..63 unsigned; the
    // correction is formed per lane from the 16-element sums.
    const __m256i bsums = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(x[b].bsums));
    const __m256i scales16 = _mm256_cvtepi8_epi16(_mm_loadu_si128(reinterpret_cast<const __m128i*>(sc)));
    const __m256i correction = _mm256_slli_epi32(_mm256_madd_epi16(bsums, scales16), 5);
    for (int half = 0; half < 2; ++half) {
      const __m256i l0 = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(ql));
      const __m256i l1 = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(ql + 32));
      const __m256i h = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(qh));
      const __m256i q0 = _mm256_or_si256(_mm256_and_si256(l0, m4), _mm256_slli_epi16(_mm256_and_si256(h, m2), 4));
      const __m256i q1 = _mm256_or_si256(_mm256_and_si256(l1, m4),
                                         _mm256_slli_epi16(_mm256_and_si256(_mm256_srli_epi16(h, 2), m2), 4));
      const __m256i q2 = _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(l0, 4), m4),
                                         _mm256_slli_epi16(_mm256_and_si256(_mm256_srli_epi16(h, 4), m2), 4));
      const __m256i q3 = _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(l1, 4), m4),
                                         _mm256_slli_epi16(_mm256_and_si256(_mm256_srli_epi16(h, 6), m2), 4));
      const __m256i qs[4] = {q0, q1, q2, q3};
      for (int k = 0; k < 4; ++k) {
        const __m256i av = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(a + 32 * k));
        const __m256i p16 = _mm256_maddubs_epi16(qs[k], av);
        // Lanes 0..7 come from elements 0..15 (scale 2k), lanes 8..15 from 16..31 (scale 2k+1).
        const __m256i scale = _mm256_set_m128i(_mm_set1_epi16(sc[2 * k + 1]), _mm_set1_epi16(sc[2 * k]));
        acc = _mm256_add_epi32(acc, _mm256_madd_epi16(p16, scale));
      }
      ql += 64;
      qh += 32;
      a += 128;
      sc += 8;
    }
    const __m256 d = _mm256_set1_ps(x[b].d * fp16_to_fp32(w[b].d));
    acc_f = _mm256_fmadd_ps(d, _mm256_cvtepi32_ps(_mm256_sub_epi32(acc, correction)), acc_f);
  }
  return hsum(acc_f);
}

}  // namespace tessera::avx2
