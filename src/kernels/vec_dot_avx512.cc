// AVX-512 VNNI integer dot products (built with AVX-512 F/BW/VL/VNNI flags;
// dispatched only when cpu_features().level is kAvx512).
//
// Each kernel produces the same int32 lane sums as its AVX2 twin and then the
// same float operations in the same order, so the two paths agree bit for bit
// (tests check that) and both stay in llama.cpp's float order:
//  - Q4_0 / Q5_0 / Q8_0: one vpdpbusd per block replaces maddubs + madd (the
//    lane i sum over bytes 4i..4i+3 is the same integer).
//  - Q4_K / Q6_K: a 256-weight super-block is four 64-byte registers; maddubs
//    then vpdpwssd with per-lane scales folds the scale multiply into the
//    accumulate. Q6_K's 16 lanes are folded to the AVX2 kernel's 8 at the end.
// g++ 12's AVX-512 headers build "undefined" registers as self-initialised
// variables and then warn about them when inlined (GCC bug 105593, fixed in
// 13); the warnings are about the headers, not this code.
#pragma GCC diagnostic ignored "-Wuninitialized"
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"

#include <immintrin.h>

#include <cmath>
#include <cstring>

#include "kernels/vec_dot_impl.h"
#include "quant/blocks.h"
#include "quant/half.h"

namespace tessera::avx512 {

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
  return _mm256_maskz_mov_epi8(static_cast<__mmask32>(bits), _mm256_set1_epi8(0x10));
}

// Q4_0 / Q5_0 / Q8_0 against Q8_0 activations, NT activation rows at once
// (each weight block decoded once); decode(block) gives 32 signed weights.
// vpdpbusd wants an unsigned left operand: use |w| and move w's sign onto x.
template <int NT, typename Block, typename Decode>
void dot_q8_family(const uint8_t* wr, const uint8_t* xr, int64_t x_stride, int64_t n, float* out,
                   Decode decode) {
  const auto* w = reinterpret_cast<const Block*>(wr);
  __m256 acc[NT];
  for (int t = 0; t < NT; ++t) acc[t] = _mm256_setzero_ps();
  const __m256i zero = _mm256_setzero_si256();
  for (int64_t b = 0; b < n / kQK; ++b) {
    const __m256i q = decode(w[b]);
    const __mmask32 negative = _mm256_movepi8_mask(q);
    const __m256i q_abs = _mm256_abs_epi8(q);
    const float dw = half_to_float(w[b].d);
    for (int t = 0; t < NT; ++t) {
      const auto* x = reinterpret_cast<const BlockQ8_0*>(xr + t * x_stride) + b;
      const __m256i a = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(x->qs));
      const __m256i a_signed = _mm256_mask_sub_epi8(a, negative, zero, a);
      const __m256i p32 = _mm256_dpbusd_epi32(zero, q_abs, a_signed);
      const __m256 d = _mm256_set1_ps(dw * half_to_float(x->d));
      acc[t] = _mm256_fmadd_ps(d, _mm256_cvtepi32_ps(p32), acc[t]);
    }
  }
  for (int t = 0; t < NT; ++t) out[t] = hsum(acc[t]);
}

