// AVX-512 VNNI kernels over packed 16-row groups (layouts: packed_impl.h, float
// order: packed.h). One 512-bit register holds 4 weights of each of 16 rows;
// a 4-byte activation broadcast and one vpdpbusd add 16 rows' partial dot
// products. Up to eight tokens share each unpacked weight register (the
// prefill and batched-decode shape); one token is the decode shape.
// g++ 12's AVX-512 headers warn about their own "undefined" registers (GCC bug
// 105593); the warnings are about the headers, not this code.
#pragma GCC diagnostic ignored "-Wuninitialized"
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"

#include <immintrin.h>

#include <cstring>
#include <type_traits>

#include "kernels/packed.h"
#include "kernels/packed_impl.h"
#include "kernels/packed_walk.h"

namespace tessera::avx512 {

namespace {

using namespace packed;

inline __m512i load512(const uint8_t* p) { return _mm512_loadu_si512(p); }

// acc + w·x lane by lane (vpdpbusd), x's 4 bytes broadcast to every lane by
// the instruction itself ({1to16}, one fused µop): GCC 12 does not fold a
// broadcast load into vpdpbusd and issues a separate vpbroadcastd, which
// costs a slot in the front end per dot instruction.
inline __m512i dpbusd_x4(__m512i acc, __m512i w, const int8_t* x) {
  asm("vpdpbusd %2%{1to16%}, %1, %0" : "+v"(acc) : "v"(w), "m"(*reinterpret_cast<const int32_t(*)[1]>(x)));
  return acc;
}
// The same from zero. vpxord of a register with itself is a zero idiom
// (resolved at rename); GCC 12 copies a zeroed register instead, a µop on
// a vector port.
inline __m512i dpbusd_x4_from_zero(__m512i w, const int8_t* x) {
  __m512i acc;
  asm("vpxord %0, %0, %0\n\tvpdpbusd %2%{1to16%}, %1, %0"
      : "=&v"(acc)
      : "v"(w), "m"(*reinterpret_cast<const int32_t(*)[1]>(x)));
  return acc;
}
inline __m512 load_f16x16(const uint8_t* p) {
  return _mm512_cvtph_ps(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(p)));
}

// (a & 0x0F) and ((a >> 4) & 0x0F): the two 4-weight lanes a nibble register holds.
inline void split_nibbles(__m512i a, __m512i& lo, __m512i& hi) {
  const __m512i low4 = _mm512_set1_epi8(0x0F);
  lo = _mm512_and_si512(a, low4);
  hi = _mm512_and_si512(_mm512_srli_epi16(a, 4), low4);
}

// Eight lane registers of 32 columns from four nibble registers.
inline void unpack_nibbles8(const uint8_t* nib, __m512i w[8]) {
  for (int k = 0; k < 4; ++k) split_nibbles(load512(nib + 64 * k), w[2 * k], w[2 * k + 1]);
}

// Σ over 32 columns of w·x for one token: two chains of four vpdpbusd
// (integer sums are exact, so the split only shortens the dependency chain).
inline __m512i dot32(__m512i start, const __m512i w[8], const int8_t* x) {
  __m512i s0 = dpbusd_x4(start, w[0], x), s1 = dpbusd_x4_from_zero(w[1], x + 4);
  for (int g = 2; g < 8; g += 2) {
    s0 = dpbusd_x4(s0, w[g], x + 4 * g);
    s1 = dpbusd_x4(s1, w[g + 1], x + 4 * g + 4);
  }
  return _mm512_add_epi32(s0, s1);
}

// Decode tiles (one or two tokens) of the 4-bit formats take each nibble
// register's high nibbles as a & 0xF0 = 16·u: one instruction where the shift
// and mask take two, on a path whose unpacking is not shared by other tokens
// (Q4_K GEMV in L1, one thread: 83 -> 90 GMAC/s).
template <int NT>
constexpr bool kHighNibblesTimes16 = NT <= 2;

// Lane registers w[2k] = u (low nibbles) and w[2k + 1] = 16·u (high nibbles)
// of four nibble registers.
inline void unpack_nibbles8_times16(const uint8_t* nib, __m512i w[8]) {
  const __m512i low4 = _mm512_set1_epi8(0x0F), high4 = _mm512_set1_epi8(static_cast<char>(0xF0));
  for (int k = 0; k < 4; ++k) {
    const __m512i a = load512(nib + 64 * k);
    w[2 * k] = _mm512_and_si512(a, low4);
    w[2 * k + 1] = _mm512_and_si512(a, high4);
  }
}

// dot32 over unpack_nibbles8_times16's registers. The odd chain sums 16·u·x
// exactly (|16 · 15 · 127 · 16| < 2^31), so an arithmetic shift divides it by
// 16 exactly: the result equals dot32's bit for bit.
inline __m512i dot32_times16(__m512i start, const __m512i w[8], const int8_t* x) {
  __m512i s0 = dpbusd_x4(start, w[0], x), s1 = dpbusd_x4_from_zero(w[1], x + 4);
  for (int g = 2; g < 8; g += 2) {
    s0 = dpbusd_x4(s0, w[g], x + 4 * g);
    s1 = dpbusd_x4(s1, w[g + 1], x + 4 * g + 4);
  }
  return _mm512_add_epi32(s0, _mm512_srai_epi32(s1, 4));
}

// The same sums for NT tokens, one chain of eight per token, the chains
// interleaved in program order: the out-of-order window then holds
// independent vpdpbusd side by side (GCC emits each token's chain whole
// otherwise; Q4_K, four tokens in L1: +4 %). Joining two chains per token
// would cost an add per token and sub-block.
template <int NT>
inline void dot32_tokens(const __m512i w[8], const int8_t* const (&x)[NT], __m512i (&s)[NT]) {
  for (int t = 0; t < NT; ++t) s[t] = dpbusd_x4_from_zero(w[0], x[t]);
  for (int g = 1; g < 8; ++g) {
    for (int t = 0; t < NT; ++t) s[t] = dpbusd_x4(s[t], w[g], x[t] + 4 * g);
  }
}

// dot32_tokens over a sub-block's lane registers as gemm_tokens unpacked them
// (packed_walk.h), onto sums already started (s holds each token's start),
// from lane register kFirst on: each register is loaded once, for all NT tokens.
template <int NT, int kFirst = 0>
inline void dot32_tokens_lanes_onto(const uint8_t* lanes, const int8_t* const (&x)[NT], __m512i (&s)[NT]) {
  for (int g = kFirst; g < 8; ++g) {
    const __m512i w = _mm512_load_si512(lanes + 64 * g);
    for (int t = 0; t < NT; ++t) s[t] = dpbusd_x4(s[t], w, x[t] + 4 * g);
  }
}

// The same from zero.
template <int NT>
inline void dot32_tokens_lanes(const uint8_t* lanes, const int8_t* const (&x)[NT], __m512i (&s)[NT]) {
  const __m512i w0 = _mm512_load_si512(lanes);
  for (int t = 0; t < NT; ++t) s[t] = dpbusd_x4_from_zero(w0, x[t]);
  dot32_tokens_lanes_onto<NT, 1>(lanes, x, s);
}

// Σ over the 16 columns of a 16-column sub-block's lane registers of w·x,
// for one token (Q6_K, Q3_K, Q2_K).
inline __m512i dot16(const __m512i w[4], const int8_t* x) {
  __m512i s = dpbusd_x4_from_zero(w[0], x);
  s = dpbusd_x4(s, w[1], x + 4);
  s = dpbusd_x4(s, w[2], x + 8);
  return dpbusd_x4(s, w[3], x + 12);
}
// The same onto a start.
inline __m512i dot16_onto(__m512i s, const __m512i w[4], const int8_t* x) {
  for (int g = 0; g < 4; ++g) s = dpbusd_x4(s, w[g], x + 4 * g);
  return s;
}

// A super-block's share for one token in Q4_K's float order (packed.h), also
// Q2_K's: acc + part·(d·dx) - float(Σ_p mins[p]·sums pair p)·(dmin·dx), the
// mins widened to int16 pairs once for every token, sums the token's matching
// int16 activation sums (per 32 columns for Q4_K, per 16 for Q2_K).
template <int kPairs>
inline __m512 add_super_block(__m512 acc, __m512 part, __m512 d, __m512 dmin, const __m512i (&mins)[kPairs],
                              const int16_t* sums, float dx) {
  __m512i msum = _mm512_setzero_si512();
  for (int p = 0; p < kPairs; ++p) msum = _mm512_dpwssd_epi32(msum, mins[p], _mm512_set1_epi32(load_i32(sums + 2 * p)));
  const __m512 dxv = _mm512_set1_ps(dx);
  acc = _mm512_fmadd_ps(part, _mm512_mul_ps(d, dxv), acc);
  return _mm512_fnmadd_ps(_mm512_cvtepi32_ps(msum), _mm512_mul_ps(dmin, dxv), acc);
}

// A format's kNibbles: its weights are the four nibble registers at
// nibbles(blk) alone (unpack_nibbles8_times16 applies). kMins: its weights
// are d·u + m (Q4_1, Q5_1; no offset, activations carry s = d·Σq).
struct Q4_0Format {
  static constexpr int64_t kBlock = kQ4_0Block;
  static constexpr int kOffset = kOffsetQ4_0;
  static constexpr bool kNibbles = true;
  static constexpr bool kMins = false;
  static const uint8_t* nibbles(const uint8_t* blk) { return blk + kLegacyQuants; }
  static void unpack(const uint8_t* blk, __m512i w[8]) { unpack_nibbles8(nibbles(blk), w); }
};

// Adds 0x10 to the bytes of w[g] whose bit is set in high-bit word g (Q5_0's
// layout, packed_impl.h: bit 4i+m of word g is byte 4i+m of lane register g).
inline void add_high_bits(const uint8_t* words, __m512i w[8]) {
  const __m512i bit4 = _mm512_set1_epi8(0x10);
  for (int g = 0; g < 8; ++g) {
    uint64_t high;
    std::memcpy(&high, words + 8 * g, 8);
    w[g] = _mm512_mask_add_epi8(w[g], _cvtu64_mask64(high), w[g], bit4);
  }
}

struct Q5_0Format {
  static constexpr int64_t kBlock = kQ5_0Block;
  static constexpr int kOffset = kOffsetQ5_0;
  static constexpr bool kNibbles = false;
  static constexpr bool kMins = false;
  static void unpack(const uint8_t* blk, __m512i w[8]) {
    unpack_nibbles8(blk + kLegacyQuants, w);
    add_high_bits(blk + kQ5_0High, w);
  }
};

struct Q8_0Format {
  static constexpr int64_t kBlock = kQ8_0Block;
  static constexpr int kOffset = kOffsetQ8_0;
  static constexpr bool kNibbles = false;
  static constexpr bool kMins = false;
  static void unpack(const uint8_t* blk, __m512i w[8]) {
    for (int g = 0; g < 8; ++g) w[g] = load512(blk + kLegacyQuants + 64 * g);
  }
};

struct Q4_1Format {
  static constexpr int64_t kBlock = kQ4_1Block;
  static constexpr int kOffset = 0;
  static constexpr bool kNibbles = true;
  static constexpr bool kMins = true;
  static const uint8_t* nibbles(const uint8_t* blk) { return blk + kLegacyMinQuants; }
  static void unpack(const uint8_t* blk, __m512i w[8]) { unpack_nibbles8(nibbles(blk), w); }
};

struct Q5_1Format {
  static constexpr int64_t kBlock = kQ5_1Block;
  static constexpr int kOffset = 0;
  static constexpr bool kNibbles = false;
  static constexpr bool kMins = true;
  static void unpack(const uint8_t* blk, __m512i w[8]) {
    unpack_nibbles8(blk + kLegacyMinQuants, w);
    add_high_bits(blk + kQ5_1High, w);
  }
};

// A block's lane registers, and one token's dot32 over them from `start`, in
// the form an NT-token tile of Format uses.
template <typename Format, int NT>
inline void unpack_block(const uint8_t* blk, __m512i w[8]) {
  if constexpr (Format::kNibbles && kHighNibblesTimes16<NT>) {
    unpack_nibbles8_times16(Format::nibbles(blk), w);
  } else {
    Format::unpack(blk, w);
  }
}
template <typename Format, int NT>
inline __m512i dot32_block(__m512i start, const __m512i w[8], const int8_t* x) {
  if constexpr (Format::kNibbles && kHighNibblesTimes16<NT>) {
    return dot32_times16(start, w, x);
  } else {
    return dot32(start, w, x);
  }
}

inline __mmask16 row_mask(int n_rows) { return static_cast<__mmask16>((1u << n_rows) - 1); }

// kLanes: as in q45k_tile.
template <typename Format, int NT, bool kStream, bool kLanes>
void legacy_tile(const uint8_t* group, const uint8_t* lanes, int64_t cols, const uint8_t* xp, int64_t xp_stride,
                 float* y, int64_t y_stride, int n_rows, PrefetchWindow next) {
  // Rows of the prepared layout: LegacyRow's sums, or Legacy1Row's s (kMins).
  using Row = std::conditional_t<Format::kMins, Legacy1Row, LegacyRow>;
  Row x[NT];
  __m512 acc[NT];
  for (int t = 0; t < NT; ++t) {
    if constexpr (Format::kMins) {
      x[t] = legacy1_row(xp + t * xp_stride, cols);
    } else {
      x[t] = legacy_row(xp + t * xp_stride, cols);
    }
    acc[t] = _mm512_setzero_ps();
  }
  SpreadPrefetch next_lines(next, cols / 32);
  const uint8_t* blk = group;
  for (int64_t b = 0; b < cols / 32; ++b, blk += Format::kBlock) {
    tile_prefetch<kStream>(blk, Format::kBlock, 0, 1, next_lines);
    const __m512 dw = load_f16x16(blk);
    // Token t's float work on its block sum.
    auto add_block = [&](int t, __m512i isum) {
      const __m512 scale = _mm512_mul_ps(dw, _mm512_set1_ps(x[t].d[b]));
      acc[t] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(isum), scale, acc[t]);
      if constexpr (Format::kMins) {
        acc[t] = _mm512_fmadd_ps(load_f16x16(blk + kLegacyMins), _mm512_set1_ps(x[t].s[b]), acc[t]);
      }
    };
    // Each token's sum starts at -offset·Σx (Σ u·x = Σ q·x + offset·Σx), or
    // at 0 for the types with mins (u = q).
    auto start = [&](int t) {
      if constexpr (Format::kMins) {
        return _mm512_setzero_si512();
      } else {
        return _mm512_set1_epi32(-Format::kOffset * x[t].sum[b]);
      }
    };
    if constexpr (kLanes) {
      __m512i isums[NT];
      const int8_t* xq[NT];
      for (int t = 0; t < NT; ++t) {
        isums[t] = start(t);
        xq[t] = x[t].q + 32 * b;
      }
      dot32_tokens_lanes_onto<NT>(lanes + 64 * 8 * b, xq, isums);
      for (int t = 0; t < NT; ++t) add_block(t, isums[t]);
    } else {
      __m512i w[8];
      unpack_block<Format, NT>(blk, w);
      for (int t = 0; t < NT; ++t) add_block(t, dot32_block<Format, NT>(start(t), w, x[t].q + 32 * b));
    }
  }
  for (int t = 0; t < NT; ++t) _mm512_mask_storeu_ps(y + t * y_stride, row_mask(n_rows), acc[t]);
}

