// AVX2 integer dot products. Signed int8 x int8 products use the usual trick:
// maddubs needs an unsigned left operand, so take |w| and move w's sign onto x.
#include <immintrin.h>

#include <cmath>
#include <cstring>

#include "kernels/vec_dot_impl.h"
#include "quant/blocks.h"
#include "quant/half.h"

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

// Every kernel is written for NT activation rows at once: the weight block is
// decoded once and reused for each row, while each row's float accumulation
// keeps exactly the order of the single-row kernel (NT = 1), so batching
// tokens never changes a result bit.

// Q4_0 / Q5_0 / Q8_0 against Q8_0 activations. decode(block) gives the 32
// signed weights of a block as int8.
template <int NT, typename Block, typename Decode>
void dot_q8_family(const uint8_t* wr, const uint8_t* xr, int64_t x_stride, int64_t n, float* out,
                   Decode decode) {
  const auto* w = reinterpret_cast<const Block*>(wr);
  __m256 acc[NT];
  for (int t = 0; t < NT; ++t) acc[t] = _mm256_setzero_ps();
  for (int64_t b = 0; b < n / kQK; ++b) {
    const __m256i q = decode(w[b]);
    const __m256i q_abs = _mm256_sign_epi8(q, q);
    const float dw = half_to_float(w[b].d);
    for (int t = 0; t < NT; ++t) {
      const auto* x = reinterpret_cast<const BlockQ8_0*>(xr + t * x_stride) + b;
      const __m256i a = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(x->qs));
      const __m256i p16 = _mm256_maddubs_epi16(q_abs, _mm256_sign_epi8(a, q));
      const __m256i p32 = _mm256_madd_epi16(p16, _mm256_set1_epi16(1));
      const __m256 d = _mm256_set1_ps(dw * half_to_float(x->d));
      acc[t] = _mm256_fmadd_ps(d, _mm256_cvtepi32_ps(p32), acc[t]);
    }
  }
  for (int t = 0; t < NT; ++t) out[t] = hsum(acc[t]);
}

const auto kDecodeQ4_0 = [](const BlockQ4_0& b) {
  return _mm256_sub_epi8(unpack_nibbles(b.qs), _mm256_set1_epi8(8));
};
const auto kDecodeQ5_0 = [](const BlockQ5_0& b) {
  return _mm256_sub_epi8(_mm256_or_si256(unpack_nibbles(b.qs), expand_bits(b.qh)), _mm256_set1_epi8(16));
};
const auto kDecodeQ8_0 = [](const BlockQ8_0& b) {
  return _mm256_loadu_si256(reinterpret_cast<const __m256i*>(b.qs));
};

template <int NT>
void q4_0_n(const uint8_t* w, const uint8_t* x, int64_t stride, int64_t n, float* out) {
  dot_q8_family<NT, BlockQ4_0>(w, x, stride, n, out, kDecodeQ4_0);
}

template <int NT>
void q5_0_n(const uint8_t* w, const uint8_t* x, int64_t stride, int64_t n, float* out) {
  dot_q8_family<NT, BlockQ5_0>(w, x, stride, n, out, kDecodeQ5_0);
}

template <int NT>
void q8_0_n(const uint8_t* w, const uint8_t* x, int64_t stride, int64_t n, float* out) {
  dot_q8_family<NT, BlockQ8_0>(w, x, stride, n, out, kDecodeQ8_0);
}