// A tile of 4 weight rows x 4 activation rows (the prefill shape), with the
// same int32 lanes and float operations as dot_q8_family, so every output
// equals the single-row kernel's bit for bit. vpdpbusd multiplies unsigned by
// signed bytes; instead of moving signs per pair, each kernel folds a bias
// into the accumulator's start value, prepared once per block and shared by
// the four rows or the four tokens:
//  - Q4_0 / Q5_0 weights are stored unsigned (u = w + offset):
//    Σ w·a = Σ u·a - offset·Σ a, the second term per activation block;
//  - Q8_0 weights are signed, so the activations are biased instead
//    (a + 128 is a ^ 0x80): Σ w·a = Σ (a + 128)·w - 128·Σ w, per weight block.
template <typename Block, typename Prepare, typename Bias, typename Multiply>
void tile_4x4(const uint8_t* wr, int64_t w_stride, const uint8_t* xr, int64_t x_stride, int64_t n, float* out,
              Prepare prepare, Bias bias, Multiply multiply) {
  __m256 acc[4][4];
  for (auto& row : acc) {
    for (auto& a : row) a = _mm256_setzero_ps();
  }
  for (int64_t b = 0; b < n / kQK; ++b) {
    __m256i wq[4], w_bias[4];
    __m256 dw[4];
    for (int r = 0; r < 4; ++r) {
      const Block& blk = reinterpret_cast<const Block*>(wr + r * w_stride)[b];
      wq[r] = prepare(blk);
      w_bias[r] = bias.weight(wq[r]);
      dw[r] = _mm256_set1_ps(half_to_float(blk.d));
    }
    for (int t = 0; t < 4; ++t) {
      const auto& xb = reinterpret_cast<const BlockQ8_0*>(xr + t * x_stride)[b];
      const __m256i a_raw = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(xb.qs));
      const __m256i a = bias.activation(a_raw);
      const __m256i a_bias = bias.activation_bias(a_raw);
      const __m256 dx = _mm256_set1_ps(half_to_float(xb.d));
      for (int r = 0; r < 4; ++r) {
        const __m256i p = multiply(_mm256_add_epi32(w_bias[r], a_bias), wq[r], a);
        acc[r][t] = _mm256_fmadd_ps(_mm256_mul_ps(dw[r], dx), _mm256_cvtepi32_ps(p), acc[r][t]);
      }
    }
  }
  for (int r = 0; r < 4; ++r) {
    for (int t = 0; t < 4; ++t) out[4 * r + t] = hsum(acc[r][t]);
  }
}

// Unsigned weights with a fixed offset (Q4_0: 8, Q5_0: 16).
template <int kOffset>
struct OffsetWeightBias {
  __m256i weight(__m256i) const { return _mm256_setzero_si256(); }
  __m256i activation(__m256i a) const { return a; }
  __m256i activation_bias(__m256i a) const {
    const __m256i zero = _mm256_setzero_si256();
    return _mm256_sub_epi32(zero, _mm256_dpbusd_epi32(zero, _mm256_set1_epi8(kOffset), a));
  }
};

// Signed weights, activations biased by 128.
struct BiasedActivation {
  __m256i weight(__m256i w) const {
    const __m256i zero = _mm256_setzero_si256();
    return _mm256_sub_epi32(zero, _mm256_dpbusd_epi32(zero, _mm256_set1_epi8(static_cast<char>(0x80)), w));
  }
  __m256i activation(__m256i a) const { return _mm256_xor_si256(a, _mm256_set1_epi8(static_cast<char>(0x80))); }
  __m256i activation_bias(__m256i) const { return _mm256_setzero_si256(); }
};

const auto kDecodeQ4_0 = [](const BlockQ4_0& b) {
  return _mm256_sub_epi8(unpack_nibbles(b.qs), _mm256_set1_epi8(8));
};
const auto kDecodeQ5_0 = [](const BlockQ5_0& b) {
  return _mm256_sub_epi8(_mm256_or_si256(unpack_nibbles(b.qs), expand_bits(b.qh)), _mm256_set1_epi8(16));
};
const auto kDecodeQ8_0 = [](const BlockQ8_0& b) {
  return _mm256_loadu_si256(reinterpret_cast<const __m256i*>(b.qs));
};
const auto kUnsignedQ4_0 = [](const BlockQ4_0& b) { return unpack_nibbles(b.qs); };
const auto kUnsignedQ5_0 = [](const BlockQ5_0& b) {
  return _mm256_or_si256(unpack_nibbles(b.qs), expand_bits(b.qh));
};
// vpdpbusd(acc, unsigned, signed): the weights are the unsigned operand for
// Q4_0 / Q5_0, the biased activations for Q8_0.
const auto kWeightsUnsigned = [](__m256i acc, __m256i w, __m256i a) { return _mm256_dpbusd_epi32(acc, w, a); };
const auto kActivationsUnsigned = [](__m256i acc, __m256i w, __m256i a) { return _mm256_dpbusd_epi32(acc, a, w); };

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