// Q4_K, and Q5_K (kHigh: the fifth bit of each weight added from its words;
// u < 32 changes nothing else, the sums stay exact in int32).
// kLanes: the weights come unpacked from `lanes` (one lane register per 4
// columns, packed_walk.h), not from the group's nibbles.
template <bool kHigh, int NT, bool kStream, bool kLanes>
void q45k_tile(const uint8_t* group, const uint8_t* lanes, int64_t cols, const uint8_t* xp, int64_t xp_stride,
               float* y, int64_t y_stride, int n_rows, PrefetchWindow next) {
  constexpr int64_t kBlock = kHigh ? kQ5_KBlock : kQ4_KBlock;
  // Q5_K's fifth bit lands on bit 4 of each lane byte: its lanes keep u.
  constexpr bool kTimes16 = !kHigh && kHighNibblesTimes16<NT>;
  KRow x[NT];
  __m512 acc[NT];
  for (int t = 0; t < NT; ++t) {
    x[t] = k_row(xp + t * xp_stride, cols);
    acc[t] = _mm512_setzero_ps();
  }
  SpreadPrefetch next_lines(next, cols / 256 * 8);
  const uint8_t* blk = group;
  for (int64_t sb = 0; sb < cols / 256; ++sb, blk += kBlock) {
    // Σ_j sc_j·(Σ u·x) in float: a conversion and an FMA per token and
    // sub-block instead of vpmulld (2 µops) and an add.
    const __m512 d = load_f16x16(blk);
    __m512 part[NT];
    for (int t = 0; t < NT; ++t) part[t] = _mm512_setzero_ps();
    for (int j = 0; j < 8; ++j) {
      tile_prefetch<kStream>(blk, kBlock, j, 8, next_lines);
      const __m512 scale = _mm512_cvtepi32_ps(
          _mm512_cvtepu8_epi32(_mm_loadu_si128(reinterpret_cast<const __m128i*>(blk + kQ4_KScales + 16 * j))));
      __m512i s[NT];
      if constexpr (kLanes) {
        const int8_t* xq[NT];
        for (int t = 0; t < NT; ++t) xq[t] = x[t].q + 256 * sb + 32 * j;
        dot32_tokens_lanes<NT>(lanes + 64 * (64 * sb + 8 * j), xq, s);
        for (int t = 0; t < NT; ++t) part[t] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(s[t]), scale, part[t]);
        continue;
      }
      __m512i w[8];
      if constexpr (kTimes16) {
        unpack_nibbles8_times16(blk + kQ4_KQuants + 256 * j, w);
      } else {
        unpack_nibbles8(blk + kQ4_KQuants + 256 * j, w);
      }
      if constexpr (kHigh) add_high_bits(blk + kQ5_KHigh + 64 * j, w);
      if constexpr (NT <= 2) {
        // One token (decode) has nothing else to overlap with its chain: two.
        for (int t = 0; t < NT; ++t) {
          const int8_t* xq = x[t].q + 256 * sb + 32 * j;
          s[t] = kTimes16 ? dot32_times16(_mm512_setzero_si512(), w, xq) : dot32(_mm512_setzero_si512(), w, xq);
        }
      } else {
        const int8_t* xq[NT];
        for (int t = 0; t < NT; ++t) xq[t] = x[t].q + 256 * sb + 32 * j;
        dot32_tokens<NT>(w, xq, s);
      }
      for (int t = 0; t < NT; ++t) part[t] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(s[t]), scale, part[t]);
    }
    const __m512 dmin = load_f16x16(blk + kQ4_KDmin);
    // The mins' share after the scales' loop: its registers are not live
    // there, which leaves room for eight tokens' sums. The mins are widened
    // once for every token.
    __m512i mins[4];
    for (int p = 0; p < 4; ++p) {
      mins[p] = _mm512_cvtepu8_epi16(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(blk + kQ4_KMins + 32 * p)));
    }
    for (int t = 0; t < NT; ++t) acc[t] = add_super_block(acc[t], part[t], d, dmin, mins, x[t].sum32 + 8 * sb, x[t].d[sb]);
  }
  for (int t = 0; t < NT; ++t) _mm512_mask_storeu_ps(y + t * y_stride, row_mask(n_rows), acc[t]);
}

