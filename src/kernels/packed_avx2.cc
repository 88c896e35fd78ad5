// AVX2 kernels over packed 16-row groups (layouts: packed_impl.h, float
// order: packed.h), for x86-64 CPUs without AVX-512 VNNI (AMD Zen 2/3, Intel
// client cores). A 64-byte lane register of the layout is two 256-bit halves:
// bytes 0..31 hold lane g of rows 0..7, bytes 32..63 of rows 8..15; each half
// is worked as its own 8-row register with its own accumulator.
//
// Integer dot products without VNNI: vpmaddubsw multiplies the unsigned weight
// bytes with the broadcast signed activation bytes and adds adjacent pairs into
// int16, and vpmaddwd turns the two int16 of a row's 32-bit lane into its int32
// sum (with ones, or with the row's scale where the type has sub-block scales,
// which folds the scale multiply into the same instruction). Every partial sum
// is bounded so that no int16 saturates (bounds at each use: activations are
// in [-128, 127]), so the integer sums are exact and equal the scalar
// reference's; the float work is the reference's, lane for lane.
#include <immintrin.h>

#include <algorithm>
#include <cstring>
#include <type_traits>

#include "kernels/packed.h"
#include "kernels/packed_impl.h"
#include "kernels/packed_walk.h"

namespace tessera::avx2 {

namespace {

using namespace packed;

inline __m256i load256(const uint8_t* p) { return _mm256_loadu_si256(reinterpret_cast<const __m256i*>(p)); }
inline __m256i broadcast4(const int8_t* p) { return _mm256_set1_epi32(load_i32(p)); }
inline __m256 load_f16x8(const uint8_t* p) {
  return _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(p)));
}
inline __m256i ones16() { return _mm256_set1_epi16(1); }

// (a & 0x0F) and ((a >> 4) & 0x0F).
inline void split_nibbles(__m256i a, __m256i& lo, __m256i& hi) {
  const __m256i low4 = _mm256_set1_epi8(0x0F);
  lo = _mm256_and_si256(a, low4);
  hi = _mm256_and_si256(_mm256_srli_epi16(a, 4), low4);
}

// Row i's u8 value v (one per 32-bit lane, v < 2^15) as the int16 pair (v, v),
// the vpmaddwd multiplier that scales both halves of a lane's pair sum.
inline __m256i pair_of(__m256i v32) { return _mm256_or_si256(v32, _mm256_slli_epi32(v32, 16)); }

// Eight lane registers (32 columns) of one half of a 4-bit block.
inline void unpack_nibbles8(const uint8_t* nib, int half, __m256i w[8]) {
  for (int k = 0; k < 4; ++k) split_nibbles(load256(nib + 64 * k + 32 * half), w[2 * k], w[2 * k + 1]);
}

// The 0x10 bit of 5-bit weights for lane register g of half `half`: bit
// 4i+m of high word g (row i, byte m of the lane; Q5_0's and Q5_K's words,
// packed_impl.h) spread one per byte.
inline __m256i q5_high_bits(const uint8_t* words, int g, int half) {
  const __m256i spread = _mm256_set_epi64x(0x0303030303030303, 0x0202020202020202, 0x0101010101010101, 0);
  const __m256i bit = _mm256_set1_epi64x(static_cast<int64_t>(0x8040201008040201ULL));
  const int32_t bits = load_i32(words + 8 * g + 4 * half);
  __m256i v = _mm256_shuffle_epi8(_mm256_set1_epi32(bits), spread);
  v = _mm256_cmpeq_epi8(_mm256_and_si256(v, bit), bit);
  return _mm256_and_si256(v, _mm256_set1_epi8(0x10));
}

// Half-outer legacy formats of 4- and 5-bit weights: the nibbles at kQuants,
// the fifth bits (kHigh) at kHighAt. kMins: weights d·u + m (Q4_1, Q5_1),
// no offset; the activations carry s = d·Σq.
template <int64_t kBlockBytes, int kOffsetValue, bool kMinsValue, bool kHigh, int64_t kQuants, int64_t kHighAt>
struct NibbleFormat {
  static constexpr int64_t kBlock = kBlockBytes;
  static constexpr int kOffset = kOffsetValue;
  static constexpr bool kMins = kMinsValue;
  struct Weights {
    __m256i w[8];
  };
  static void unpack(const uint8_t* blk, int half, Weights& w) {
    unpack_nibbles8(blk + kQuants, half, w.w);
    if constexpr (kHigh) {
      for (int g = 0; g < 8; ++g) w.w[g] = _mm256_or_si256(w.w[g], q5_high_bits(blk + kHighAt, g, half));
    }
  }
  // u < 32: a maddubs pair is at most 2·31·128 = 7936, four of them 31744.
  static __m256i dot(const Weights& w, const int8_t* x) {
    __m256i s[2];
    for (int h = 0; h < 2; ++h) {
      const __m256i* ww = w.w + 4 * h;
      const int8_t* xx = x + 16 * h;
      s[h] = _mm256_add_epi16(
          _mm256_add_epi16(_mm256_maddubs_epi16(ww[0], broadcast4(xx)), _mm256_maddubs_epi16(ww[1], broadcast4(xx + 4))),
          _mm256_add_epi16(_mm256_maddubs_epi16(ww[2], broadcast4(xx + 8)),
                           _mm256_maddubs_epi16(ww[3], broadcast4(xx + 12))));
    }
    return _mm256_add_epi32(_mm256_madd_epi16(s[0], ones16()), _mm256_madd_epi16(s[1], ones16()));
  }
};
using Q5_0Format = NibbleFormat<kQ5_0Block, kOffsetQ5_0, false, true, kLegacyQuants, kQ5_0High>;
using Q4_1Format = NibbleFormat<kQ4_1Block, 0, true, false, kLegacyMinQuants, 0>;
using Q5_1Format = NibbleFormat<kQ5_1Block, 0, true, true, kLegacyMinQuants, kQ5_1High>;

// Runs step(half, b, blk, acc) over the blocks of a group for both halves,
// where acc[t] is token t's accumulator of that half's 8 rows, then writes
// the rows out. One token (decode) walks the blocks once, both halves per
// block: the group streams from memory once. Several tokens walk each half
// over all blocks: only NT accumulators stay live (the weights of a half and
// 2·NT accumulators would not fit in 16 registers), and the second pass reads
// the group from cache.
// kStepPrefetches: the step prefetches its own block in slices (K types);
// otherwise a one-token walk prefetches each (small, legacy) block whole.
template <int NT, bool kStream, bool kStepPrefetches = false, typename Step>
void for_each_half_block(const uint8_t* group, int64_t n_blocks, int64_t block_bytes, float* y, int64_t y_stride,
                         int n_rows, PrefetchWindow next, Step step) {
  alignas(32) float out[NT][16];
  SpreadPrefetch next_lines(next, NT == 1 ? n_blocks : 2 * n_blocks);
  if constexpr (NT == 1) {
    __m256 acc[2][1] = {{_mm256_setzero_ps()}, {_mm256_setzero_ps()}};
    const uint8_t* blk = group;
    for (int64_t b = 0; b < n_blocks; ++b, blk += block_bytes) {
      if constexpr (kStream && !kStepPrefetches) prefetch_block(blk, block_bytes);
      if constexpr (!kStream) next_lines.step();
      step(0, b, blk, acc[0]);
      step(1, b, blk, acc[1]);
    }
    _mm256_store_ps(out[0], acc[0][0]);
    _mm256_store_ps(out[0] + 8, acc[1][0]);
  } else {
    for (int half = 0; half < 2; ++half) {
      __m256 acc[NT];
      for (int t = 0; t < NT; ++t) acc[t] = _mm256_setzero_ps();
      const uint8_t* blk = group;
      for (int64_t b = 0; b < n_blocks; ++b, blk += block_bytes) {
        if constexpr (kStream && !kStepPrefetches) {
          if (half == 0) prefetch_block(blk, block_bytes);
        }
        if constexpr (!kStream) next_lines.step();
        step(half, b, blk, acc);
      }
      for (int t = 0; t < NT; ++t) _mm256_store_ps(out[t] + 8 * half, acc[t]);
    }
  }
  for (int t = 0; t < NT; ++t) {
    for (int i = 0; i < n_rows; ++i) y[t * y_stride + i] = out[t][i];
  }
}