inline __m512i join(__m256i lo, __m256i hi) {
  return _mm512_inserti64x4(_mm512_zextsi256_si512(lo), hi, 1);
}

// The eight 6-bit scales and eight 6-bit mins of a Q4_K / Q5_K block as 16
// bytes (scales in 0..7, mins in 8..15), unpacked with word-wide masks: the
// layout (see q4k_scale_min) keeps j < 4 in the low 6 bits of bytes j / j+4
// and splits j >= 4 between the nibbles of byte j+4 and the top bits of j-4 / j.
inline __m128i unpack_q4k_scales(const uint8_t* packed) {
  uint32_t u[3];
  std::memcpy(u, packed, 12);
  const uint32_t low6 = 0x3F3F3F3F, low4 = 0x0F0F0F0F, top2 = 0x03030303;
  const uint32_t scales_lo = u[0] & low6;
  const uint32_t mins_lo = u[1] & low6;
  const uint32_t scales_hi = (u[2] & low4) | (((u[0] >> 6) & top2) << 4);
  const uint32_t mins_hi = ((u[2] >> 4) & low4) | (((u[1] >> 6) & top2) << 4);
  return _mm_setr_epi32(static_cast<int>(scales_lo), static_cast<int>(scales_hi), static_cast<int>(mins_lo),
                        static_cast<int>(mins_hi));
}

// Both horizontal sums of two int32 vectors at once.
inline void hsum2_i32(__m256i a, __m256i b, int* sa, int* sb) {
  const __m128i a4 = _mm_add_epi32(_mm256_castsi256_si128(a), _mm256_extracti128_si256(a, 1));
  const __m128i b4 = _mm_add_epi32(_mm256_castsi256_si128(b), _mm256_extracti128_si256(b, 1));
  const __m128i h = _mm_hadd_epi32(a4, b4);  // a0+a1, a2+a3, b0+b1, b2+b3
  const __m128i h2 = _mm_hadd_epi32(h, h);   // a, b, a, b
  *sa = _mm_cvtsi128_si32(h2);
  *sb = _mm_extract_epi32(h2, 1);
}

// Sums the eight int32 lanes of each 256-bit half of four registers:
// register c's low half belongs to sub-block 2c, its high half to 2c+1. The
// result holds the sub-block sums in the order 0, 2, 4, 6, 1, 3, 5, 7.
inline __m256i sub_block_sums(__m512i z0, __m512i z1, __m512i z2, __m512i z3) {
  // Within each 128-bit lane: [z0, z1, z2, z3] lane sums.
  const __m512i s01 = _mm512_add_epi32(_mm512_unpacklo_epi32(z0, z1), _mm512_unpackhi_epi32(z0, z1));
  const __m512i s23 = _mm512_add_epi32(_mm512_unpacklo_epi32(z2, z3), _mm512_unpackhi_epi32(z2, z3));
  const __m512i s = _mm512_add_epi32(_mm512_unpacklo_epi64(s01, s23), _mm512_unpackhi_epi64(s01, s23));
  // 128-bit lanes 0+1 form the low halves' sums, 2+3 the high halves'.
  const __m512i even = _mm512_shuffle_i64x2(s, s, _MM_SHUFFLE(2, 0, 2, 0));
  const __m512i odd = _mm512_shuffle_i64x2(s, s, _MM_SHUFFLE(3, 1, 3, 1));
  return _mm512_castsi512_si256(_mm512_add_epi32(even, odd));
}