// (lo | (high & 0x30)) in one instruction: vpternlog truth table of A | (B & C).
constexpr int kOrAndMask = 0xF8;

// (a << 3) & 0x78 and (a >> 1) & 0x78: 8·u of a register's two 3-bit
// nibbles (Q3_K's u <= 7, so each nibble's top bit is clear).
inline void split_nibbles_times8(__m512i a, __m512i& lo, __m512i& hi) {
  const __m512i bits3to6 = _mm512_set1_epi8(0x78);
  lo = _mm512_and_si512(_mm512_slli_epi16(a, 3), bits3to6);
  hi = _mm512_and_si512(_mm512_srli_epi16(a, 1), bits3to6);
}

// The four lane registers of a Q6_K (kSixBit: u) or Q3_K sub-block (16
// columns; 8·u, see k16_tile).
template <bool kSixBit>
inline void unpack_k16_sub_block(const uint8_t* sub, __m512i w[4]) {
  if constexpr (!kSixBit) {
    split_nibbles_times8(load512(sub), w[0], w[1]);
    split_nibbles_times8(load512(sub + 64), w[2], w[3]);
  } else {
    split_nibbles(load512(sub), w[0], w[1]);
    split_nibbles(load512(sub + 64), w[2], w[3]);
    const __m512i bits45 = _mm512_set1_epi8(0x30);
    const __m512i high = load512(sub + 128);
    w[0] = _mm512_ternarylogic_epi32(w[0], _mm512_slli_epi16(high, 4), bits45, kOrAndMask);
    w[1] = _mm512_ternarylogic_epi32(w[1], _mm512_slli_epi16(high, 2), bits45, kOrAndMask);
    w[2] = _mm512_ternarylogic_epi32(w[2], high, bits45, kOrAndMask);
    w[3] = _mm512_ternarylogic_epi32(w[3], _mm512_srli_epi16(high, 2), bits45, kOrAndMask);
  }
}