template <typename Format, int NT, bool kStream>
void legacy_tile(const uint8_t* group, int64_t cols, const uint8_t* xp, int64_t xp_stride, float* y,
                 int64_t y_stride, int n_rows, PrefetchWindow next) {
  // Rows of the prepared layout: LegacyRow's sums, or Legacy1Row's s (kMins).
  using Row = std::conditional_t<Format::kMins, Legacy1Row, LegacyRow>;
  Row x[NT];
  for (int t = 0; t < NT; ++t) {
    if constexpr (Format::kMins) {
      x[t] = legacy1_row(xp + t * xp_stride, cols);
    } else {
      x[t] = legacy_row(xp + t * xp_stride, cols);
    }
  }
  for_each_half_block<NT, kStream>(group, cols / 32, Format::kBlock, y, y_stride, n_rows, next,
                          [&](int half, int64_t b, const uint8_t* blk, __m256* acc) {
    typename Format::Weights w;
    Format::unpack(blk, half, w);
    const __m256 dw = load_f16x8(blk + 16 * half);
    for (int t = 0; t < NT; ++t) {
      // Σ u·x = Σ q·x + offset·Σx.
      __m256i isum = Format::dot(w, x[t].q + 32 * b);
      if constexpr (!Format::kMins) isum = _mm256_add_epi32(isum, _mm256_set1_epi32(-Format::kOffset * x[t].sum[b]));
      const __m256 scale = _mm256_mul_ps(dw, _mm256_set1_ps(x[t].d[b]));
      acc[t] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(isum), scale, acc[t]);
      if constexpr (Format::kMins) {
        acc[t] = _mm256_fmadd_ps(load_f16x8(blk + kLegacyMins + 16 * half), _mm256_set1_ps(x[t].s[b]), acc[t]);
      }
    }
  });
}

// Shared-broadcast tiles (Q4_0, Q4_K, Q8_0): both halves of a group in one pass
// over its blocks, so each activation broadcast feeds the weights of all 16
// rows. Half-outer tiles (legacy_tile, q6k_tile) broadcast every activation
// once per half, and on Zen 3 a broadcast takes a vector-pipe slot like the
// arithmetic: a quarter of that loop's slots (llvm-mca -mcpu=znver3 on the
// Q4_0 4-token loop: 36 of 137). The float accumulators live in memory (L1);
// the registers hold both halves' int16 pair sums and one 8-column slice of
// weights. Measured, one thread, 2048 x 2048 Q4_0: GEMV 79 -> 62 us, 8 tokens
// 452 -> 357 us, 64 tokens 3.57 -> 2.83 ms (docs/performance.md).

// s[t][h] = Σ u·x over the 32 columns of a 4-bit slice (nib[4][64], Q4_0's
// layout) as int16 pairs, half h's rows, token t's activations q[t] + col. u < 16:
// a maddubs pair is at most 2·15·128 = 3840 in magnitude, eight of them
// 30720 < 2^15. kLanes: `src` is the slice's eight lane registers as
// gemm_tokens unpacked them (packed_walk.h; register 2k holds nibble register
// k's low nibbles, 2k + 1 its high ones), not the nibbles themselves.
template <int NT, bool kLanes = false>
inline void dot32_u4_pairs_both_halves(const uint8_t* src, const int8_t* const (&q)[NT], int64_t col,
                                       __m256i (&s)[NT][2]) {
  for (int k = 0; k < 4; ++k) {
    __m256i lo[2], hi[2];
    for (int h = 0; h < 2; ++h) {
      if constexpr (kLanes) {
        lo[h] = _mm256_load_si256(reinterpret_cast<const __m256i*>(src + 64 * (2 * k) + 32 * h));
        hi[h] = _mm256_load_si256(reinterpret_cast<const __m256i*>(src + 64 * (2 * k + 1) + 32 * h));
      } else {
        split_nibbles(load256(src + 64 * k + 32 * h), lo[h], hi[h]);
      }
    }
    for (int t = 0; t < NT; ++t) {
      const int8_t* x = q[t] + col + 8 * k;
      const __m256i xa = broadcast4(x), xb = broadcast4(x + 4);
      for (int h = 0; h < 2; ++h) {
        const __m256i p = _mm256_add_epi16(_mm256_maddubs_epi16(lo[h], xa), _mm256_maddubs_epi16(hi[h], xb));
        s[t][h] = k == 0 ? p : _mm256_add_epi16(s[t][h], p);
        // Keeps the sum in a register here: without it GCC computes every
        // product of the slice first and spills them, which costs more than
        // the broadcasts saved.
        __asm__("" : "+x"(s[t][h]));
      }
    }
  }
}

// The eight lane registers of a 4-bit slice (nib[4][64]): each nibble
// register's two halves split once, stored in the order
// dot32_u4_pairs_both_halves<NT, true> reads.
inline void split_slice_into_lanes(const uint8_t* nib, uint8_t* lanes) {
  for (int k = 0; k < 4; ++k) {
    for (int h = 0; h < 2; ++h) {
      __m256i lo, hi;
      split_nibbles(load256(nib + 64 * k + 32 * h), lo, hi);
      _mm256_store_si256(reinterpret_cast<__m256i*>(lanes + 64 * (2 * k) + 32 * h), lo);
      _mm256_store_si256(reinterpret_cast<__m256i*>(lanes + 64 * (2 * k + 1) + 32 * h), hi);
    }
  }
}

// A Q4_K group's lane registers, sub-block by sub-block.
void unpack_q4k_lanes(const uint8_t* group, int64_t cols, uint8_t* lanes) {
  const uint8_t* blk = group;
  for (int64_t sb = 0; sb < cols / 256; ++sb, blk += kQ4_KBlock) {
    for (int j = 0; j < 8; ++j, lanes += 8 * 64) split_slice_into_lanes(blk + kQ4_KQuants + 256 * j, lanes);
  }
}

// acc[t][h] += Σ q·x over the 32 columns of an 8-bit slice (u[8][64], Q8_0's
// layout, u = q + 128), half h's rows, token t's activations q[t] + col: each
// lane as |q| · (x with q's sign) (a maddubs pair is at most 2·128·127 =
// 32512; activation quants lie in [-127, 127]), widened per lane.
template <int NT>
inline void accumulate_s8_both_halves(const uint8_t* u, const int8_t* const (&q)[NT], int64_t col,
                                      __m256i (&acc)[NT][2]) {
  const __m256i flip = _mm256_set1_epi8(static_cast<char>(0x80));
  for (int g = 0; g < 8; ++g) {
    __m256i w[2], abs_w[2];
    for (int h = 0; h < 2; ++h) {
      w[h] = _mm256_xor_si256(load256(u + 64 * g + 32 * h), flip);
      abs_w[h] = _mm256_abs_epi8(w[h]);
    }
    for (int t = 0; t < NT; ++t) {
      const __m256i xb = broadcast4(q[t] + col + 4 * g);
      for (int h = 0; h < 2; ++h) {
        acc[t][h] = _mm256_add_epi32(
            acc[t][h], _mm256_madd_epi16(_mm256_maddubs_epi16(abs_w[h], _mm256_sign_epi8(xb, w[h])), ones16()));
      }
    }
  }
}

// x[t] = token t's prepared row (row_of: legacy_row, k_row or token_row) and
// q[t] its quants, for the NT tokens of a tile.
template <int NT, typename Row>
inline void token_rows(const uint8_t* xp, int64_t xp_stride, int64_t cols, Row (*row_of)(const uint8_t*, int64_t),
                       Row (&x)[NT], const int8_t* (&q)[NT]) {
  for (int t = 0; t < NT; ++t) {
    x[t] = row_of(xp + t * xp_stride, cols);
    q[t] = x[t].q;
  }
}