// Q4_K against Q8_K. Float order as llama.cpp's x86 Q4_K kernel: per
// super-block fma(sum, d_w * d_x) and fma(mins, dmin_w * d_x), subtracted at the end.
// kPairs: the float order of ggml's x86 q4_K_8x8 gemm (the repacked kernel
// llama.cpp uses for the first n - n % 4 tokens of a batch): one fma per pair
// of sub-blocks (2c, 2c + 1) instead of one per super-block, for the scaled
// sums and the mins alike.
template <int NT, bool kPairs = false>
void q4_k_n(const uint8_t* wr, const uint8_t* xr, int64_t x_stride, int64_t n, float* out) {
  const auto* w = reinterpret_cast<const BlockQ4_K*>(wr);
  float sum[NT] = {}, sum_mins[NT] = {};
  const __m256i low_mask = _mm256_set1_epi8(0x0F);
  for (int64_t b = 0; b < n / kQKK; ++b) {
    uint8_t sc[8], mn[8];
    for (int j = 0; j < 8; ++j) q4k_scale_min(j, w[b].scales, &sc[j], &mn[j]);
    // Weights are unsigned 0..15, so maddubs applies directly.
    __m256i lo[4], hi[4];
    for (int c = 0; c < 4; ++c) {
      const __m256i raw = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(w[b].qs + 32 * c));
      lo[c] = _mm256_and_si256(raw, low_mask);
      hi[c] = _mm256_and_si256(_mm256_srli_epi16(raw, 4), low_mask);
    }
    const float dw = half_to_float(w[b].d);
    const float dmin = half_to_float(w[b].dmin);
    for (int t = 0; t < NT; ++t) {
      const auto* x = reinterpret_cast<const BlockQ8_K*>(xr + t * x_stride) + b;
      int min_pairs[4];
      for (int c = 0; c < 4; ++c) {
        min_pairs[c] = mn[2 * c] * (x->bsums[4 * c] + x->bsums[4 * c + 1]) +
                       mn[2 * c + 1] * (x->bsums[4 * c + 2] + x->bsums[4 * c + 3]);
      }
      __m256i acc = _mm256_setzero_si256();
      int pairs[4];
      for (int c = 0; c < 4; ++c) {
        const __m256i a0 = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(x->qs + 64 * c));
        const __m256i a1 = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(x->qs + 64 * c + 32));
        const __m256i p0 = _mm256_madd_epi16(_mm256_maddubs_epi16(lo[c], a0), _mm256_set1_epi16(sc[2 * c]));
        const __m256i p1 = _mm256_madd_epi16(_mm256_maddubs_epi16(hi[c], a1), _mm256_set1_epi16(sc[2 * c + 1]));
        if constexpr (kPairs) {
          pairs[c] = hsum_i32(_mm256_add_epi32(p0, p1));
        } else {
          acc = _mm256_add_epi32(acc, _mm256_add_epi32(p0, p1));
        }
      }
      if constexpr (kPairs) {
        for (int c = 0; c < 4; ++c) {
          sum[t] = std::fma(static_cast<float>(pairs[c]), dw * x->d, sum[t]);
          sum_mins[t] = std::fma(static_cast<float>(min_pairs[c]), dmin * x->d, sum_mins[t]);
        }
      } else {
        const int summ = min_pairs[0] + min_pairs[1] + min_pairs[2] + min_pairs[3];
        sum[t] = std::fma(static_cast<float>(hsum_i32(acc)), dw * x->d, sum[t]);
        sum_mins[t] = std::fma(static_cast<float>(summ), dmin * x->d, sum_mins[t]);
      }
    }
  }
  for (int t = 0; t < NT; ++t) out[t] = sum[t] - sum_mins[t];
}