// Q6_K (kSixBit), and Q3_K: its layout without the high bits (packed_impl.h).
// kLanes: as in q45k_tile.
template <bool kSixBit, int NT, bool kStream, bool kLanes>
void k16_tile(const uint8_t* group, const uint8_t* lanes, int64_t cols, const uint8_t* xp, int64_t xp_stride,
              float* y, int64_t y_stride, int n_rows, PrefetchWindow next) {
  using Layout = K16Layout<kSixBit>;
  KRow x[NT];
  __m512 acc[NT];
  for (int t = 0; t < NT; ++t) {
    x[t] = k_row(xp + t * xp_stride, cols);
    acc[t] = _mm512_setzero_ps();
  }
  SpreadPrefetch next_lines(next, cols / 256 * 8);
  const uint8_t* blk = group;
  for (int64_t sb = 0; sb < cols / 256; ++sb, blk += Layout::kBlock) {
    // Σ_j sc_j·(Σ u·x) in float, as in q45k_tile.
    __m512 part[NT];
    for (int t = 0; t < NT; ++t) part[t] = _mm512_setzero_ps();
    for (int p = 0; p < 8; ++p) {
      tile_prefetch<kStream>(blk, Layout::kBlock, p, 8, next_lines);
      // Row i's scales of sub-blocks 2p, 2p+1 as an int16 pair in lane i.
      const __m512i pair =
          _mm512_cvtepi8_epi16(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(blk + kQ6_KScales + 32 * p)));
      const __m512 scales[2] = {_mm512_cvtepi32_ps(_mm512_srai_epi32(_mm512_slli_epi32(pair, 16), 16)),
                                _mm512_cvtepi32_ps(_mm512_srai_epi32(pair, 16))};
      for (int h = 0; h < 2; ++h) {
        const int j = 2 * p + h;
        __m512i w[4];
        if constexpr (kLanes) {
          for (int g = 0; g < 4; ++g) w[g] = _mm512_load_si512(lanes + 64 * (64 * sb + 4 * j + g));
        } else {
          unpack_k16_sub_block<kSixBit>(blk + kQ6_KSubBlocks + Layout::kSubBlock * j, w);
        }
        for (int t = 0; t < NT; ++t) {
          const int8_t* xq = x[t].q + 256 * sb + 16 * j;
          // The chain starts from -32·Σx, so it ends at Σ (u - 32)·x, the
          // signed weights, and no offset correction follows (packed.h).
          // Q3_K's lanes hold 8·u: its chain ends at 8·Σ (u - 4)·x.
          const __m512i s = dot16_onto(_mm512_set1_epi32(x[t].k16_start[16 * sb + j]), w, xq);
          part[t] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(s), scales[h], part[t]);
        }
      }
    }
    const __m512 d = load_f16x16(blk);
    for (int t = 0; t < NT; ++t) {
      // Q3_K's sums are 8x the reference's: so are its float partial sums,
      // exactly (a power of two), and dx / 8 undoes it in the same product.
      const float dx = kSixBit ? x[t].d[sb] : x[t].d[sb] * 0.125f;
      acc[t] = _mm512_fmadd_ps(part[t], _mm512_mul_ps(d, _mm512_set1_ps(dx)), acc[t]);
    }
  }
  for (int t = 0; t < NT; ++t) _mm512_mask_storeu_ps(y + t * y_stride, row_mask(n_rows), acc[t]);
}

