// Scalar reference of the tiled attention kernel, the chunk-state merge and
// normalisation both kernels share, and the dispatcher. The reference is
// written row by row, but each float operation is the one the
// AVX-512 kernel performs in that row's lane, in the same order (see
// attention_tile.h): fma for the q·k chain and for the weighted V sum, a
// separate multiply for the scale, ggml's exp.
#include "kernels/attention_tile.h"

#include <algorithm>
#include <cmath>

#include "kernels/attention_tile_impl.h"
#include "kernels/cpu_features.h"
#include "kernels/ggml_vec_math.h"
#include "quant/dequantize.h"

namespace tessera {

namespace {

// vmaxps(a, b): a when a > b, else b (the sign of equal zeros follows b).
float simd_max(float a, float b) { return a > b ? a : b; }

}  // namespace

int64_t attention_tile_scratch_floats(int64_t head_dim_k, int64_t head_dim_v) {
  return AttentionScratch::floats(head_dim_k, head_dim_v);
}

void attention_state_merge(int n_rows, int64_t dv, const AttentionState& from, const AttentionState& into) {
  for (int r = 0; r < n_rows; ++r) {
    const float m = simd_max(into.m[r], from.m[r]);
    // An empty side (max -inf) gets factor 0, or 1 when both are empty (then
    // its o and l are 0 anyway); an unchanged max gets exactly 1.
    const float c_into = into.m[r] == m ? 1.0f : ggml_expf_lane_avx512(into.m[r] - m);
    const float c_from = from.m[r] == m ? 1.0f : ggml_expf_lane_avx512(from.m[r] - m);
    into.l[r] = into.l[r] * c_into + from.l[r] * c_from;
    into.m[r] = m;
    float* o = into.o + r * dv;
    const float* f = from.o + r * dv;
    for (int64_t e = 0; e < dv; ++e) o[e] = o[e] * c_into + f[e] * c_from;
  }
}

void attention_state_finish(int n_rows, int64_t dv, const AttentionState& state, float* const* out) {
  for (int r = 0; r < n_rows; ++r) {
    for (int64_t e = 0; e < dv; ++e) out[r][e] = state.o[r * dv + e] / state.l[r];
  }
}

void attention_tile_reference(const AttentionTile& t, float* scratch) {
  const AttentionScratch s(scratch, t.head_dim_k, t.head_dim_v);
  const int64_t dk = t.head_dim_k;
  const int64_t dv = t.head_dim_v;
  const int64_t kstride = AttentionScratch::round16(dk);
  const AttentionState total = s.total(t);
  float p[kKeyBlock];
  const int64_t key_end = t.key_begin + t.n_keys;
  for (int64_t chunk = t.key_begin; chunk < key_end;) {
    const int64_t chunk_end = std::min(key_end, (chunk / kKeyChunk + 1) * kKeyChunk);
    const bool first_chunk = chunk == t.key_begin;
    const AttentionState cur = first_chunk ? total : AttentionState{s.o, s.chunk_m, s.chunk_l};
    std::fill(cur.o, cur.o + t.n_rows * dv, 0.0f);
    std::fill(cur.m, cur.m + t.n_rows, -INFINITY);
    std::fill(cur.l, cur.l + t.n_rows, 0.0f);
    for (int64_t block = chunk; block < chunk_end; block += kKeyBlock) {
      const int64_t nk = std::min(kKeyBlock, chunk_end - block);
      for (int64_t j = 0; j < nk; ++j) {
        const uint16_t* kj = t.k[block - t.key_begin + j];
        const uint16_t* vj = t.v[block - t.key_begin + j];
        for (int64_t d = 0; d < dk; ++d) s.k[j * kstride + d] = fp16_to_fp32(kj[d]);
        for (int64_t e = 0; e < dv; ++e) s.v[j * dv + e] = fp16_to_fp32(vj[e]);
      }
      for (int r = 0; r < t.n_rows; ++r) {
        float block_max = -INFINITY;
        for (int64_t j = 0; j < nk; ++j) {
          float acc = 0.0f;
          for (int64_t d = 0; d < dk; ++d) acc = std::fma(fp16_to_fp32(fp32_to_fp16(t.q[r][d])), s.k[j * kstride + d], acc);
          float score = acc * t.scale;
          if (t.softcap > 0.0f) score = t.softcap * std::tanh(score / t.softcap);
          const int64_t pos = block + j;
          if (pos < t.first[r] || pos > t.last[r]) score = -INFINITY;
          p[j] = score;
          block_max = simd_max(block_max, score);
        }
        const float m_new = simd_max(cur.m[r], block_max);
        const bool live = m_new != -INFINITY;
        const float c = m_new == cur.m[r] ? 1.0f : ggml_expf_lane_avx512(cur.m[r] - m_new);
        float sum = 0.0f;
        for (int64_t j = 0; j < nk; ++j) {
          p[j] = live ? ggml_expf_lane_avx512(p[j] - m_new) : 0.0f;
          sum += p[j];
        }
        cur.l[r] = cur.l[r] * c + sum;
        cur.m[r] = m_new;
        float* o = cur.o + r * dv;
        if (c != 1.0f) {
          for (int64_t e = 0; e < dv; ++e) o[e] *= c;
        }
        for (int64_t j = 0; j < nk; ++j) {
          for (int64_t e = 0; e < dv; ++e) o[e] = std::fma(p[j], s.v[j * dv + e], o[e]);
        }
      }
    }
    if (!first_chunk) attention_state_merge(t.n_rows, dv, cur, total);
    chunk = chunk_end;
  }
  if (t.partial == nullptr) attention_state_finish(t.n_rows, dv, total, t.out);
}

void attention_tile(const AttentionTile& tile, float* scratch) {
  if (cpu_features().level >= IsaLevel::kAvx512) {
    attention_tile_avx512(tile, scratch);
  } else if (cpu_features().level >= IsaLevel::kAvx2) {
    attention_tile_avx2(tile, scratch);
  } else {
    attention_tile_reference(tile, scratch);
  }
}

}  // namespace tessera