// Q4_K against Q8_K. Register c holds weights 64c..64c+63: the low nibbles of
// qs[32c..32c+31] then their high nibbles (sub-blocks 2c and 2c+1), so the
// activations load contiguously. vpdpbusd (unsigned 4-bit x signed 8-bit)
// gives per-lane sums; they are reduced per sub-block and scaled with one
// 32-bit multiply — half the multiplies of scaling every product pair.
// Q4_K float order (llama.cpp repacks Q4_K on x86 into q4_K_8x8 and
// multiplies with its own kernels). kBlocks: its gemv (used for the n % 4
// tokens left over, and for decode) — one fma per block for the scales and
// one for the mins. kPairs: its gemm (groups of four tokens) — one fma per
// 64-weight pair of sub-blocks, four per block, for each of the two sums.
enum class Q4kOrder { kBlocks, kPairs };

template <int NT, Q4kOrder kOrder = Q4kOrder::kBlocks>
void q4_k_n(const uint8_t* wr, const uint8_t* xr, int64_t x_stride, int64_t n, float* out) {
  const auto* w = reinterpret_cast<const BlockQ4_K*>(wr);
  float sum[NT] = {}, sum_mins[NT] = {};
  // kPairs with four tokens: lane t of the vectors is token t.
  __m128 sum4 = _mm_setzero_ps(), sum_mins4 = _mm_setzero_ps();
  const __m512i low_mask = _mm512_set1_epi8(0x0F);
  // Scales in sub_block_sums' order, and each bsums[g]'s min (sub-block g/2):
  // bytes of unpack_q4k_scales are scales 0..7 then mins 0..7.
  const __m128i scale_order = _mm_setr_epi8(0, 2, 4, 6, 1, 3, 5, 7, -1, -1, -1, -1, -1, -1, -1, -1);
  const __m128i min_order = _mm_setr_epi8(8, 8, 9, 9, 10, 10, 11, 11, 12, 12, 13, 13, 14, 14, 15, 15);
  for (int64_t b = 0; b < n / kQKK; ++b) {
    const __m128i scales_mins = unpack_q4k_scales(w[b].scales);
    const __m256i scales32 = _mm256_cvtepu8_epi32(_mm_shuffle_epi8(scales_mins, scale_order));
    const __m256i mins16 = _mm256_cvtepu8_epi16(_mm_shuffle_epi8(scales_mins, min_order));
    __m512i q[4];
    for (int c = 0; c < 4; ++c) {
      const __m256i raw = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(w[b].qs + 32 * c));
      q[c] = _mm512_and_si512(join(raw, _mm256_srli_epi16(raw, 4)), low_mask);
    }
    const float dw = half_to_float(w[b].d);
    const float dmin = half_to_float(w[b].dmin);
    // kPairs: per token, the four pair sums (scales, then mins) as floats.
    __m128 pair_sums[NT], pair_mins[NT];
    for (int t = 0; t < NT; ++t) {
      const auto* x = reinterpret_cast<const BlockQ8_K*>(xr + t * x_stride) + b;
      const __m256i bsums = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(x->bsums));
      __m512i p[4];
      for (int c = 0; c < 4; ++c) {
        p[c] = _mm512_dpbusd_epi32(_mm512_setzero_si512(), q[c], _mm512_loadu_si512(x->qs + 64 * c));
      }
      const __m256i scaled = _mm256_mullo_epi32(sub_block_sums(p[0], p[1], p[2], p[3]), scales32);
      const __m256i min_products = _mm256_madd_epi16(bsums, mins16);  // lane k: min k x its 32 sums
      if constexpr (kOrder == Q4kOrder::kBlocks) {
        int sumi, summ;
        hsum2_i32(scaled, min_products, &sumi, &summ);
        sum[t] = std::fma(static_cast<float>(sumi), dw * x->d, sum[t]);
        sum_mins[t] = std::fma(static_cast<float>(summ), dmin * x->d, sum_mins[t]);
      } else {
        // scaled holds sub-blocks 0, 2, 4, 6, 1, 3, 5, 7: adding its halves gives
        // pairs 0..3; min_products holds sub-blocks 0..7: pairwise sums.
        pair_sums[t] = _mm_cvtepi32_ps(_mm_add_epi32(_mm256_castsi256_si128(scaled), _mm256_extracti128_si256(scaled, 1)));
        pair_mins[t] = _mm_cvtepi32_ps(
            _mm_hadd_epi32(_mm256_castsi256_si128(min_products), _mm256_extracti128_si256(min_products, 1)));
      }
    }
    if constexpr (kOrder == Q4kOrder::kPairs) {
      if constexpr (NT == 4) {
        // Transposed, vector p holds pair p of the four tokens: the four fmas
        // per block run on all tokens at once (each lane as the scalar order).
        _MM_TRANSPOSE4_PS(pair_sums[0], pair_sums[1], pair_sums[2], pair_sums[3]);
        _MM_TRANSPOSE4_PS(pair_mins[0], pair_mins[1], pair_mins[2], pair_mins[3]);
        const __m128 x_d = _mm_setr_ps(reinterpret_cast<const BlockQ8_K*>(xr)[b].d,
                                       reinterpret_cast<const BlockQ8_K*>(xr + x_stride)[b].d,
                                       reinterpret_cast<const BlockQ8_K*>(xr + 2 * x_stride)[b].d,
                                       reinterpret_cast<const BlockQ8_K*>(xr + 3 * x_stride)[b].d);
        const __m128 d = _mm_mul_ps(_mm_set1_ps(dw), x_d);
        const __m128 m = _mm_mul_ps(_mm_set1_ps(dmin), x_d);
        for (int pair = 0; pair < 4; ++pair) {
          sum4 = _mm_fmadd_ps(pair_sums[pair], d, sum4);
          sum_mins4 = _mm_fmadd_ps(pair_mins[pair], m, sum_mins4);
        }
      } else {
        for (int t = 0; t < NT; ++t) {
          const float x_d = reinterpret_cast<const BlockQ8_K*>(xr + t * x_stride)[b].d;
          alignas(16) float sums[4], mins[4];
          _mm_store_ps(sums, pair_sums[t]);
          _mm_store_ps(mins, pair_mins[t]);
          for (int pair = 0; pair < 4; ++pair) {
            sum[t] = std::fma(sums[pair], dw * x_d, sum[t]);
            sum_mins[t] = std::fma(mins[pair], dmin * x_d, sum_mins[t]);
          }
        }
      }
    }
  }
  if constexpr (kOrder == Q4kOrder::kPairs && NT == 4) {
    _mm_storeu_ps(out, _mm_sub_ps(sum4, sum_mins4));
  } else {
    for (int t = 0; t < NT; ++t) out[t] = sum[t] - sum_mins[t];
  }
}