// The four lane registers of a Q2_K sub-block (16 columns): bit pair g of
// each byte.
inline void unpack_q2k_sub_block(const uint8_t* quants, __m512i w[4]) {
  const __m512i low2 = _mm512_set1_epi8(0x03);
  const __m512i v = load512(quants);
  w[0] = _mm512_and_si512(v, low2);
  w[1] = _mm512_and_si512(_mm512_srli_epi16(v, 2), low2);
  w[2] = _mm512_and_si512(_mm512_srli_epi16(v, 4), low2);
  w[3] = _mm512_and_si512(_mm512_srli_epi16(v, 6), low2);
}

// Q2_K: k16_tile's walk with unsigned 4-bit scales and Q4_K's mins (each
// sub-block's GGUF byte holds both). kLanes: as in q45k_tile.
template <int NT, bool kStream, bool kLanes>
void q2k_tile(const uint8_t* group, const uint8_t* lanes, int64_t cols, const uint8_t* xp, int64_t xp_stride,
              float* y, int64_t y_stride, int n_rows, PrefetchWindow next) {
  KRow x[NT];
  __m512 acc[NT];
  for (int t = 0; t < NT; ++t) {
    x[t] = k_row(xp + t * xp_stride, cols);
    acc[t] = _mm512_setzero_ps();
  }
  const __m512i low4 = _mm512_set1_epi16(0x0F);
  SpreadPrefetch next_lines(next, cols / 256 * 8);
  const uint8_t* blk = group;
  for (int64_t sb = 0; sb < cols / 256; ++sb, blk += kQ2_KBlock) {
    // Σ_j sc_j·(Σ u·x) in float, as in q45k_tile.
    __m512 part[NT];
    for (int t = 0; t < NT; ++t) part[t] = _mm512_setzero_ps();
    for (int p = 0; p < 8; ++p) {
      tile_prefetch<kStream>(blk, kQ2_KBlock, p, 8, next_lines);
      // Row i's scale-min bytes of sub-blocks 2p, 2p+1 as a 16-bit pair in lane i.
      const __m512i pair = _mm512_and_si512(
          _mm512_cvtepu8_epi16(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(blk + kQ2_KScales + 32 * p))),
          low4);
      const __m512 scales[2] = {_mm512_cvtepi32_ps(_mm512_and_si512(pair, _mm512_set1_epi32(0xFFFF))),
                                _mm512_cvtepi32_ps(_mm512_srli_epi32(pair, 16))};
      for (int h = 0; h < 2; ++h) {
        const int j = 2 * p + h;
        __m512i w[4];
        if constexpr (kLanes) {
          for (int g = 0; g < 4; ++g) w[g] = _mm512_load_si512(lanes + 64 * (64 * sb + 4 * j + g));
        } else {
          unpack_q2k_sub_block(blk + kQ2_KQuants + 64 * j, w);
        }
        for (int t = 0; t < NT; ++t) {
          const __m512i s = dot16(w, x[t].q + 256 * sb + 16 * j);
          part[t] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(s), scales[h], part[t]);
        }
      }
    }
    const __m512 d = load_f16x16(blk), dmin = load_f16x16(blk + kQ2_KDmin);
    // The mins' share after the scales' loop (as in q45k_tile), widened once
    // for every token: Σ_j m_j·(Σx over sub-block j) by int16 pairs.
    __m512i mins[8];
    for (int p = 0; p < 8; ++p) {
      mins[p] = _mm512_srli_epi16(
          _mm512_cvtepu8_epi16(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(blk + kQ2_KScales + 32 * p))), 4);
    }
    for (int t = 0; t < NT; ++t) acc[t] = add_super_block(acc[t], part[t], d, dmin, mins, x[t].bsum + 16 * sb, x[t].d[sb]);
  }
  for (int t = 0; t < NT; ++t) _mm512_mask_storeu_ps(y + t * y_stride, row_mask(n_rows), acc[t]);
}

