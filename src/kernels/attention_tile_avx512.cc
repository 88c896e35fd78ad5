// AVX-512 tiled attention (attention_tile.h). Scores and the softmax state
// keep the tile's rows in SIMD lanes (one or two registers of 16 rows), so
// masking, the running max and the correction factors are lane-wise; the
// weighted sum of V keeps the head dimension in lanes and broadcasts one
// weight per row. Keys and values are converted to f32 once per block and
// reused by every row of the tile.
// g++ 12's AVX-512 headers warn about their own "undefined" registers (GCC bug
// 105593, as in vec_dot_avx512.cc).
#pragma GCC diagnostic ignored "-Wuninitialized"
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"

#include <immintrin.h>

#include <algorithm>
#include <climits>
#include <cmath>

#include "kernels/attention_tile.h"
#include "kernels/attention_tile_impl.h"
#include "kernels/expf_avx512.h"
#include "quant/dequantize.h"

namespace tessera {

namespace {

using detail::expf16;

constexpr int kKeysPerStep = 8;  // keys whose scores one register block computes

void to_f32(const uint16_t* src, float* dst, int64_t n) {
  int64_t i = 0;
  for (; i + 16 <= n; i += 16) {
    _mm512_storeu_ps(dst + i, _mm512_cvtph_ps(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(src + i))));
  }
  for (; i < n; ++i) dst[i] = fp16_to_fp32(src[i]);
}

// Scores of keys [j0, j0 + 8) for R registers of rows: st[j][r] = (q_r · k_j) * scale.
template <int R>
void scores8(const float* qt, const float* k, int64_t kstride, int64_t dk, __m512 scale, float* st) {
  __m512 acc[kKeysPerStep][R];
  for (int kk = 0; kk < kKeysPerStep; ++kk) {
    for (int r = 0; r < R; ++r) acc[kk][r] = _mm512_setzero_ps();
  }
  for (int64_t d = 0; d < dk; ++d) {
    __m512 qv[R];
    for (int r = 0; r < R; ++r) qv[r] = _mm512_loadu_ps(qt + d * kMaxTileRows + 16 * r);
    for (int kk = 0; kk < kKeysPerStep; ++kk) {
      const __m512 kd = _mm512_set1_ps(k[kk * kstride + d]);
      for (int r = 0; r < R; ++r) acc[kk][r] = _mm512_fmadd_ps(qv[r], kd, acc[kk][r]);
    }
  }
  for (int kk = 0; kk < kKeysPerStep; ++kk) {
    for (int r = 0; r < R; ++r) _mm512_storeu_ps(st + kk * kMaxTileRows + 16 * r, _mm512_mul_ps(acc[kk][r], scale));
  }
}

// o[i + rr][e0 + 16q ..] += Σ_j w[j][i + rr] * v[j][e0 + 16q ..] for NR rows
// and NE registers of the head dimension, in order of j.
template <int NR, int NE>
void weighted_values(const float* w, const float* v, int64_t dv, int64_t nk, int i, int64_t e0, float* o) {
  __m512 acc[NR][NE];
  for (int rr = 0; rr < NR; ++rr) {
    for (int q = 0; q < NE; ++q) acc[rr][q] = _mm512_loadu_ps(o + (i + rr) * dv + e0 + 16 * q);
  }
  for (int64_t j = 0; j < nk; ++j) {
    __m512 vv[NE];
    for (int q = 0; q < NE; ++q) vv[q] = _mm512_loadu_ps(v + j * dv + e0 + 16 * q);
    for (int rr = 0; rr < NR; ++rr) {
      const __m512 p = _mm512_set1_ps(w[j * kMaxTileRows + i + rr]);
      for (int q = 0; q < NE; ++q) acc[rr][q] = _mm512_fmadd_ps(p, vv[q], acc[rr][q]);
    }
  }
  for (int rr = 0; rr < NR; ++rr) {
    for (int q = 0; q < NE; ++q) _mm512_storeu_ps(o + (i + rr) * dv + e0 + 16 * q, acc[rr][q]);
  }
}

template <int NR>
void weighted_values_rows(const float* w, const float* v, int64_t dv, int64_t nk, int i, float* o) {
  int64_t e0 = 0;
  for (; e0 + 64 <= dv; e0 += 64) weighted_values<NR, 4>(w, v, dv, nk, i, e0, o);
  for (; e0 < dv; e0 += 16) weighted_values<NR, 1>(w, v, dv, nk, i, e0, o);
}

template <int R>
void tile_kernel(const AttentionTile& t, float* scratch) {
  const AttentionScratch s(scratch, t.head_dim_k, t.head_dim_v);
  const int64_t dk = t.head_dim_k;
  const int64_t dv = t.head_dim_v;
  const int64_t kstride = AttentionScratch::round16(dk);
  const int n = t.n_rows;

  // Padding lanes (rows >= n) have an empty key range: always masked.
  alignas(64) int32_t first[kMaxTileRows], last[kMaxTileRows];
  for (int r = 0; r < 16 * R; ++r) {
    first[r] = r < n ? t.first[r] : INT_MAX;
    last[r] = r < n ? t.last[r] : INT_MIN;
  }
  for (int64_t d = 0; d < dk; ++d) {
    for (int r = 0; r < 16 * R; ++r) s.qt[d * kMaxTileRows + r] = r < n ? fp16_to_fp32(fp32_to_fp16(t.q[r][d])) : 0.0f;
  }
  const __m512 scale = _mm512_set1_ps(t.scale);
  const __m512 minus_inf = _mm512_set1_ps(-INFINITY);
  alignas(64) float correction[kMaxTileRows];
  alignas(64) float lanes_m[kMaxTileRows], lanes_l[kMaxTileRows];
  const AttentionState total = s.total(t);

  const int64_t key_end = t.key_begin + t.n_keys;
  for (int64_t chunk = t.key_begin; chunk < key_end;) {
    const int64_t chunk_end = std::min(key_end, (chunk / kKeyChunk + 1) * kKeyChunk);
    const bool first_chunk = chunk == t.key_begin;
    const AttentionState cur = first_chunk ? total : AttentionState{s.o, s.chunk_m, s.chunk_l};
    std::fill(cur.o, cur.o + n * dv, 0.0f);
    __m512 m[R], l[R];
    for (int r = 0; r < R; ++r) {
      m[r] = minus_inf;
      l[r] = _mm512_setzero_ps();
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
        scores8<R>(s.qt, s.k + j0 * kstride, kstride, dk, scale, s.st + j0 * kMaxTileRows);
      }
      if (t.softcap > 0.0f) {
        for (int64_t i = 0; i < nk * kMaxTileRows; ++i) s.st[i] = t.softcap * std::tanh(s.st[i] / t.softcap);
      }
      for (int r = 0; r < R; ++r) {
        const __m512i lo = _mm512_load_si512(first + 16 * r);
        const __m512i hi = _mm512_load_si512(last + 16 * r);
        __m512 block_max = minus_inf;
        for (int64_t j = 0; j < nk; ++j) {
          float* row = s.st + j * kMaxTileRows + 16 * r;
          const __m512i pos = _mm512_set1_epi32(static_cast<int32_t>(block + j));
          const __mmask16 valid = _mm512_cmpge_epi32_mask(pos, lo) & _mm512_cmple_epi32_mask(pos, hi);
          const __m512 score = _mm512_mask_blend_ps(valid, minus_inf, _mm512_loadu_ps(row));
          _mm512_storeu_ps(row, score);
          block_max = _mm512_max_ps(block_max, score);
        }
        const __m512 m_new = _mm512_max_ps(m[r], block_max);
        const __mmask16 live = _mm512_cmp_ps_mask(m_new, minus_inf, _CMP_NEQ_OQ);
        const __mmask16 unchanged = _mm512_cmp_ps_mask(m_new, m[r], _CMP_EQ_OQ);
        const __m512 c = _mm512_mask_blend_ps(unchanged, expf16(_mm512_sub_ps(m[r], m_new)), _mm512_set1_ps(1.0f));
        __m512 sum = _mm512_setzero_ps();
        for (int64_t j = 0; j < nk; ++j) {
          float* row = s.st + j * kMaxTileRows + 16 * r;
          const __m512 p = _mm512_maskz_mov_ps(live, expf16(_mm512_sub_ps(_mm512_loadu_ps(row), m_new)));
          _mm512_storeu_ps(row, p);
          sum = _mm512_add_ps(sum, p);
        }
        l[r] = _mm512_add_ps(_mm512_mul_ps(l[r], c), sum);
        m[r] = m_new;
        _mm512_store_ps(correction + 16 * r, c);
      }
      for (int i = 0; i < n; ++i) {
        if (correction[i] == 1.0f) continue;
        const __m512 c = _mm512_set1_ps(correction[i]);
        for (int64_t e = 0; e < dv; e += 16) {
          _mm512_storeu_ps(cur.o + i * dv + e, _mm512_mul_ps(_mm512_loadu_ps(cur.o + i * dv + e), c));
        }
      }
      int i = 0;
      for (; i + 4 <= n; i += 4) weighted_values_rows<4>(s.st, s.v, dv, nk, i, cur.o);
      for (; i < n; ++i) weighted_values_rows<1>(s.st, s.v, dv, nk, i, cur.o);
    }
    for (int r = 0; r < R; ++r) {
      _mm512_store_ps(lanes_m + 16 * r, m[r]);
      _mm512_store_ps(lanes_l + 16 * r, l[r]);
    }
    std::copy(lanes_m, lanes_m + n, cur.m);
    std::copy(lanes_l, lanes_l + n, cur.l);
    if (!first_chunk) attention_state_merge(n, dv, cur, total);
    chunk = chunk_end;
  }
  if (t.partial == nullptr) attention_state_finish(n, dv, total, t.out);
}

}  // namespace

void attention_tile_avx512(const AttentionTile& t, float* scratch) {
  if (t.n_rows <= 16) {
    tile_kernel<1>(t, scratch);
  } else {
    tile_kernel<2>(t, scratch);
  }
}

}  // namespace tessera