// Q6_K against Q8_K. Register c holds weights 64c..64c+63 as unsigned 0..63
// (the -32 offset is applied through the activation block sums), and int16
// lane k of its product belongs to scale group 4c + k/8.
// Q6_K float order. kLanes: ggml's vec_dot (eight float lanes, each an fma of
// the block's lane sum, summed at the end). kBlocks: ggml's tiled K-quant
// matmul (ggml-cpu/tiled, taken from 8 tokens per batch on): the block's whole
// integer sum times the weight scale, then one fma with the activation scale
// into a single float accumulator, block after block.
enum class Q6kOrder { kLanes, kBlocks };

template <int NT, Q6kOrder kOrder = Q6kOrder::kLanes>
void q6_k_n(const uint8_t* wr, const uint8_t* xr, int64_t x_stride, int64_t n, float* out) {
  const auto* w = reinterpret_cast<const BlockQ6_K*>(wr);
  __m256 acc_f[NT];
  float acc_block[NT];
  __m128 acc_block4 = _mm_setzero_ps();  // kBlocks with four tokens: lane t is token t
  for (int t = 0; t < NT; ++t) {
    acc_f[t] = _mm256_setzero_ps();
    acc_block[t] = 0.0f;
  }
  const __m512i m4 = _mm512_set1_epi8(0x0F);
  const __m512i m2 = _mm512_set1_epi8(0x03);
  // Lane k of register c picks scale 4c + k/8.
  __m512i scale_index[4];
  for (int c = 0; c < 4; ++c) {
    alignas(64) int16_t idx[32];
    for (int k = 0; k < 32; ++k) idx[k] = static_cast<int16_t>(4 * c + k / 8);
    scale_index[c] = _mm512_load_si512(idx);
  }
  for (int64_t b = 0; b < n / kQKK; ++b) {
    __m512i q[4], scale[4];
    const __m256i scales16 = _mm256_cvtepi8_epi16(_mm_loadu_si128(reinterpret_cast<const __m128i*>(w[b].scales)));
    for (int half = 0; half < 2; ++half) {
      const __m512i l = _mm512_loadu_si512(w[b].ql + 64 * half);
      const __m256i h256 = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(w[b].qh + 32 * half));
      // Low half: qh bits 0-1 for weights 0..31, bits 2-3 for 32..63; high half: bits 4-5, 6-7.
      const __m512i h = join(h256, _mm256_srli_epi16(h256, 2));
      const __m512i h_lo = _mm512_slli_epi16(_mm512_and_si512(h, m2), 4);
      const __m512i h_hi = _mm512_slli_epi16(_mm512_and_si512(_mm512_srli_epi16(h, 4), m2), 4);
      q[2 * half] = _mm512_or_si512(_mm512_and_si512(l, m4), h_lo);
      q[2 * half + 1] = _mm512_or_si512(_mm512_and_si512(_mm512_srli_epi16(l, 4), m4), h_hi);
    }
    for (int c = 0; c < 4; ++c) scale[c] = _mm512_permutexvar_epi16(scale_index[c], _mm512_zextsi256_si512(scales16));
    const float dw = half_to_float(w[b].d);
    __m256i block_lanes[NT];  // kBlocks: each token's eight lane sums of the block
    for (int t = 0; t < NT; ++t) {
      const auto* x = reinterpret_cast<const BlockQ8_K*>(xr + t * x_stride) + b;
      // Σ (q - 32) * a = Σ q * a - 32 * Σ a, the correction formed per lane from the 16-element sums.
      const __m256i bsums = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(x->bsums));
      const __m256i correction = _mm256_slli_epi32(_mm256_madd_epi16(bsums, scales16), 5);
      __m512i acc = _mm512_setzero_si512();
      for (int c = 0; c < 4; ++c) {
        const __m512i a = _mm512_loadu_si512(x->qs + 64 * c);
        acc = _mm512_dpwssd_epi32(acc, _mm512_maddubs_epi16(q[c], a), scale[c]);
      }
      // Lane i + 8 covers the same offsets as lane i, 32 weights later: fold to
      // the AVX2 kernel's eight lanes.
      const __m256i acc8 = _mm256_add_epi32(_mm512_castsi512_si256(acc), _mm512_extracti64x4_epi64(acc, 1));
      if constexpr (kOrder == Q6kOrder::kLanes) {
        const __m256 d = _mm256_set1_ps(x->d * dw);
        acc_f[t] = _mm256_fmadd_ps(d, _mm256_cvtepi32_ps(_mm256_sub_epi32(acc8, correction)), acc_f[t]);
      } else {
        block_lanes[t] = _mm256_sub_epi32(acc8, correction);
      }
    }
    if constexpr (kOrder == Q6kOrder::kBlocks) {
      if constexpr (NT == 4) {
        const __m128 x_d = _mm_setr_ps(reinterpret_cast<const BlockQ8_K*>(xr)[b].d,
                                       reinterpret_cast<const BlockQ8_K*>(xr + x_stride)[b].d,
                                       reinterpret_cast<const BlockQ8_K*>(xr + 2 * x_stride)[b].d,
                                       reinterpret_cast<const BlockQ8_K*>(xr + 3 * x_stride)[b].d);
        // Integer sums are exact in any order: lane t of sums is token t's.
        const __m256i h = _mm256_hadd_epi32(_mm256_hadd_epi32(block_lanes[0], block_lanes[1]),
                                            _mm256_hadd_epi32(block_lanes[2], block_lanes[3]));
        const __m128i sums = _mm_add_epi32(_mm256_castsi256_si128(h), _mm256_extracti128_si256(h, 1));
        const __m128 scaled = _mm_mul_ps(_mm_cvtepi32_ps(sums), _mm_set1_ps(dw));
        acc_block4 = _mm_fmadd_ps(scaled, x_d, acc_block4);
      } else {
        for (int t = 0; t < NT; ++t) {
          const float x_d = reinterpret_cast<const BlockQ8_K*>(xr + t * x_stride)[b].d;
          acc_block[t] = std::fma(static_cast<float>(hsum_i32(block_lanes[t])) * dw, x_d, acc_block[t]);
        }
      }
    }
  }
  if constexpr (kOrder == Q6kOrder::kBlocks && NT == 4) {
    _mm_storeu_ps(out, acc_block4);
  } else {
    for (int t = 0; t < NT; ++t) out[t] = kOrder == Q6kOrder::kLanes ? hsum(acc_f[t]) : acc_block[t];
  }
}

