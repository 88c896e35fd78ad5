// AVX2 tiled attention (attention_tile.h), the AVX-512 kernel's algorithm on
// eight-lane registers: scores and the softmax state keep the tile's rows in
// lanes (up to four registers of 8 rows), the weighted sum of V keeps the head
// dimension in lanes. Every lane performs the scalar reference's operations in
// its order, so results equal attention_tile_reference (and therefore the
// AVX-512 kernel) bit for bit.
#include <immintrin.h>

#include <algorithm>
#include <climits>
#include <cmath>

#include "kernels/attention_tile.h"
#include "kernels/attention_tile_impl.h"
#include "kernels/ggml_vec_math_impl.h"
#include "quant/dequantize.h"

namespace tessera {

namespace {

using namespace detail;

// ggml_expf_lane_avx512 on eight lanes: ggml's polynomial p, then p·2^n with a
// single rounding as vscalefps gives it. AVX2 has no scalef: 2^n is applied as
// two exact powers of two, n1 = clamp(n, -125, 127) first (p·2^n1 stays a
// normal float, so that product is exact) and n2 = n - n1 (|n2| <= 67) second,
// whose product is the only rounding.
__m256 expf8(__m256 x) {
  const __m256 z = _mm256_fmadd_ps(x, _mm256_set1_ps(kExpLog2e), _mm256_set1_ps(kExpRound));
  const __m256 n = _mm256_sub_ps(z, _mm256_set1_ps(kExpRound));
  const __m256 b = _mm256_fnmadd_ps(n, _mm256_set1_ps(kExpLn2Lo), _mm256_fnmadd_ps(n, _mm256_set1_ps(kExpLn2Hi), x));
  const __m256 u = _mm256_mul_ps(b, b);
  const __m256 p = _mm256_fmadd_ps(
      _mm256_fmadd_ps(_mm256_fmadd_ps(_mm256_set1_ps(kExpP5), b, _mm256_set1_ps(kExpP4)), u,
                      _mm256_fmadd_ps(_mm256_set1_ps(kExpP3), b, _mm256_set1_ps(kExpP2))),
      u, _mm256_fmadd_ps(_mm256_set1_ps(kExpP1), b, _mm256_set1_ps(1.0f)));
  const __m256 n1 = _mm256_min_ps(_mm256_max_ps(n, _mm256_set1_ps(-125.0f)), _mm256_set1_ps(127.0f));
  const __m256 n2 = _mm256_sub_ps(n, n1);
  const auto pow2 = [](__m256 k) {
    return _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_add_epi32(_mm256_cvtps_epi32(k), _mm256_set1_epi32(127)), 23));
  };
  const __m256 scaled = _mm256_mul_ps(_mm256_mul_ps(p, pow2(n1)), pow2(n2));
  const __m256 abs_n = _mm256_andnot_ps(_mm256_set1_ps(-0.0f), n);
  const __m256 out_of_range = _mm256_cmp_ps(abs_n, _mm256_set1_ps(192.0f), _CMP_GT_OQ);
  if (_mm256_movemask_ps(out_of_range) == 0) return scaled;
  const __m256 non_positive = _mm256_cmp_ps(n, _mm256_setzero_ps(), _CMP_LE_OQ);
  const __m256 limit = _mm256_blendv_ps(_mm256_set1_ps(INFINITY), _mm256_setzero_ps(), non_positive);
  return _mm256_blendv_ps(scaled, limit, out_of_range);
}

void to_f32(const uint16_t* src, float* dst, int64_t n) {
  int64_t i = 0;
  for (; i + 8 <= n; i += 8) {
    _mm256_storeu_ps(dst + i, _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(src + i))));
  }
  for (; i < n; ++i) dst[i] = fp16_to_fp32(src[i]);
}

// Scores of keys [j0, j0 + KS) for R registers of rows: st[j][r] = (q_r · k_j) * scale.
// KS * R = 8 keeps the accumulators in eight registers.
template <int R, int KS>
void scores(const float* qt, const float* k, int64_t kstride, int64_t dk, __m256 scale, float* st) {
  __m256 acc[KS][R];
  for (int kk = 0; kk < KS; ++kk) {
    for (int r = 0; r < R; ++r) acc[kk][r] = _mm256_setzero_ps();
  }
  for (int64_t d = 0; d < dk; ++d) {
    __m256 qv[R];
    for (int r = 0; r < R; ++r) qv[r] = _mm256_loadu_ps(qt + d * kMaxTileRows + 8 * r);
    for (int kk = 0; kk < KS; ++kk) {
      const __m256 kd = _mm256_set1_ps(k[kk * kstride + d]);
      for (int r = 0; r < R; ++r) acc[kk][r] = _mm256_fmadd_ps(qv[r], kd, acc[kk][r]);
    }
  }
  for (int kk = 0; kk < KS; ++kk) {
    for (int r = 0; r < R; ++r) _mm256_storeu_ps(st + kk * kMaxTileRows + 8 * r, _mm256_mul_ps(acc[kk][r], scale));
  }
}