// Q6_K against Q8_K: eight int32 lanes per super-block, converted and
// accumulated per lane in float, summed at the end (llama.cpp's x86 order).
// kBlocks: the float order of ggml's tiled K-quant matmul (taken from 8
// tokens per batch on, in AVX2 builds too): the block's integer sum, then
// acc = fma(float(sum) * d_w, d_x, acc).
template <int NT, bool kBlocks = false>
void q6_k_n(const uint8_t* wr, const uint8_t* xr, int64_t x_stride, int64_t n, float* out) {
  const auto* w = reinterpret_cast<const BlockQ6_K*>(wr);
  __m256 acc_f[NT];
  float acc_block[NT] = {};
  for (int t = 0; t < NT; ++t) acc_f[t] = _mm256_setzero_ps();
  const __m256i m4 = _mm256_set1_epi8(0x0F);
  const __m256i m2 = _mm256_set1_epi8(0x03);
  for (int64_t b = 0; b < n / kQKK; ++b) {
    // Unsigned 6-bit weights (0..63) of the 8 chunks of 32, and their scales:
    // lanes 0..7 of a product come from elements 0..15 of the chunk, 8..15 from 16..31.
    __m256i q[8], scale[8];
    for (int half = 0; half < 2; ++half) {
      const uint8_t* ql = w[b].ql + 64 * half;
      const __m256i l0 = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(ql));
      const __m256i l1 = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(ql + 32));
      const __m256i h = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(w[b].qh + 32 * half));
      auto high = [&](int shift) { return _mm256_slli_epi16(_mm256_and_si256(_mm256_srli_epi16(h, shift), m2), 4); };
      q[4 * half + 0] = _mm256_or_si256(_mm256_and_si256(l0, m4), high(0));
      q[4 * half + 1] = _mm256_or_si256(_mm256_and_si256(l1, m4), high(2));
      q[4 * half + 2] = _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(l0, 4), m4), high(4));
      q[4 * half + 3] = _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(l1, 4), m4), high(6));
      for (int k = 0; k < 4; ++k) {
        const int8_t* sc = w[b].scales + 8 * half + 2 * k;
        scale[4 * half + k] = _mm256_set_m128i(_mm_set1_epi16(sc[1]), _mm_set1_epi16(sc[0]));
      }
    }
    const __m256i scales16 = _mm256_cvtepi8_epi16(_mm_loadu_si128(reinterpret_cast<const __m128i*>(w[b].scales)));
    const float dw = half_to_float(w[b].d);
    for (int t = 0; t < NT; ++t) {
      const auto* x = reinterpret_cast<const BlockQ8_K*>(xr + t * x_stride) + b;
      // Σ (q - 32) * a = Σ q * a - 32 * Σ a, the correction formed per lane from the 16-element sums.
      const __m256i bsums = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(x->bsums));
      const __m256i correction = _mm256_slli_epi32(_mm256_madd_epi16(bsums, scales16), 5);
      __m256i acc = _mm256_setzero_si256();
      for (int c = 0; c < 8; ++c) {
        const __m256i av = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(x->qs + 32 * c));
        acc = _mm256_add_epi32(acc, _mm256_madd_epi16(_mm256_maddubs_epi16(q[c], av), scale[c]));
      }
      if constexpr (kBlocks) {
        const float block = static_cast<float>(hsum_i32(_mm256_sub_epi32(acc, correction))) * dw;
        acc_block[t] = std::fma(block, x->d, acc_block[t]);
      } else {
        const __m256 d = _mm256_set1_ps(x->d * dw);
        acc_f[t] = _mm256_fmadd_ps(d, _mm256_cvtepi32_ps(_mm256_sub_epi32(acc, correction)), acc_f[t]);
      }
    }
  }
  for (int t = 0; t < NT; ++t) out[t] = kBlocks ? acc_block[t] : hsum(acc_f[t]);
}