template <void (*F)(const uint8_t*, const uint8_t*, int64_t, int64_t, float*)>
float single(const uint8_t* w, const uint8_t* x, int64_t n) {
  float out;
  F(w, x, 0, n, &out);
  return out;
}

// Float types: four 16-lane accumulators; load(i) gives weights and
// activations i..i+15 as floats.
template <typename Load>
float dot_float(int64_t n, Load load) {
  __m512 acc[4] = {_mm512_setzero_ps(), _mm512_setzero_ps(), _mm512_setzero_ps(), _mm512_setzero_ps()};
  int64_t i = 0;
  for (; i + 64 <= n; i += 64) {
    for (int k = 0; k < 4; ++k) {
      __m512 wv, xv;
      load(i + 16 * k, &wv, &xv);
      acc[k] = _mm512_fmadd_ps(wv, xv, acc[k]);
    }
  }
  for (; i + 16 <= n; i += 16) {
    __m512 wv, xv;
    load(i, &wv, &xv);
    acc[0] = _mm512_fmadd_ps(wv, xv, acc[0]);
  }
  return _mm512_reduce_add_ps(_mm512_add_ps(_mm512_add_ps(acc[0], acc[1]), _mm512_add_ps(acc[2], acc[3])));
}

}  // namespace

float dot_q4_0(const uint8_t* w, const uint8_t* x, int64_t n) { return single<q4_0_n<1>>(w, x, n); }
float dot_q5_0(const uint8_t* w, const uint8_t* x, int64_t n) { return single<q5_0_n<1>>(w, x, n); }
float dot_q8_0(const uint8_t* w, const uint8_t* x, int64_t n) { return single<q8_0_n<1>>(w, x, n); }
float dot_q4_k(const uint8_t* w, const uint8_t* x, int64_t n) { return single<q4_k_n<1>>(w, x, n); }
float dot_q6_k(const uint8_t* w, const uint8_t* x, int64_t n) { return single<q6_k_n<1>>(w, x, n); }
float dot_q4_k_pairs(const uint8_t* w, const uint8_t* x, int64_t n) {
  return single<q4_k_n<1, Q4kOrder::kPairs>>(w, x, n);
}
float dot_q6_k_blocks(const uint8_t* w, const uint8_t* x, int64_t n) {
  return single<q6_k_n<1, Q6kOrder::kBlocks>>(w, x, n);
}