// o[i + rr][e0 + 8q ..] += Σ_j w[j][i + rr] * v[j][e0 + 8q ..] for NR rows and
// NE registers of the head dimension, in order of j.
template <int NR, int NE>
void weighted_values(const float* w, const float* v, int64_t dv, int64_t nk, int i, int64_t e0, float* o) {
  __m256 acc[NR][NE];
  for (int rr = 0; rr < NR; ++rr) {
    for (int q = 0; q < NE; ++q) acc[rr][q] = _mm256_loadu_ps(o + (i + rr) * dv + e0 + 8 * q);
  }
  for (int64_t j = 0; j < nk; ++j) {
    __m256 vv[NE];
    for (int q = 0; q < NE; ++q) vv[q] = _mm256_loadu_ps(v + j * dv + e0 + 8 * q);
    for (int rr = 0; rr < NR; ++rr) {
      const __m256 p = _mm256_set1_ps(w[j * kMaxTileRows + i + rr]);
      for (int q = 0; q < NE; ++q) acc[rr][q] = _mm256_fmadd_ps(p, vv[q], acc[rr][q]);
    }
  }
  for (int rr = 0; rr < NR; ++rr) {
    for (int q = 0; q < NE; ++q) _mm256_storeu_ps(o + (i + rr) * dv + e0 + 8 * q, acc[rr][q]);
  }
}

template <int NR>
void weighted_values_rows(const float* w, const float* v, int64_t dv, int64_t nk, int i, float* o) {
  int64_t e0 = 0;
  for (; e0 + 32 <= dv; e0 += 32) weighted_values<NR, 4>(w, v, dv, nk, i, e0, o);
  for (; e0 < dv; e0 += 8) weighted_values<NR, 1>(w, v, dv, nk, i, e0, o);
}