// acc (16 rows, in memory) = fma(float(isum[h]), d[h]·dx, acc) for both halves.
inline void fma_both_halves(const __m256i (&isum)[2], const __m256 (&d)[2], float dx, float* acc) {
  const __m256 vdx = _mm256_set1_ps(dx);
  for (int h = 0; h < 2; ++h) {
    _mm256_store_ps(acc + 8 * h, _mm256_fmadd_ps(_mm256_cvtepi32_ps(isum[h]), _mm256_mul_ps(d[h], vdx),
                                                 _mm256_load_ps(acc + 8 * h)));
  }
}

template <int NT>
void write_rows(const float (&acc)[NT][16], float* y, int64_t y_stride, int n_rows) {
  for (int t = 0; t < NT; ++t) {
    for (int i = 0; i < n_rows; ++i) y[t * y_stride + i] = acc[t][i];
  }
}

template <int NT, bool kStream>
void q4_0_tile_shared(const uint8_t* group, int64_t cols, const uint8_t* xp, int64_t xp_stride, float* y,
                      int64_t y_stride, int n_rows, PrefetchWindow next) {
  LegacyRow x[NT];
  const int8_t* q[NT];
  token_rows<NT>(xp, xp_stride, cols, legacy_row, x, q);
  alignas(32) float acc[NT][16] = {};
  SpreadPrefetch next_lines(next, cols / 32);
  const uint8_t* blk = group;
  for (int64_t b = 0; b < cols / 32; ++b, blk += kQ4_0Block) {
    tile_prefetch<kStream>(blk, kQ4_0Block, 0, 1, next_lines);
    __m256i s[NT][2];
    dot32_u4_pairs_both_halves<NT>(blk + kLegacyQuants, q, 32 * b, s);
    const __m256 dw[2] = {load_f16x8(blk), load_f16x8(blk + 16)};
    for (int t = 0; t < NT; ++t) {
      const __m256i offset = _mm256_set1_epi32(-kOffsetQ4_0 * x[t].sum[b]);
      const __m256i isum[2] = {_mm256_add_epi32(_mm256_madd_epi16(s[t][0], ones16()), offset),
                               _mm256_add_epi32(_mm256_madd_epi16(s[t][1], ones16()), offset)};
      fma_both_halves(isum, dw, x[t].d[b], acc[t]);
    }
  }
  write_rows<NT>(acc, y, y_stride, n_rows);
}


// s[t][h] = Σ u·x over the 16 columns of lane pair `pair` (nibble registers
// 2·pair, 2·pair + 1) of a 5-bit slice: nib[4][64] with the fifth bits in
// high-bit words. u < 32: a maddubs pair is at most 2·31·128 = 7936, four of
// them 31744 < 2^15.
template <int NT>
inline void dot16_u5_pairs_both_halves(const uint8_t* nib, const uint8_t* words, const int8_t* const (&q)[NT],
                                       int64_t col, int pair, __m256i (&s)[NT][2]) {
  for (int kk = 0; kk < 2; ++kk) {
    const int k = 2 * pair + kk;
    __m256i lo[2], hi[2];
    for (int h = 0; h < 2; ++h) {
      split_nibbles(load256(nib + 64 * k + 32 * h), lo[h], hi[h]);
      lo[h] = _mm256_or_si256(lo[h], q5_high_bits(words, 2 * k, h));
      hi[h] = _mm256_or_si256(hi[h], q5_high_bits(words, 2 * k + 1, h));
    }
    for (int t = 0; t < NT; ++t) {
      const int8_t* x = q[t] + col + 8 * k;
      const __m256i xa = broadcast4(x), xb = broadcast4(x + 4);
      for (int h = 0; h < 2; ++h) {
        const __m256i p = _mm256_add_epi16(_mm256_maddubs_epi16(lo[h], xa), _mm256_maddubs_epi16(hi[h], xb));
        s[t][h] = kk == 0 ? p : _mm256_add_epi16(s[t][h], p);
      }
    }
  }
}

// Q5_0, both halves per activation broadcast. u < 32: a maddubs pair is at
// most 2·31·128 = 7936, so int16 pair sums are widened every four lanes
// (31744); the block's int32 sums live in L1 like the float accumulators.
template <int NT, bool kStream>
void q5_0_tile_shared(const uint8_t* group, int64_t cols, const uint8_t* xp, int64_t xp_stride, float* y,
                      int64_t y_stride, int n_rows, PrefetchWindow next) {
  LegacyRow x[NT];
  const int8_t* q[NT];
  token_rows<NT>(xp, xp_stride, cols, legacy_row, x, q);
  alignas(32) float acc[NT][16] = {};
  SpreadPrefetch next_lines(next, cols / 32);
  const uint8_t* blk = group;
  for (int64_t b = 0; b < cols / 32; ++b, blk += kQ5_0Block) {
    tile_prefetch<kStream>(blk, kQ5_0Block, 0, 1, next_lines);
    alignas(32) int32_t isum[NT][16];
    for (int t = 0; t < NT; ++t) {
      const __m256i offset = _mm256_set1_epi32(-kOffsetQ5_0 * x[t].sum[b]);
      _mm256_store_si256(reinterpret_cast<__m256i*>(isum[t]), offset);
      _mm256_store_si256(reinterpret_cast<__m256i*>(isum[t] + 8), offset);
    }
    for (int pair = 0; pair < 2; ++pair) {
      __m256i s[NT][2];
      dot16_u5_pairs_both_halves<NT>(blk + kLegacyQuants, blk + kQ5_0High, q, 32 * b, pair, s);
      for (int t = 0; t < NT; ++t) {
        for (int h = 0; h < 2; ++h) {
          auto* sum = reinterpret_cast<__m256i*>(isum[t] + 8 * h);
          _mm256_store_si256(sum, _mm256_add_epi32(_mm256_load_si256(sum), _mm256_madd_epi16(s[t][h], ones16())));
        }
      }
    }
    const __m256 dw[2] = {load_f16x8(blk), load_f16x8(blk + 16)};
    for (int t = 0; t < NT; ++t) {
      const __m256i sums[2] = {_mm256_load_si256(reinterpret_cast<const __m256i*>(isum[t])),
                               _mm256_load_si256(reinterpret_cast<const __m256i*>(isum[t] + 8))};
      fma_both_halves(sums, dw, x[t].d[b], acc[t]);
    }
  }
  write_rows<NT>(acc, y, y_stride, n_rows);
}

// Q8_0, both halves per activation broadcast (as q4_0_tile_shared); each
// block's int32 sums stay in registers until its fma.
template <int NT, bool kStream>
void q8_0_tile_shared(const uint8_t* group, int64_t cols, const uint8_t* xp, int64_t xp_stride, float* y,
                      int64_t y_stride, int n_rows, PrefetchWindow next) {
  LegacyRow x[NT];
  const int8_t* q[NT];
  token_rows<NT>(xp, xp_stride, cols, legacy_row, x, q);
  alignas(32) float acc[NT][16] = {};
  SpreadPrefetch next_lines(next, cols / 32);
  const uint8_t* blk = group;
  for (int64_t b = 0; b < cols / 32; ++b, blk += kQ8_0Block) {
    tile_prefetch<kStream>(blk, kQ8_0Block, 0, 1, next_lines);
    __m256i isum[NT][2];
    for (int t = 0; t < NT; ++t) isum[t][0] = isum[t][1] = _mm256_setzero_si256();
    accumulate_s8_both_halves<NT>(blk + kLegacyQuants, q, 32 * b, isum);
    const __m256 dw[2] = {load_f16x8(blk), load_f16x8(blk + 16)};
    for (int t = 0; t < NT; ++t) fma_both_halves(isum[t], dw, x[t].d[b], acc[t]);
  }
  write_rows<NT>(acc, y, y_stride, n_rows);
}