void dot4_q4_0(const uint8_t* w, const uint8_t* x, int64_t s, int64_t n, float* o) { q4_0_n<4>(w, x, s, n, o); }
void dot4_q5_0(const uint8_t* w, const uint8_t* x, int64_t s, int64_t n, float* o) { q5_0_n<4>(w, x, s, n, o); }
void dot4_q8_0(const uint8_t* w, const uint8_t* x, int64_t s, int64_t n, float* o) { q8_0_n<4>(w, x, s, n, o); }
void dot4_q4_k(const uint8_t* w, const uint8_t* x, int64_t s, int64_t n, float* o) { q4_k_n<4>(w, x, s, n, o); }
void dot4_q6_k(const uint8_t* w, const uint8_t* x, int64_t s, int64_t n, float* o) { q6_k_n<4>(w, x, s, n, o); }
void dot4_q4_k_pairs(const uint8_t* w, const uint8_t* x, int64_t s, int64_t n, float* o) {
  q4_k_n<4, Q4kOrder::kPairs>(w, x, s, n, o);
}
void dot4_q6_k_blocks(const uint8_t* w, const uint8_t* x, int64_t s, int64_t n, float* o) {
  q6_k_n<4, Q6kOrder::kBlocks>(w, x, s, n, o);
}

void dot4x4_q4_0(const uint8_t* w, int64_t ws, const uint8_t* x, int64_t xs, int64_t n, float* o) {
  tile_4x4<BlockQ4_0>(w, ws, x, xs, n, o, kUnsignedQ4_0, OffsetWeightBias<8>{}, kWeightsUnsigned);
}
void dot4x4_q5_0(const uint8_t* w, int64_t ws, const uint8_t* x, int64_t xs, int64_t n, float* o) {
  tile_4x4<BlockQ5_0>(w, ws, x, xs, n, o, kUnsignedQ5_0, OffsetWeightBias<16>{}, kWeightsUnsigned);
}
void dot4x4_q8_0(const uint8_t* w, int64_t ws, const uint8_t* x, int64_t xs, int64_t n, float* o) {
  tile_4x4<BlockQ8_0>(w, ws, x, xs, n, o, kDecodeQ8_0, BiasedActivation{}, kActivationsUnsigned);
}