// ---- float tiles (F16, BF16) ---------------------------------------------

// One column's 16 weights as floats (exact: f16 and bf16 widen to f32).
template <bool kBf16>
inline __m512 load_float16_column(const uint8_t* p) {
  const __m256i h = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(p));
  if constexpr (kBf16) {
    return _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_cvtepu16_epi32(h), 16));
  } else {
    return _mm512_cvtph_ps(h);
  }
}

// One FMA per column, token and 16 rows; the even and odd columns in two
// chains (packed.h's order), so even one token has two FMAs in flight.
template <bool kBf16, int NT, bool kStream>
void float16_tile(const uint8_t* group, int64_t cols, const uint8_t* xp, int64_t xp_stride, float* y,
                  int64_t y_stride, int n_rows, PrefetchWindow next) {
  const float* x[NT];
  __m512 even[NT], odd[NT];
  for (int t = 0; t < NT; ++t) {
    x[t] = reinterpret_cast<const float*>(xp + t * xp_stride);
    even[t] = odd[t] = _mm512_setzero_ps();
  }
  SpreadPrefetch next_lines(next, cols / 32);
  const uint8_t* blk = group;
  for (int64_t c0 = 0; c0 < cols; c0 += 32, blk += kFloat16Block) {
    tile_prefetch<kStream>(blk, kFloat16Block, 0, 1, next_lines);
    for (int k = 0; k < 32; k += 2) {
      const __m512 w0 = load_float16_column<kBf16>(blk + kFloat16Column * k);
      const __m512 w1 = load_float16_column<kBf16>(blk + kFloat16Column * (k + 1));
      for (int t = 0; t < NT; ++t) {
        even[t] = _mm512_fmadd_ps(w0, _mm512_set1_ps(x[t][c0 + k]), even[t]);
        odd[t] = _mm512_fmadd_ps(w1, _mm512_set1_ps(x[t][c0 + k + 1]), odd[t]);
      }
    }
  }
  for (int t = 0; t < NT; ++t) {
    _mm512_mask_storeu_ps(y + t * y_stride, row_mask(n_rows), _mm512_add_ps(even[t], odd[t]));
  }
}

// ---- groups unpacked once into lane registers (gemm_tokens' lanes) --------

template <typename Format>
void unpack_legacy_lanes(const uint8_t* group, int64_t cols, uint8_t* lanes) {
  const uint8_t* blk = group;
  for (int64_t b = 0; b < cols / 32; ++b, blk += Format::kBlock, lanes += 8 * 64) {
    __m512i w[8];
    Format::unpack(blk, w);
    for (int g = 0; g < 8; ++g) _mm512_store_si512(lanes + 64 * g, w[g]);
  }
}

void unpack_q2k_lanes(const uint8_t* group, int64_t cols, uint8_t* lanes) {
  const uint8_t* blk = group;
  for (int64_t sb = 0; sb < cols / 256; ++sb, blk += kQ2_KBlock) {
    for (int j = 0; j < 16; ++j, lanes += 4 * 64) {
      __m512i w[4];
      unpack_q2k_sub_block(blk + kQ2_KQuants + 64 * j, w);
      for (int g = 0; g < 4; ++g) _mm512_store_si512(lanes + 64 * g, w[g]);
    }
  }
}