// Q4_K, and Q5_K (kHigh): Q5_K's 5-bit weights overflow int16 pair sums over
// 32 columns, so each sub-block is two 16-column halves, each scaled into the
// int32 sums on its own (exact either way). kLanes (Q4_K): the weights come
// unpacked from `lanes` (packed_walk.h), not from the group's nibbles.
template <bool kHigh, int NT, bool kStream, bool kLanes>
void q45k_tile_shared(const uint8_t* group, const uint8_t* lanes, int64_t cols, const uint8_t* xp, int64_t xp_stride,
                      float* y, int64_t y_stride, int n_rows, PrefetchWindow next) {
  static_assert(!(kHigh && kLanes), "Q5_K has no lanes here");
  constexpr int64_t kBlock = kHigh ? kQ5_KBlock : kQ4_KBlock;
  KRow x[NT];
  const int8_t* q[NT];
  token_rows<NT>(xp, xp_stride, cols, k_row, x, q);
  alignas(32) float acc[NT][16] = {};
  SpreadPrefetch next_lines(next, cols / 256 * 8);
  const uint8_t* blk = group;
  for (int64_t sb = 0; sb < cols / 256; ++sb, blk += kBlock) {
    // Per-token int32 sums of both halves, in memory like acc.
    alignas(32) int32_t isum[NT][16] = {};
    for (int j = 0; j < 8; ++j) {
      tile_prefetch<kStream>(blk, kBlock, j, 8, next_lines);
      __m256i scale[2];
      for (int h = 0; h < 2; ++h) {
        scale[h] = pair_of(_mm256_cvtepu8_epi32(
            _mm_loadl_epi64(reinterpret_cast<const __m128i*>(blk + kQ4_KScales + 16 * j + 8 * h))));
      }
      // |pair sum| <= 31744, times a 6-bit scale: exact in int32.
      auto add_scaled = [&](const __m256i (&s)[NT][2]) {
        for (int t = 0; t < NT; ++t) {
          for (int h = 0; h < 2; ++h) {
            __m256i* sum = reinterpret_cast<__m256i*>(isum[t] + 8 * h);
            _mm256_store_si256(sum, _mm256_add_epi32(_mm256_load_si256(sum), _mm256_madd_epi16(s[t][h], scale[h])));
          }
        }
      };
      const uint8_t* nib = blk + kQ4_KQuants + 256 * j;
      if constexpr (kHigh) {
        for (int pair = 0; pair < 2; ++pair) {
          __m256i s[NT][2];
          dot16_u5_pairs_both_halves<NT>(nib, blk + kQ5_KHigh + 64 * j, q, 256 * sb + 32 * j, pair, s);
          add_scaled(s);
        }
      } else if constexpr (kLanes) {
        __m256i s[NT][2];
        dot32_u4_pairs_both_halves<NT, true>(lanes + 64 * (64 * sb + 8 * j), q, 256 * sb + 32 * j, s);
        add_scaled(s);
      } else {
        __m256i s[NT][2];
        dot32_u4_pairs_both_halves<NT>(nib, q, 256 * sb + 32 * j, s);
        add_scaled(s);
      }
    }
    const __m256 d[2] = {load_f16x8(blk), load_f16x8(blk + 16)};
    const __m256 dmin[2] = {load_f16x8(blk + kQ4_KDmin), load_f16x8(blk + kQ4_KDmin + 16)};
    for (int t = 0; t < NT; ++t) {
      __m256i msum[2] = {_mm256_setzero_si256(), _mm256_setzero_si256()};
      for (int p = 0; p < 4; ++p) {
        const __m256i x_pair = _mm256_set1_epi32(load_i32(x[t].sum32 + 8 * sb + 2 * p));
        for (int h = 0; h < 2; ++h) {
          const __m256i mins = _mm256_cvtepu8_epi16(
              _mm_loadu_si128(reinterpret_cast<const __m128i*>(blk + kQ4_KMins + 32 * p + 16 * h)));
          msum[h] = _mm256_add_epi32(msum[h], _mm256_madd_epi16(mins, x_pair));
        }
      }
      const __m256 dx = _mm256_set1_ps(x[t].d[sb]);
      for (int h = 0; h < 2; ++h) {
        __m256 a = _mm256_load_ps(acc[t] + 8 * h);
        a = _mm256_fmadd_ps(_mm256_cvtepi32_ps(_mm256_load_si256(reinterpret_cast<const __m256i*>(isum[t] + 8 * h))),
                            _mm256_mul_ps(d[h], dx), a);
        a = _mm256_fnmadd_ps(_mm256_cvtepi32_ps(msum[h]), _mm256_mul_ps(dmin[h], dx), a);
        _mm256_store_ps(acc[t] + 8 * h, a);
      }
    }
  }
  write_rows<NT>(acc, y, y_stride, n_rows);
}

template <int NT, bool kStream>
void q5k_tile_shared(const uint8_t* group, int64_t cols, const uint8_t* xp, int64_t xp_stride, float* y,
                     int64_t y_stride, int n_rows, PrefetchWindow next) {
  q45k_tile_shared<true, NT, kStream, false>(group, nullptr, cols, xp, xp_stride, y, y_stride, n_rows, next);
}

// Q6_K's bits 4 and 5 into its four lane registers of a sub-block half:
// bits 2g, 2g+1 of each byte of `high` belong to lane register g.
inline void add_high_bit_pairs(__m256i high, __m256i (&w)[4]) {
  const __m256i bits45 = _mm256_set1_epi8(0x30);
  w[0] = _mm256_or_si256(w[0], _mm256_and_si256(_mm256_slli_epi16(high, 4), bits45));
  w[1] = _mm256_or_si256(w[1], _mm256_and_si256(_mm256_slli_epi16(high, 2), bits45));
  w[2] = _mm256_or_si256(w[2], _mm256_and_si256(high, bits45));
  w[3] = _mm256_or_si256(w[3], _mm256_and_si256(_mm256_srli_epi16(high, 2), bits45));
}

// The four lane registers of half `half` of a Q6_K (kSixBit) or Q3_K
// sub-block (16 columns).
template <bool kSixBit>
inline void unpack_k16_half(const uint8_t* sub, int half, __m256i (&w)[4]) {
  split_nibbles(load256(sub + 32 * half), w[0], w[1]);
  split_nibbles(load256(sub + 64 + 32 * half), w[2], w[3]);
  if constexpr (kSixBit) add_high_bit_pairs(load256(sub + 128 + 32 * half), w);
}

// A Q6_K group's lane registers (packed_walk.h; kSixBit false would be
// Q3_K's, which does not use them): sub-block j of
// super-block sb's register g at 64·(64·sb + 4·j + g), half h at + 32·h.
template <bool kSixBit>
void unpack_k16_lanes(const uint8_t* group, int64_t cols, uint8_t* lanes) {
  using Layout = K16Layout<kSixBit>;
  const uint8_t* blk = group;
  for (int64_t sb = 0; sb < cols / 256; ++sb, blk += Layout::kBlock) {
    for (int j = 0; j < 16; ++j, lanes += 4 * 64) {
      for (int half = 0; half < 2; ++half) {
        __m256i w[4];
        unpack_k16_half<kSixBit>(blk + kQ6_KSubBlocks + Layout::kSubBlock * j, half, w);
        for (int g = 0; g < 4; ++g) _mm256_store_si256(reinterpret_cast<__m256i*>(lanes + 64 * g + 32 * half), w[g]);
      }
    }
  }
}