// Q5_K against Q8_K. Float order as llama.cpp's x86 Q5_K kernel (AVX2; its
// AVX-512 builds use it too): eight int32 lanes per super-block, lane k =
// Σ over sub-blocks s of sc_s · Σ q·x over elements [4k, 4k + 4) of s;
// acc_k = fma(d_x·d_w, float(lane k), acc_k); the mins in a scalar
// summs = fma(-(d_x·dmin_w), float(Σ_s m_s (bsum_2s + bsum_2s+1)), summs);
// the result hsum(acc) + summs.
// kBlocks: the float order of ggml's tiled K-quant matmul (from 8 tokens per
// batch on): the block's integer sums s1 = Σ_s sc_s Σ q·x, s2 = Σ_s m_s bsum_s,
// then acc = fma(fma(-dmin_w, float(s2), float(s1)·d_w), d_x, acc).
template <int NT, bool kBlocks = false>
void q5_k_n(const uint8_t* wr, const uint8_t* xr, int64_t x_stride, int64_t n, float* out) {
  const auto* w = reinterpret_cast<const BlockQ5_K*>(wr);
  __m256 acc_f[NT];
  float summs[NT] = {}, acc_block[NT] = {};
  for (int t = 0; t < NT; ++t) acc_f[t] = _mm256_setzero_ps();
  const __m256i low_mask = _mm256_set1_epi8(0x0F);
  const __m256i bit0 = _mm256_set1_epi8(0x01);
  for (int64_t b = 0; b < n / kQKK; ++b) {
    uint8_t sc[8], mn[8];
    for (int j = 0; j < 8; ++j) q4k_scale_min(j, w[b].scales, &sc[j], &mn[j]);
    // Unsigned 5-bit weights (0..31) of the 8 sub-blocks of 32: the nibbles
    // of qs (low: sub-block 2c, high: 2c + 1), the fifth bit is bit s of qh.
    const __m256i hbits = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(w[b].qh));
    __m256i q[8];
    for (int c = 0; c < 4; ++c) {
      const __m256i raw = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(w[b].qs + 32 * c));
      const __m256i nibbles[2] = {_mm256_and_si256(raw, low_mask),
                                  _mm256_and_si256(_mm256_srli_epi16(raw, 4), low_mask)};
      for (int h = 0; h < 2; ++h) {
        const int s = 2 * c + h;
        const __m256i fifth = _mm256_slli_epi16(_mm256_and_si256(_mm256_srli_epi16(hbits, s), bit0), 4);
        q[s] = _mm256_or_si256(nibbles[h], fifth);
      }
    }
    const float dw = half_to_float(w[b].d);
    const float dmin_w = half_to_float(w[b].dmin);
    for (int t = 0; t < NT; ++t) {
      const auto* x = reinterpret_cast<const BlockQ8_K*>(xr + t * x_stride) + b;
      int summ = 0;
      for (int s = 0; s < 8; ++s) summ += mn[s] * (x->bsums[2 * s] + x->bsums[2 * s + 1]);
      // q <= 31: a maddubs pair is at most 2·31·128 = 7936.
      __m256i sumi = _mm256_setzero_si256();
      for (int s = 0; s < 8; ++s) {
        const __m256i a = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(x->qs + 32 * s));
        sumi = _mm256_add_epi32(sumi, _mm256_madd_epi16(_mm256_set1_epi16(sc[s]), _mm256_maddubs_epi16(q[s], a)));
      }
      if constexpr (kBlocks) {
        const float scaled = std::fma(-dmin_w, static_cast<float>(summ), static_cast<float>(hsum_i32(sumi)) * dw);
        acc_block[t] = std::fma(scaled, x->d, acc_block[t]);
      } else {
        summs[t] = std::fma(-(x->d * dmin_w), static_cast<float>(summ), summs[t]);
        acc_f[t] = _mm256_fmadd_ps(_mm256_set1_ps(x->d * dw), _mm256_cvtepi32_ps(sumi), acc_f[t]);
      }
    }
  }
  for (int t = 0; t < NT; ++t) out[t] = kBlocks ? acc_block[t] : hsum(acc_f[t]) + summs[t];
}

// Float types: four independent 8-lane accumulators hide the FMA latency.
template <typename Load>
float dot_float(int64_t n, Load load) {
  __m256 acc[4] = {_mm256_setzero_ps(), _mm256_setzero_ps(), _mm256_setzero_ps(), _mm256_setzero_ps()};
  int64_t i = 0;
  for (; i + 32 <= n; i += 32) {
    for (int k = 0; k < 4; ++k) {
      __m256 w, x;
      load(i + 8 * k, &w, &x);
      acc[k] = _mm256_fmadd_ps(w, x, acc[k]);
    }
  }
  for (; i + 8 <= n; i += 8) {
    __m256 w, x;
    load(i, &w, &x);
    acc[0] = _mm256_fmadd_ps(w, x, acc[0]);
  }
  float sum = hsum(_mm256_add_ps(_mm256_add_ps(acc[0], acc[1]), _mm256_add_ps(acc[2], acc[3])));
  return sum;
}

template <void (*F)(const uint8_t*, const uint8_t*, int64_t, int64_t, float*)>
float single(const uint8_t* w, const uint8_t* x, int64_t n) {
  float out;
  F(w, x, 0, n, &out);
  return out;
}

}  // namespace