template <bool kHigh>
void unpack_q45k_lanes(const uint8_t* group, int64_t cols, uint8_t* lanes) {
  constexpr int64_t kBlock = kHigh ? kQ5_KBlock : kQ4_KBlock;
  const uint8_t* blk = group;
  for (int64_t sb = 0; sb < cols / 256; ++sb, blk += kBlock) {
    for (int j = 0; j < 8; ++j, lanes += 8 * 64) {
      __m512i w[8];
      unpack_nibbles8(blk + kQ4_KQuants + 256 * j, w);
      if constexpr (kHigh) add_high_bits(blk + kQ5_KHigh + 64 * j, w);
      for (int g = 0; g < 8; ++g) _mm512_store_si512(lanes + 64 * g, w[g]);
    }
  }
}

template <bool kSixBit>
void unpack_k16_lanes(const uint8_t* group, int64_t cols, uint8_t* lanes) {
  using Layout = K16Layout<kSixBit>;
  const uint8_t* blk = group;
  for (int64_t sb = 0; sb < cols / 256; ++sb, blk += Layout::kBlock) {
    for (int j = 0; j < 16; ++j, lanes += 4 * 64) {
      __m512i w[4];
      unpack_k16_sub_block<kSixBit>(blk + kQ6_KSubBlocks + Layout::kSubBlock * j, w);
      for (int g = 0; g < 4; ++g) _mm512_store_si512(lanes + 64 * g, w[g]);
    }
  }
}

// ---- row-scaled tiles (one scale per weight row and per token) ------------
// Every block adds its unsigned-weight dot products to one int32 sum per row
// and token over the whole row; the offset correction and the two scales come
// once at the end, so a block costs only its unpacking and vpdpbusd. The sums
// are exact: |Σ u·x| <= 65536 · 255 · 127 < 2^31 (kRowScaledMaxCols, Q8_0's
// u = q + 128; activations in [-127, 127]), and the wrapping int32 arithmetic
// gives the exact total whenever the total itself fits, which it does.

struct Q4_0RowFormat {
  static constexpr int64_t kBlock = kQ4_0RowBlock;
  static constexpr int kOffset = kOffsetQ4_0;
  static constexpr bool kNibbles = true;
  static const uint8_t* nibbles(const uint8_t* blk) { return blk; }
  static void unpack(const uint8_t* blk, __m512i w[8]) { unpack_nibbles8(blk, w); }
};

struct Q8_0RowFormat {
  static constexpr int64_t kBlock = kQ8_0RowBlock;
  static constexpr int kOffset = kOffsetQ8_0;
  static constexpr bool kNibbles = false;
  static void unpack(const uint8_t* blk, __m512i w[8]) {
    for (int g = 0; g < 8; ++g) w[g] = load512(blk + 64 * g);
  }
};

template <typename Format, int NT, bool kStream>
void row_scaled_tile(const uint8_t* group, int64_t cols, const uint8_t* xp, int64_t xp_stride, float* y,
                     int64_t y_stride, int n_rows, PrefetchWindow next) {
  TokenRow x[NT];
  __m512i isum[NT];
  for (int t = 0; t < NT; ++t) {
    x[t] = token_row(xp + t * xp_stride, cols);
    isum[t] = _mm512_setzero_si512();
  }
  SpreadPrefetch next_lines(next, cols / 32);
  const uint8_t* blk = group + kRowScaledHeader;
  for (int64_t b = 0; b < cols / 32; ++b, blk += Format::kBlock) {
    tile_prefetch<kStream>(blk, Format::kBlock, 0, 1, next_lines);
    __m512i w[8];
    unpack_block<Format, NT>(blk, w);
    for (int t = 0; t < NT; ++t) isum[t] = dot32_block<Format, NT>(isum[t], w, x[t].q + 32 * b);
  }
  // float(Σ u·x - offset · Σx) · (d_w · d_x): the scalar reference's order.
  const __m512 dw = _mm512_loadu_ps(group);
  for (int t = 0; t < NT; ++t) {
    const __m512i total = _mm512_sub_epi32(isum[t], _mm512_set1_epi32(Format::kOffset * x[t].sum));
    const __m512 out = _mm512_mul_ps(_mm512_cvtepi32_ps(total), _mm512_mul_ps(dw, _mm512_set1_ps(x[t].d)));
    _mm512_mask_storeu_ps(y + t * y_stride, row_mask(n_rows), out);
  }
}

template <typename Format>
struct LegacyTile {
  TESSERA_PACKED_LANE_TILE(Of, (legacy_tile<Format, NT, kStream, kLanes>), cols / 32 * Format::kBlock,
                           unpack_legacy_lanes<Format>)
};
template <typename Format>
struct RowScaledTile {
  TESSERA_PACKED_TILE(Of, (row_scaled_tile<Format, NT, kStream>), kRowScaledHeader + cols / 32 * Format::kBlock)
};
TESSERA_PACKED_LANE_TILE(Q4KTile, (q45k_tile<false, NT, kStream, kLanes>), cols / 256 * kQ4_KBlock,
                         unpack_q45k_lanes<false>)
TESSERA_PACKED_LANE_TILE(Q5KTile, (q45k_tile<true, NT, kStream, kLanes>), cols / 256 * kQ5_KBlock,
                         unpack_q45k_lanes<true>)