// Q6_K (kSixBit), and Q3_K: its layout without the high bits (packed_impl.h).
// kLanes: the weights come unpacked from `lanes` (packed_walk.h).
template <bool kSixBit, int NT, bool kStream, bool kLanes>
void k16_tile(const uint8_t* group, const uint8_t* lanes, int64_t cols, const uint8_t* xp, int64_t xp_stride, float* y,
              int64_t y_stride, int n_rows, PrefetchWindow next) {
  using Layout = K16Layout<kSixBit>;
  KRow x[NT];
  for (int t = 0; t < NT; ++t) x[t] = k_row(xp + t * xp_stride, cols);
  for_each_half_block<NT, kStream, true>(group, cols / 256, Layout::kBlock, y, y_stride, n_rows, next,
                                [&](int half, int64_t sb, const uint8_t* blk, __m256* acc) {
    __m256i isum[NT], corr[NT];
    for (int t = 0; t < NT; ++t) isum[t] = corr[t] = _mm256_setzero_si256();
    for (int p = 0; p < 8; ++p) {
      if constexpr (kStream) {
        if (half == 0) prefetch_slice(blk, Layout::kBlock, p, 8);
      }
      // Rows' scales of sub-blocks 2p, 2p+1 as int16 pairs, and each alone as (s, s).
      const __m256i pair =
          _mm256_cvtepi8_epi16(_mm_loadu_si128(reinterpret_cast<const __m128i*>(blk + kQ6_KScales + 32 * p + 16 * half)));
      const __m256i even = _mm256_srai_epi32(_mm256_slli_epi32(pair, 16), 16);
      const __m256i odd = _mm256_srai_epi32(pair, 16);
      const __m256i scales[2] = {_mm256_blend_epi16(even, _mm256_slli_epi32(even, 16), 0xAA),
                                 _mm256_blend_epi16(odd, _mm256_slli_epi32(odd, 16), 0xAA)};
      for (int t = 0; t < NT; ++t) {
        corr[t] = _mm256_add_epi32(corr[t], _mm256_madd_epi16(pair, _mm256_set1_epi32(load_i32(x[t].bsum + 16 * sb + 2 * p))));
      }
      for (int h = 0; h < 2; ++h) {
        const int j = 2 * p + h;
        __m256i w[4];
        if constexpr (kLanes) {
          for (int g = 0; g < 4; ++g) {
            w[g] = _mm256_load_si256(reinterpret_cast<const __m256i*>(lanes + 64 * (64 * sb + 4 * j + g) + 32 * half));
          }
        } else {
          unpack_k16_half<kSixBit>(blk + kQ6_KSubBlocks + Layout::kSubBlock * j, half, w);
        }
        // u < 64: a maddubs pair is at most 2·63·128 = 16128, two of them 32256.
        for (int t = 0; t < NT; ++t) {
          const int8_t* xq = x[t].q + 256 * sb + 16 * j;
          const __m256i s0 = _mm256_add_epi16(_mm256_maddubs_epi16(w[0], broadcast4(xq)),
                                              _mm256_maddubs_epi16(w[1], broadcast4(xq + 4)));
          const __m256i s1 = _mm256_add_epi16(_mm256_maddubs_epi16(w[2], broadcast4(xq + 8)),
                                              _mm256_maddubs_epi16(w[3], broadcast4(xq + 12)));
          isum[t] = _mm256_add_epi32(
              isum[t], _mm256_add_epi32(_mm256_madd_epi16(s0, scales[h]), _mm256_madd_epi16(s1, scales[h])));
        }
      }
    }
    const __m256 d = load_f16x8(blk + 16 * half);
    for (int t = 0; t < NT; ++t) {
      const __m256i total = _mm256_sub_epi32(isum[t], _mm256_slli_epi32(corr[t], Layout::kOffsetLog2));
      acc[t] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(total), _mm256_mul_ps(d, _mm256_set1_ps(x[t].d[sb])), acc[t]);
    }
  });
}

// Q3_K without lanes: its unpacking is the nibble split alone, and lanes
// measured no faster (1.1B Q3_K_M pp128 with TESSERA_ISA=avx2: 177 against
// 174 tok/s, three alternations).
template <int NT, bool kStream>
void q3k_tile(const uint8_t* group, int64_t cols, const uint8_t* xp, int64_t xp_stride, float* y, int64_t y_stride,
              int n_rows, PrefetchWindow next) {
  k16_tile<false, NT, kStream, false>(group, nullptr, cols, xp, xp_stride, y, y_stride, n_rows, next);
}

// Q2_K: k16_tile's walk with unsigned 4-bit scales and Q4_K's mins (each
// sub-block's GGUF byte holds both), in the int32 order.
template <int NT, bool kStream>
void q2k_tile(const uint8_t* group, int64_t cols, const uint8_t* xp, int64_t xp_stride, float* y, int64_t y_stride,
              int n_rows, PrefetchWindow next) {
  KRow x[NT];
  for (int t = 0; t < NT; ++t) x[t] = k_row(xp + t * xp_stride, cols);
  for_each_half_block<NT, kStream, true>(group, cols / 256, kQ2_KBlock, y, y_stride, n_rows, next,
                                         [&](int half, int64_t sb, const uint8_t* blk, __m256* acc) {
    const __m256i low2 = _mm256_set1_epi8(0x03), low4 = _mm256_set1_epi16(0x0F);
    __m256i isum[NT], msum[NT];
    for (int t = 0; t < NT; ++t) isum[t] = msum[t] = _mm256_setzero_si256();
    for (int p = 0; p < 8; ++p) {
      if constexpr (kStream) {
        if (half == 0) prefetch_slice(blk, kQ2_KBlock, p, 8);
      }
      // Rows' scale-min bytes of sub-blocks 2p, 2p+1 as int16 pairs; the
      // mins as pairs, each scale alone as (s, s).
      const __m256i bytes =
          _mm256_cvtepu8_epi16(_mm_loadu_si128(reinterpret_cast<const __m128i*>(blk + kQ2_KScales + 32 * p + 16 * half)));
      const __m256i scale_pair = _mm256_and_si256(bytes, low4);
      const __m256i even = _mm256_and_si256(scale_pair, _mm256_set1_epi32(0xFFFF));
      const __m256i odd = _mm256_srli_epi32(scale_pair, 16);
      const __m256i scales[2] = {_mm256_or_si256(even, _mm256_slli_epi32(even, 16)),
                                 _mm256_or_si256(odd, _mm256_slli_epi32(odd, 16))};
      const __m256i min_pair = _mm256_srli_epi16(bytes, 4);
      for (int t = 0; t < NT; ++t) {
        msum[t] = _mm256_add_epi32(msum[t],
                                   _mm256_madd_epi16(min_pair, _mm256_set1_epi32(load_i32(x[t].bsum + 16 * sb + 2 * p))));
      }
      for (int h = 0; h < 2; ++h) {
        const int j = 2 * p + h;
        const __m256i v = load256(blk + kQ2_KQuants + 64 * j + 32 * half);
        const __m256i w[4] = {_mm256_and_si256(v, low2), _mm256_and_si256(_mm256_srli_epi16(v, 2), low2),
                              _mm256_and_si256(_mm256_srli_epi16(v, 4), low2),
                              _mm256_and_si256(_mm256_srli_epi16(v, 6), low2)};
        // u < 4: a maddubs pair is at most 2·3·128 = 768.
        for (int t = 0; t < NT; ++t) {
          const int8_t* xq = x[t].q + 256 * sb + 16 * j;
          const __m256i s0 = _mm256_add_epi16(_mm256_maddubs_epi16(w[0], broadcast4(xq)),
                                              _mm256_maddubs_epi16(w[1], broadcast4(xq + 4)));
          const __m256i s1 = _mm256_add_epi16(_mm256_maddubs_epi16(w[2], broadcast4(xq + 8)),
                                              _mm256_maddubs_epi16(w[3], broadcast4(xq + 12)));
          isum[t] = _mm256_add_epi32(
              isum[t], _mm256_add_epi32(_mm256_madd_epi16(s0, scales[h]), _mm256_madd_epi16(s1, scales[h])));
        }
      }
    }
    const __m256 d = load_f16x8(blk + 16 * half), dmin = load_f16x8(blk + kQ2_KDmin + 16 * half);
    for (int t = 0; t < NT; ++t) {
      const __m256 dx = _mm256_set1_ps(x[t].d[sb]);
      acc[t] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(isum[t]), _mm256_mul_ps(d, dx), acc[t]);
      acc[t] = _mm256_fnmadd_ps(_mm256_cvtepi32_ps(msum[t]), _mm256_mul_ps(dmin, dx), acc[t]);
    }
  });
}