float dot_f32(const uint8_t* wr, const uint8_t* xr, int64_t n) {
  const auto* w = reinterpret_cast<const float*>(wr);
  const auto* x = reinterpret_cast<const float*>(xr);
  float sum = dot_float(n, [&](int64_t i, __m512* wv, __m512* xv) {
    *wv = _mm512_loadu_ps(w + i);
    *xv = _mm512_loadu_ps(x + i);
  });
  for (int64_t i = n / 16 * 16; i < n; ++i) sum += w[i] * x[i];
  return sum;
}

float dot_f16(const uint8_t* wr, const uint8_t* xr, int64_t n) {
  const auto* w = reinterpret_cast<const uint16_t*>(wr);
  const auto* x = reinterpret_cast<const uint16_t*>(xr);
  float sum = dot_float(n, [&](int64_t i, __m512* wv, __m512* xv) {
    *wv = _mm512_cvtph_ps(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(w + i)));
    *xv = _mm512_cvtph_ps(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(x + i)));
  });
  for (int64_t i = n / 16 * 16; i < n; ++i) sum += half_to_float(w[i]) * half_to_float(x[i]);
  return sum;
}

float dot_bf16(const uint8_t* wr, const uint8_t* xr, int64_t n) {
  const auto* w = reinterpret_cast<const uint16_t*>(wr);
  const auto* x = reinterpret_cast<const uint16_t*>(xr);
  auto widen = [](const uint16_t* p) {
    const __m512i v = _mm512_cvtepu16_epi32(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(p)));
    return _mm512_castsi512_ps(_mm512_slli_epi32(v, 16));
  };
  float sum = dot_float(n, [&](int64_t i, __m512* wv, __m512* xv) {
    *wv = widen(w + i);
    *xv = widen(x + i);
  });
  for (int64_t i = n / 16 * 16; i < n; ++i) sum += bfloat_to_float(w[i]) * bfloat_to_float(x[i]);
  return sum;
}

}  // namespace tessera::avx512