float dot_q4_0(const uint8_t* w, const uint8_t* x, int64_t n) { return single<q4_0_n<1>>(w, x, n); }
float dot_q5_0(const uint8_t* w, const uint8_t* x, int64_t n) { return single<q5_0_n<1>>(w, x, n); }
float dot_q8_0(const uint8_t* w, const uint8_t* x, int64_t n) { return single<q8_0_n<1>>(w, x, n); }
float dot_q4_k(const uint8_t* w, const uint8_t* x, int64_t n) { return single<q4_k_n<1>>(w, x, n); }
float dot_q6_k(const uint8_t* w, const uint8_t* x, int64_t n) { return single<q6_k_n<1>>(w, x, n); }
float dot_q4_k_pairs(const uint8_t* w, const uint8_t* x, int64_t n) { return single<q4_k_n<1, true>>(w, x, n); }
float dot_q6_k_blocks(const uint8_t* w, const uint8_t* x, int64_t n) { return single<q6_k_n<1, true>>(w, x, n); }
float dot_q5_k(const uint8_t* w, const uint8_t* x, int64_t n) { return single<q5_k_n<1>>(w, x, n); }
float dot_q5_k_blocks(const uint8_t* w, const uint8_t* x, int64_t n) { return single<q5_k_n<1, true>>(w, x, n); }

float dot_f32(const uint8_t* wr, const uint8_t* xr, int64_t n) {
  const auto* w = reinterpret_cast<const float*>(wr);
  const auto* x = reinterpret_cast<const float*>(xr);
  float sum = dot_float(n, [&](int64_t i, __m256* wv, __m256* xv) {
    *wv = _mm256_loadu_ps(w + i);
    *xv = _mm256_loadu_ps(x + i);
  });
  for (int64_t i = n / 8 * 8; i < n; ++i) sum += w[i] * x[i];
  return sum;
}

float dot_f16(const uint8_t* wr, const uint8_t* xr, int64_t n) {
  const auto* w = reinterpret_cast<const uint16_t*>(wr);
  const auto* x = reinterpret_cast<const uint16_t*>(xr);
  float sum = dot_float(n, [&](int64_t i, __m256* wv, __m256* xv) {
    *wv = _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(w + i)));
    *xv = _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(x + i)));
  });
  for (int64_t i = n / 8 * 8; i < n; ++i) sum += half_to_float(w[i]) * half_to_float(x[i]);
  return sum;
}

float dot_bf16(const uint8_t* wr, const uint8_t* xr, int64_t n) {
  const auto* w = reinterpret_cast<const uint16_t*>(wr);
  const auto* x = reinterpret_cast<const uint16_t*>(xr);
  auto widen = [](const uint16_t* p) {
    const __m256i v = _mm256_cvtepu16_epi32(_mm_loadu_si128(reinterpret_cast<const __m128i*>(p)));
    return _mm256_castsi256_ps(_mm256_slli_epi32(v, 16));
  };
  float sum = dot_float(n, [&](int64_t i, __m256* wv, __m256* xv) {
    *wv = widen(w + i);
    *xv = widen(x + i);
  });
  for (int64_t i = n / 8 * 8; i < n; ++i) sum += bfloat_to_float(w[i]) * bfloat_to_float(x[i]);
  return sum;
}

void dot4_q4_0(const uint8_t* w, const uint8_t* x, int64_t s, int64_t n, float* o) { q4_0_n<4>(w, x, s, n, o); }
void dot4_q5_0(const uint8_t* w, const uint8_t* x, int64_t s, int64_t n, float* o) { q5_0_n<4>(w, x, s, n, o); }
void dot4_q8_0(const uint8_t* w, const uint8_t* x, int64_t s, int64_t n, float* o) { q8_0_n<4>(w, x, s, n, o); }
void dot4_q4_k(const uint8_t* w, const uint8_t* x, int64_t s, int64_t n, float* o) { q4_k_n<4>(w, x, s, n, o); }
void dot4_q6_k(const uint8_t* w, const uint8_t* x, int64_t s, int64_t n, float* o) { q6_k_n<4>(w, x, s, n, o); }
void dot4_q4_k_pairs(const uint8_t* w, const uint8_t* x, int64_t s, int64_t n, float* o) {
  q4_k_n<4, true>(w, x, s, n, o);
}
void dot4_q6_k_blocks(const uint8_t* w, const uint8_t* x, int64_t s, int64_t n, float* o) {
  q6_k_n<4, true>(w, x, s, n, o);
}
void dot4_q5_k(const uint8_t* w, const uint8_t* x, int64_t s, int64_t n, float* o) { q5_k_n<4>(w, x, s, n, o); }
void dot4_q5_k_blocks(const uint8_t* w, const uint8_t* x, int64_t s, int64_t n, float* o) {
  q5_k_n<4, true>(w, x, s, n, o);
}

}  // namespace tessera::avx2