// ---- float tiles (F16, BF16) ---------------------------------------------

// Eight rows' weights of one column as floats (exact widening).
template <bool kBf16>
inline __m256 load_float16_x8(const uint8_t* p) {
  const __m128i h = _mm_loadu_si128(reinterpret_cast<const __m128i*>(p));
  if constexpr (kBf16) {
    return _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_cvtepu16_epi32(h), 16));
  } else {
    return _mm256_cvtph_ps(h);
  }
}

// The AVX-512 tile's order (packed.h): even and odd columns in two chains per
// row and token, both 8-row halves in one pass.
template <bool kBf16, int NT, bool kStream>
void float16_tile(const uint8_t* group, int64_t cols, const uint8_t* xp, int64_t xp_stride, float* y,
                  int64_t y_stride, int n_rows, PrefetchWindow next) {
  const float* x[NT];
  __m256 even[NT][2], odd[NT][2];
  for (int t = 0; t < NT; ++t) {
    x[t] = reinterpret_cast<const float*>(xp + t * xp_stride);
    even[t][0] = even[t][1] = odd[t][0] = odd[t][1] = _mm256_setzero_ps();
  }
  SpreadPrefetch next_lines(next, cols / 32);
  const uint8_t* blk = group;
  for (int64_t c0 = 0; c0 < cols; c0 += 32, blk += kFloat16Block) {
    tile_prefetch<kStream>(blk, kFloat16Block, 0, 1, next_lines);
    for (int k = 0; k < 32; k += 2) {
      const uint8_t* col = blk + kFloat16Column * k;
      const __m256 w0[2] = {load_float16_x8<kBf16>(col), load_float16_x8<kBf16>(col + 16)};
      const __m256 w1[2] = {load_float16_x8<kBf16>(col + kFloat16Column),
                            load_float16_x8<kBf16>(col + kFloat16Column + 16)};
      for (int t = 0; t < NT; ++t) {
        const __m256 x0 = _mm256_set1_ps(x[t][c0 + k]), x1 = _mm256_set1_ps(x[t][c0 + k + 1]);
        for (int h = 0; h < 2; ++h) {
          even[t][h] = _mm256_fmadd_ps(w0[h], x0, even[t][h]);
          odd[t][h] = _mm256_fmadd_ps(w1[h], x1, odd[t][h]);
        }
      }
    }
  }
  alignas(32) float out[16];
  for (int t = 0; t < NT; ++t) {
    _mm256_store_ps(out, _mm256_add_ps(even[t][0], odd[t][0]));
    _mm256_store_ps(out + 8, _mm256_add_ps(even[t][1], odd[t][1]));
    for (int i = 0; i < n_rows; ++i) y[t * y_stride + i] = out[i];
  }
}

// One token of Q6_K / Q3_K with both halves per activation broadcast
// (decode): the four broadcasts of a 16-column sub-block serve all 16 rows,
// where k16_tile broadcasts them once per half. Same integer sums and float order.
template <bool kSixBit, bool kStream>
void k16_tile_one_shared(const uint8_t* group, int64_t cols, const uint8_t* xp, float* y, int n_rows,
                         PrefetchWindow next) {
  using Layout = K16Layout<kSixBit>;
  const KRow x = k_row(xp, cols);
  __m256 acc[2] = {_mm256_setzero_ps(), _mm256_setzero_ps()};
  SpreadPrefetch next_lines(next, cols / 256 * 8);
  const uint8_t* blk = group;
  for (int64_t sb = 0; sb < cols / 256; ++sb, blk += Layout::kBlock) {
    __m256i isum[2] = {_mm256_setzero_si256(), _mm256_setzero_si256()};
    __m256i corr[2] = {_mm256_setzero_si256(), _mm256_setzero_si256()};
    for (int p = 0; p < 8; ++p) {
      tile_prefetch<kStream>(blk, Layout::kBlock, p, 8, next_lines);
      const __m256i x_pair = _mm256_set1_epi32(load_i32(x.bsum + 16 * sb + 2 * p));
      __m256i scales[2][2];  // [half][sub-block 2p + h]: each row's scale as (s, s)
      for (int half = 0; half < 2; ++half) {
        const __m256i pair = _mm256_cvtepi8_epi16(
            _mm_loadu_si128(reinterpret_cast<const __m128i*>(blk + kQ6_KScales + 32 * p + 16 * half)));
        const __m256i even = _mm256_srai_epi32(_mm256_slli_epi32(pair, 16), 16);
        const __m256i odd = _mm256_srai_epi32(pair, 16);
        scales[half][0] = _mm256_blend_epi16(even, _mm256_slli_epi32(even, 16), 0xAA);
        scales[half][1] = _mm256_blend_epi16(odd, _mm256_slli_epi32(odd, 16), 0xAA);
        corr[half] = _mm256_add_epi32(corr[half], _mm256_madd_epi16(pair, x_pair));
      }
      for (int h = 0; h < 2; ++h) {
        const int j = 2 * p + h;
        const uint8_t* sub = blk + kQ6_KSubBlocks + Layout::kSubBlock * j;
        const int8_t* xq = x.q + 256 * sb + 16 * j;
        const __m256i xb[4] = {broadcast4(xq), broadcast4(xq + 4), broadcast4(xq + 8), broadcast4(xq + 12)};
        for (int half = 0; half < 2; ++half) {
          __m256i w[4];
          split_nibbles(load256(sub + 32 * half), w[0], w[1]);
          split_nibbles(load256(sub + 64 + 32 * half), w[2], w[3]);
          if constexpr (kSixBit) add_high_bit_pairs(load256(sub + 128 + 32 * half), w);
          // u < 64: a maddubs pair is at most 2·63·128 = 16128, two of them 32256.
          const __m256i s0 = _mm256_add_epi16(_mm256_maddubs_epi16(w[0], xb[0]), _mm256_maddubs_epi16(w[1], xb[1]));
          const __m256i s1 = _mm256_add_epi16(_mm256_maddubs_epi16(w[2], xb[2]), _mm256_maddubs_epi16(w[3], xb[3]));
          isum[half] = _mm256_add_epi32(isum[half], _mm256_add_epi32(_mm256_madd_epi16(s0, scales[half][h]),
                                                                     _mm256_madd_epi16(s1, scales[half][h])));
        }
      }
    }
    const __m256 dx = _mm256_set1_ps(x.d[sb]);
    for (int half = 0; half < 2; ++half) {
      const __m256i total = _mm256_sub_epi32(isum[half], _mm256_slli_epi32(corr[half], Layout::kOffsetLog2));
      acc[half] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(total), _mm256_mul_ps(load_f16x8(blk + 16 * half), dx), acc[half]);
    }
  }
  alignas(32) float out[16];
  _mm256_store_ps(out, acc[0]);
  _mm256_store_ps(out + 8, acc[1]);
  for (int i = 0; i < n_rows; ++i) y[i] = out[i];
}

// ---- row-scaled tiles (one scale per weight row and per token) ------------
// The integer sums run over the whole row (exact: |Σ| < 2^31 for rows up to
// kRowScaledMaxCols) and are scaled once at the end, so a block costs only its
// integer dot products: no per-block convert, scale multiply or fma.