TESSERA_PACKED_LANE_TILE(Q6KTile, (k16_tile<true, NT, kStream, kLanes>), cols / 256 * kQ6_KBlock,
                         unpack_k16_lanes<true>)
TESSERA_PACKED_LANE_TILE(Q3KTile, (k16_tile<false, NT, kStream, kLanes>), cols / 256 * kQ3_KBlock,
                         unpack_k16_lanes<false>)
TESSERA_PACKED_TILE(F16Tile, (float16_tile<false, NT, kStream>), cols / 32 * kFloat16Block)
TESSERA_PACKED_TILE(BF16Tile, (float16_tile<true, NT, kStream>), cols / 32 * kFloat16Block)
TESSERA_PACKED_LANE_TILE(Q2KTile, (q2k_tile<NT, kStream, kLanes>), cols / 256 * kQ2_KBlock, unpack_q2k_lanes)
#undef TESSERA_PACKED_TILE
#undef TESSERA_PACKED_LANE_TILE

}  // namespace

void packed_gemm_q4_0(const uint8_t* g, int64_t c, const uint8_t* xp, int64_t xs, int64_t n, float* y, int64_t ys,
                      int rows) {
  gemm_tokens<LegacyTile<Q4_0Format>::Of, 8, 8, 8>(g, c, xp, xs, n, y, ys, rows);
}
void packed_gemm_q5_0(const uint8_t* g, int64_t c, const uint8_t* xp, int64_t xs, int64_t n, float* y, int64_t ys,
                      int rows) {
  gemm_tokens<LegacyTile<Q5_0Format>::Of, 8, 8, 8>(g, c, xp, xs, n, y, ys, rows);
}
void packed_gemm_q8_0(const uint8_t* g, int64_t c, const uint8_t* xp, int64_t xs, int64_t n, float* y, int64_t ys,
                      int rows) {
  gemm_tokens<LegacyTile<Q8_0Format>::Of, 8>(g, c, xp, xs, n, y, ys, rows);
}
void packed_gemm_q4_1(const uint8_t* g, int64_t c, const uint8_t* xp, int64_t xs, int64_t n, float* y, int64_t ys,
                      int rows) {
  gemm_tokens<LegacyTile<Q4_1Format>::Of, 8, 8, 8>(g, c, xp, xs, n, y, ys, rows);
}
void packed_gemm_q5_1(const uint8_t* g, int64_t c, const uint8_t* xp, int64_t xs, int64_t n, float* y, int64_t ys,
                      int rows) {
  gemm_tokens<LegacyTile<Q5_1Format>::Of, 8, 8, 8>(g, c, xp, xs, n, y, ys, rows);
}
void packed_gemm_q4_k(const uint8_t* g, int64_t c, const uint8_t* xp, int64_t xs, int64_t n, float* y, int64_t ys,
                      int rows) {
  gemm_tokens<Q4KTile, 6, 8, 8>(g, c, xp, xs, n, y, ys, rows);
}
void packed_gemm_q5_k(const uint8_t* g, int64_t c, const uint8_t* xp, int64_t xs, int64_t n, float* y, int64_t ys,
                      int rows) {
  gemm_tokens<Q5KTile, 6, 8, 8>(g, c, xp, xs, n, y, ys, rows);
}
void packed_gemm_q6_k(const uint8_t* g, int64_t c, const uint8_t* xp, int64_t xs, int64_t n, float* y, int64_t ys,
                      int rows) {
  gemm_tokens<Q6KTile, 8, 8, 8>(g, c, xp, xs, n, y, ys, rows);
}
void packed_gemm_q3_k(const uint8_t* g, int64_t c, const uint8_t* xp, int64_t xs, int64_t n, float* y, int64_t ys,
                      int rows) {
  gemm_tokens<Q3KTile, 8, 8, 8>(g, c, xp, xs, n, y, ys, rows);
}

void packed_gemm_q2_k(const uint8_t* g, int64_t c, const uint8_t* xp, int64_t xs, int64_t n, float* y, int64_t ys,
                      int rows) {
  gemm_tokens<Q2KTile, 8, 8, 8>(g, c, xp, xs, n, y, ys, rows);
}

void packed_gemm_f16(const uint8_t* g, int64_t c, const uint8_t* xp, int64_t xs, int64_t n, float* y, int64_t ys,
                     int rows) {
  gemm_tokens<F16Tile, 12, 12>(g, c, xp, xs, n, y, ys, rows);
}
void packed_gemm_bf16(const uint8_t* g, int64_t c, const uint8_t* xp, int64_t xs, int64_t n, float* y, int64_t ys,
                      int rows) {
  gemm_tokens<BF16Tile, 12, 12>(g, c, xp, xs, n, y, ys, rows);
}

void row_scaled_gemm_q4_0(const uint8_t* g, int64_t c, const uint8_t* xp, int64_t xs, int64_t n, float* y,
                          int64_t ys, int rows) {
  gemm_tokens<RowScaledTile<Q4_0RowFormat>::Of, 8>(g, c, xp, xs, n, y, ys, rows);
}
void row_scaled_gemm_q8_0(const uint8_t* g, int64_t c, const uint8_t* xp, int64_t xs, int64_t n, float* y,
                          int64_t ys, int rows) {
  gemm_tokens<RowScaledTile<Q8_0RowFormat>::Of, 8>(g, c, xp, xs, n, y, ys, rows);
}

}  // namespace tessera::avx512