template <int R>
void tile_kernel(const AttentionTile& t, float* scratch) {
  constexpr int kKeysPerStep = 8 / R;
  const AttentionScratch s(scratch, t.head_dim_k, t.head_dim_v);
  const int64_t dk = t.head_dim_k;
  const int64_t dv = t.head_dim_v;
  const int64_t kstride = AttentionScratch::round16(dk);
  const int n = t.n_rows;

  // Padding lanes (rows >= n) have an empty key range: always masked.
  alignas(32) int32_t first[kMaxTileRows], last[kMaxTileRows];
  for (int r = 0; r < 8 * R; ++r) {
    first[r] = r < n ? t.first[r] : INT_MAX;
    last[r] = r < n ? t.last[r] : INT_MIN;
  }
  for (int64_t d = 0; d < dk; ++d) {
    for (int r = 0; r < 8 * R; ++r) s.qt[d * kMaxTileRows + r] = r < n ? fp16_to_fp32(fp32_to_fp16(t.q[r][d])) : 0.0f;
  }
  const __m256 scale = _mm256_set1_ps(t.scale);
  const __m256 minus_inf = _mm256_set1_ps(-INFINITY);
  const __m256 one = _mm256_set1_ps(1.0f);
  alignas(32) float correction[kMaxTileRows];
  alignas(32) float lanes_m[kMaxTileRows], lanes_l[kMaxTileRows];
  const AttentionState total = s.total(t);

  const int64_t key_end = t.key_begin + t.n_keys;
  for (int64_t chunk = t.key_begin; chunk < key_end;) {
    const int64_t chunk_end = std::min(key_end, (chunk / kKeyChunk + 1) * kKeyChunk);
    const bool first_chunk = chunk == t.key_begin;
    const AttentionState cur = first_chunk ? total : AttentionState{s.o, s.chunk_m, s.chunk_l};
    std::fill(cur.o, cur.o + n * dv, 0.0f);
    __m256 m[R], l[R];
    for (int r = 0; r < R; ++r) {
      m[r] = minus_inf;
      l[r] = _mm256_setzero_ps();
    }
    for (int64_t block = chunk; block < chunk_end; block += kKeyBlock) {
      const int64_t nk = std::min(kKeyBlock, chunk_end - block);
      const int64_t nk_padded = (nk + kKeysPerStep - 1) / kKeysPerStep * kKeysPerStep;
      for (int64_t j = 0; j < nk; ++j) {
        to_f32(t.k[block - t.key_begin + j], s.k + j * kstride, dk);
        to_f32(t.v[block - t.key_begin + j], s.v + j * dv, dv);
      }
      // Padding keys give finite scores (zero rows) that the mask then drops.
      std::fill(s.k + nk * kstride, s.k + nk_padded * kstride, 0.0f);

      for (int64_t j0 = 0; j0 < nk_padded; j0 += kKeysPerStep) {
        scores<R, kKeysPerStep>(s.qt, s.k + j0 * kstride, kstride, dk, scale, s.st + j0 * kMaxTileRows);
      }
      if (t.softcap > 0.0f) {
        for (int64_t i = 0; i < nk * kMaxTileRows; ++i) s.st[i] = t.softcap * std::tanh(s.st[i] / t.softcap);
      }
      for (int r = 0; r < R; ++r) {
        const __m256i lo = _mm256_load_si256(reinterpret_cast<const __m256i*>(first + 8 * r));
        const __m256i hi = _mm256_load_si256(reinterpret_cast<const __m256i*>(last + 8 * r));
        __m256 block_max = minus_inf;
        for (int64_t j = 0; j < nk; ++j) {
          float* row = s.st + j * kMaxTileRows + 8 * r;
          const __m256i pos = _mm256_set1_epi32(static_cast<int32_t>(block + j));
          // Valid where first <= pos <= last: neither first > pos nor pos > last.
          const __m256i invalid = _mm256_or_si256(_mm256_cmpgt_epi32(lo, pos), _mm256_cmpgt_epi32(pos, hi));
          const __m256 score = _mm256_blendv_ps(_mm256_loadu_ps(row), minus_inf, _mm256_castsi256_ps(invalid));
          _mm256_storeu_ps(row, score);
          block_max = _mm256_max_ps(block_max, score);
        }
        const __m256 m_new = _mm256_max_ps(m[r], block_max);
        const __m256 live = _mm256_cmp_ps(m_new, minus_inf, _CMP_NEQ_OQ);
        const __m256 unchanged = _mm256_cmp_ps(m_new, m[r], _CMP_EQ_OQ);
        const __m256 c = _mm256_blendv_ps(expf8(_mm256_sub_ps(m[r], m_new)), one, unchanged);
        __m256 sum = _mm256_setzero_ps();
        for (int64_t j = 0; j < nk; ++j) {
          float* row = s.st + j * kMaxTileRows + 8 * r;
          const __m256 p = _mm256_and_ps(live, expf8(_mm256_sub_ps(_mm256_loadu_ps(row), m_new)));
          _mm256_storeu_ps(row, p);
          sum = _mm256_add_ps(sum, p);
        }
        l[r] = _mm256_add_ps(_mm256_mul_ps(l[r], c), sum);
        m[r] = m_new;
        _mm256_store_ps(correction + 8 * r, c);
      }
      for (int i = 0; i < n; ++i) {
        if (correction[i] == 1.0f) continue;
        const __m256 c = _mm256_set1_ps(correction[i]);
        for (int64_t e = 0; e < dv; e += 8) {
          _mm256_storeu_ps(cur.o + i * dv + e, _mm256_mul_ps(_mm256_loadu_ps(cur.o + i * dv + e), c));
        }
      }
      int i = 0;
      for (; i + 2 <= n; i += 2) weighted_values_rows<2>(s.st, s.v, dv, nk, i, cur.o);
      for (; i < n; ++i) weighted_values_rows<1>(s.st, s.v, dv, nk, i, cur.o);
    }
    for (int r = 0; r < R; ++r) {
      _mm256_store_ps(lanes_m + 8 * r, m[r]);
      _mm256_store_ps(lanes_l + 8 * r, l[r]);
    }
    std::copy(lanes_m, lanes_m + n, cur.m);
    std::copy(lanes_l, lanes_l + n, cur.l);
    if (!first_chunk) attention_state_merge(n, dv, cur, total);
    chunk = chunk_end;
  }
  if (t.partial == nullptr) attention_state_finish(n, dv, total, t.out);
}

}  // namespace

void attention_tile_avx2(const AttentionTile& t, float* scratch) {
  if (t.n_rows <= 8) {
    tile_kernel<1>(t, scratch);
  } else if (t.n_rows <= 16) {
    tile_kernel<2>(t, scratch);
  } else {
    tile_kernel<4>(t, scratch);
  }
}

}  // namespace tessera