// out[t][i] = float(isum[t][i] - offset · Σx_t) · (d_w[i] · d_x,t) for the 16
// rows (d_w: the group's header).
template <int NT>
void finish_row_scaled(const uint8_t* group, const TokenRow (&x)[NT], const int32_t (&isum)[NT][16], int offset,
                       float* y, int64_t y_stride, int n_rows) {
  alignas(32) float out[NT][16];
  const __m256 dw[2] = {_mm256_loadu_ps(reinterpret_cast<const float*>(group)),
                        _mm256_loadu_ps(reinterpret_cast<const float*>(group) + 8)};
  for (int t = 0; t < NT; ++t) {
    const __m256i corr = _mm256_set1_epi32(-offset * x[t].sum);
    const __m256 dx = _mm256_set1_ps(x[t].d);
    for (int h = 0; h < 2; ++h) {
      const __m256i total =
          _mm256_add_epi32(_mm256_load_si256(reinterpret_cast<const __m256i*>(isum[t] + 8 * h)), corr);
      _mm256_store_ps(out[t] + 8 * h, _mm256_mul_ps(_mm256_cvtepi32_ps(total), _mm256_mul_ps(dw[h], dx)));
    }
  }
  write_rows<NT>(out, y, y_stride, n_rows);
}

// Q4_0 row-scaled: the shared-broadcast walk of q4_0_tile_shared, each
// block's int16 pair sums widened and added to int32 row sums (in L1).
template <int NT, bool kStream>
void q4_0_row_tile(const uint8_t* group, int64_t cols, const uint8_t* xp, int64_t xp_stride, float* y,
                   int64_t y_stride, int n_rows, PrefetchWindow next) {
  TokenRow x[NT];
  const int8_t* q[NT];
  token_rows<NT>(xp, xp_stride, cols, token_row, x, q);
  alignas(32) int32_t isum[NT][16] = {};
  SpreadPrefetch next_lines(next, cols / 32);
  const uint8_t* blk = group + kRowScaledHeader;
  for (int64_t b = 0; b < cols / 32; ++b, blk += kQ4_0RowBlock) {
    tile_prefetch<kStream>(blk, kQ4_0RowBlock, 0, 1, next_lines);
    __m256i s[NT][2];
    dot32_u4_pairs_both_halves<NT>(blk, q, 32 * b, s);
    for (int t = 0; t < NT; ++t) {
      for (int h = 0; h < 2; ++h) {
        auto* sum = reinterpret_cast<__m256i*>(isum[t] + 8 * h);
        _mm256_store_si256(sum, _mm256_add_epi32(_mm256_load_si256(sum), _mm256_madd_epi16(s[t][h], ones16())));
      }
    }
  }
  finish_row_scaled<NT>(group, x, isum, kOffsetQ4_0, y, y_stride, n_rows);
}

// Q8_0 row-scaled: q8_0_tile_shared's walk, the 2·NT int32 row sums kept in
// registers over the whole row.
template <int NT, bool kStream>
void q8_0_row_tile(const uint8_t* group, int64_t cols, const uint8_t* xp, int64_t xp_stride, float* y,
                   int64_t y_stride, int n_rows, PrefetchWindow next) {
  TokenRow x[NT];
  const int8_t* q[NT];
  token_rows<NT>(xp, xp_stride, cols, token_row, x, q);
  __m256i acc[NT][2];
  for (int t = 0; t < NT; ++t) acc[t][0] = acc[t][1] = _mm256_setzero_si256();
  SpreadPrefetch next_lines(next, cols / 32);
  const uint8_t* blk = group + kRowScaledHeader;
  for (int64_t b = 0; b < cols / 32; ++b, blk += kQ8_0RowBlock) {
    tile_prefetch<kStream>(blk, kQ8_0RowBlock, 0, 1, next_lines);
    accumulate_s8_both_halves<NT>(blk, q, 32 * b, acc);
  }
  alignas(32) int32_t isum[NT][16];
  for (int t = 0; t < NT; ++t) {
    for (int h = 0; h < 2; ++h) _mm256_store_si256(reinterpret_cast<__m256i*>(isum[t] + 8 * h), acc[t][h]);
  }
  // The sum is Σ q·x already (no unsigned offset to take off).
  finish_row_scaled<NT>(group, x, isum, 0, y, y_stride, n_rows);
}

// Tile widths (gemm_tokens, packed_walk.h). Wider tiles share each
// unpacked weight register among more tokens but spill more: measured per
// type (Gemm8 and Gemm64 micro-benchmarks, one thread). Half-outer tiles: four
// for Q5_0, six for Q6_K, whose 6-bit weights take 3 more operations per lane
// to rebuild (Gemm64/Q6_K: 4.0 ms with tiles of four, 3.5 ms with six).
// Shared-broadcast tiles (Q4_0, Q4_K, Q8_0, the row-scaled ones; Q5_0 for one
// token) hold both halves' sums: three (Q4_K Gemm64: 2.80 ms with two, 2.58
// with three, 2.79 with four). Q8_0 shared against half-outer, one thread:
// Gemv 103-116 against 131-140 µs, Gemm8 708-755 against 775-855, Gemm64
// 4965-5287 against 6216-6815, Gemm8Dram 10.2-14.8 against 12.4-19.8 ms.

template <typename Format>
struct LegacyTile {
  TESSERA_PACKED_TILE(Of, (legacy_tile<Format, NT, kStream>), cols / 32 * Format::kBlock)
};
TESSERA_PACKED_TILE(Q4_0SharedTile, (q4_0_tile_shared<NT, kStream>), cols / 32 * kQ4_0Block)
TESSERA_PACKED_TILE(Q5_0SharedTile, (q5_0_tile_shared<NT, kStream>), cols / 32 * kQ5_0Block)
TESSERA_PACKED_TILE(Q8_0SharedTile, (q8_0_tile_shared<NT, kStream>), cols / 32 * kQ8_0Block)
TESSERA_PACKED_LANE_TILE(Q4KTile, (q45k_tile_shared<false, NT, kStream, kLanes>), cols / 256 * kQ4_KBlock,
                         unpack_q4k_lanes)
TESSERA_PACKED_TILE(Q5KTile, (q5k_tile_shared<NT, kStream>), cols / 256 * kQ5_KBlock)
TESSERA_PACKED_LANE_TILE(Q6KTile, (k16_tile<true, NT, kStream, kLanes>), cols / 256 * kQ6_KBlock,
                         unpack_k16_lanes<true>)
TESSERA_PACKED_TILE(Q3KTile, (q3k_tile<NT, kStream>), cols / 256 * kQ3_KBlock)
TESSERA_PACKED_TILE(Q2KTile, (q2k_tile<NT, kStream>), cols / 256 * kQ2_KBlock)
TESSERA_PACKED_TILE(F16Tile, (float16_tile<false, NT, kStream>), cols / 32 * kFloat16Block)
TESSERA_PACKED_TILE(BF16Tile, (float16_tile<true, NT, kStream>), cols / 32 * kFloat16Block)
TESSERA_PACKED_TILE(Q4_0RowTile, (q4_0_row_tile<NT, kStream>), kRowScaledHeader + cols / 32 * kQ4_0RowBlock)
TESSERA_PACKED_TILE(Q8_0RowTile, (q8_0_row_tile<NT, kStream>), kRowScaledHeader + cols / 32 * kQ8_0RowBlock)
#undef TESSERA_PACKED_TILE
#undef TESSERA_PACKED_LANE_TILE

// One token only (gemm_tokens<K16OneTokenTile<kSixBit>::Of, 1>).
template <bool kSixBit>
struct K16OneTokenTile {
  template <int NT>
  struct Of {
    static_assert(NT == 1);
    static int64_t group_bytes(int64_t cols) { return cols / 256 * K16Layout<kSixBit>::kBlock; }
    template <bool kStream, bool kLanes>
    static void run(const uint8_t* g, const uint8_t*, int64_t c, const uint8_t* xp, int64_t, float* y, int64_t,
                    int rows, PrefetchWindow next) {
      static_assert(!kLanes);
      k16_tile_one_shared<kSixBit, kStream>(g, c, xp, y, rows, next);
    }
  };
};

// Q6_K / Q3_K: one token walks both halves per broadcast (GemvDram/Q6_K one
// thread, medians of four: 3.45 against 3.79 ms; at two threads
// memory-bound, no change); batches take half-outer tiles of up to six.
template <bool kSixBit>
void gemm_k16(const uint8_t* g, int64_t c, const uint8_t* xp, int64_t xs, int64_t n, float* y, int64_t ys,
              int rows) {
  if (n == 1) {
    gemm_tokens<K16OneTokenTile<kSixBit>::template Of, 1>(g, c, xp, xs, n, y, ys, rows);
  } else if constexpr (kSixBit) {
    gemm_tokens<Q6KTile, 6, 6, 6>(g, c, xp, xs, n, y, ys, rows);
  } else {
    gemm_tokens<Q3KTile, 6>(g, c, xp, xs, n, y, ys, rows);
  }
}

float hmax(__m256 v) {
  __m128 m = _mm_max_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
  m = _mm_max_ps(m, _mm_movehl_ps(m, m));
  m = _mm_max_ss(m, _mm_movehdup_ps(m));
  return _mm_cvtss_f32(m);
}

}  // namespace

void prepare_token_row(const float* x, uint8_t* out, int64_t n) {
  // n is a multiple of 32 (a packed matrix's row length).
  const __m256 abs_mask = _mm256_castsi256_ps(_mm256_set1_epi32(0x7fffffff));
  __m256 vmax = _mm256_setzero_ps();
  for (int64_t i = 0; i < n; i += 8) vmax = _mm256_max_ps(vmax, _mm256_and_ps(_mm256_loadu_ps(x + i), abs_mask));
  const float d = hmax(vmax) / 127.0f;
  const __m256 id = _mm256_set1_ps(d != 0.0f ? 1.0f / d : 0.0f);
  // cvtps rounds to nearest even (the default MXCSR mode); the packs keep the
  // values (|q| <= 127) and the permute undoes their lane interleaving.
  const __m256i order = _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7);
  __m256i vsum = _mm256_setzero_si256();
  for (int64_t i = 0; i < n; i += 32) {
    __m256i q[4];
    for (int j = 0; j < 4; ++j) {
      q[j] = _mm256_cvtps_epi32(_mm256_mul_ps(_mm256_loadu_ps(x + i + 8 * j), id));
      vsum = _mm256_add_epi32(vsum, q[j]);
    }
    const __m256i bytes = _mm256_packs_epi16(_mm256_packs_epi32(q[0], q[1]), _mm256_packs_epi32(q[2], q[3]));
    _mm256_storeu_si256(reinterpret_cast<__m256i*>(out + i), _mm256_permutevar8x32_epi32(bytes, order));
  }
  alignas(32) int32_t lanes[8];
  _mm256_store_si256(reinterpret_cast<__m256i*>(lanes), vsum);
  int32_t sum = 0;
  for (int32_t v : lanes) sum += v;
  std::memcpy(out + n, &d, 4);
  std::memcpy(out + n + 4, &sum, 4);
  std::memset(out + n + 8, 0, static_cast<size_t>(token_row_bytes(n) - n - 8));
}

void row_scaled_gemm_q4_0(const uint8_t* g, int64_t c, const uint8_t* xp, int64_t xs, int64_t n, float* y,
                          int64_t ys, int rows) {
  gemm_tokens<Q4_0RowTile, 3>(g, c, xp, xs, n, y, ys, rows);
}
void row_scaled_gemm_q8_0(const uint8_t* g, int64_t c, const uint8_t* xp, int64_t xs, int64_t n, float* y,
                          int64_t ys, int rows) {
  gemm_tokens<Q8_0RowTile, 3>(g, c, xp, xs, n, y, ys, rows);
}

void packed_gemm_q4_0(const uint8_t* g, int64_t c, const uint8_t* xp, int64_t xs, int64_t n, float* y, int64_t ys,
                      int rows) {
  gemm_tokens<Q4_0SharedTile, 3>(g, c, xp, xs, n, y, ys, rows);
}
void packed_gemm_q5_0(const uint8_t* g, int64_t c, const uint8_t* xp, int64_t xs, int64_t n, float* y, int64_t ys,
                      int rows) {
  // One token (decode) walks both halves per block with shared broadcasts
  // (GemvDram/Q5_0 −5 to −20 %); batches keep the half-outer tiles, which
  // measured faster (Gemm8/Q5_0 670 against 739 µs with shared tiles of three).
  if (n == 1) {
    gemm_tokens<Q5_0SharedTile, 1>(g, c, xp, xs, n, y, ys, rows);
  } else {
    gemm_tokens<LegacyTile<Q5_0Format>::Of, 4>(g, c, xp, xs, n, y, ys, rows);
  }
}
void packed_gemm_q8_0(const uint8_t* g, int64_t c, const uint8_t* xp, int64_t xs, int64_t n, float* y, int64_t ys,
                      int rows) {
  gemm_tokens<Q8_0SharedTile, 3>(g, c, xp, xs, n, y, ys, rows);
}
// Q4_1 / Q5_1: the half-outer tiles of Q5_0's width (not measured apart).
void packed_gemm_q4_1(const uint8_t* g, int64_t c, const uint8_t* xp, int64_t xs, int64_t n, float* y, int64_t ys,
                      int rows) {
  gemm_tokens<LegacyTile<Q4_1Format>::Of, 4>(g, c, xp, xs, n, y, ys, rows);
}
void packed_gemm_q5_1(const uint8_t* g, int64_t c, const uint8_t* xp, int64_t xs, int64_t n, float* y, int64_t ys,
                      int rows) {
  gemm_tokens<LegacyTile<Q5_1Format>::Of, 4>(g, c, xp, xs, n, y, ys, rows);
}
void packed_gemm_q4_k(const uint8_t* g, int64_t c, const uint8_t* xp, int64_t xs, int64_t n, float* y, int64_t ys,
                      int rows) {
  gemm_tokens<Q4KTile, 3, 3, 3>(g, c, xp, xs, n, y, ys, rows);
}
void packed_gemm_q5_k(const uint8_t* g, int64_t c, const uint8_t* xp, int64_t xs, int64_t n, float* y, int64_t ys,
                      int rows) {
  gemm_tokens<Q5KTile, 3>(g, c, xp, xs, n, y, ys, rows);
}
void packed_gemm_q6_k(const uint8_t* g, int64_t c, const uint8_t* xp, int64_t xs, int64_t n, float* y, int64_t ys,
                      int rows) {
  gemm_k16<true>(g, c, xp, xs, n, y, ys, rows);
}
void packed_gemm_q3_k(const uint8_t* g, int64_t c, const uint8_t* xp, int64_t xs, int64_t n, float* y, int64_t ys,
                      int rows) {
  // Q6_K's walk; u < 8 keeps every maddubs pair far from int16's limit.
  gemm_k16<false>(g, c, xp, xs, n, y, ys, rows);
}
void packed_gemm_q2_k(const uint8_t* g, int64_t c, const uint8_t* xp, int64_t xs, int64_t n, float* y, int64_t ys,
                      int rows) {
  gemm_tokens<Q2KTile, 3>(g, c, xp, xs, n, y, ys, rows);
}
void packed_gemm_f16(const uint8_t* g, int64_t c, const uint8_t* xp, int64_t xs, int64_t n, float* y, int64_t ys,
                     int rows) {
  gemm_tokens<F16Tile, 3>(g, c, xp, xs, n, y, ys, rows);
}
void packed_gemm_bf16(const uint8_t* g, int64_t c, const uint8_t* xp, int64_t xs, int64_t n, float* y, int64_t ys,
                      int rows) {
  gemm_tokens<BF16Tile, 3>(g, c, xp, xs, n, y, ys, rows);
}

}  // namespace tessera::avx2
