// Attention in llama.cpp's float order (parity mode, see attention.h).
#include "model/attention.h"

#include <algorithm>
#include <cmath>
#include <cstring>

#include "kernels/ggml_vec_math.h"
#include "kernels/ops.h"
#include "quant/dequantize.h"

namespace tessera {

namespace {

float fp16_round(float x) { return fp16_to_fp32(fp32_to_fp16(x)); }

void round_to_f16(const float* x, float* y, int64_t n) {
  for (int64_t i = 0; i < n; ++i) y[i] = fp16_round(x[i]);
}

}  // namespace

void attention_ggml_order(const AttentionShape& s, const Batch& batch, const float* q, const KvCache& kv,
                          float* out, ThreadPool& pool, std::vector<float>& scratch) {
  const int64_t n_tokens = batch.size();
  // llama.cpp's attention (non-flash) is two fp16 matmuls around a softmax
  // over the whole padded KV range; its float sums run in SIMD lanes of
  // `lanes` consecutive cache cells (ggml_vec_math.h). Each item below keeps
  // that order: scores over cells [base, end) with base = first rounded down
  // and end = pos + 1 rounded up to whole lanes (cells outside the window are
  // -inf, so exactly 0 after the exp, as llama.cpp's mask makes them).
  const int lanes = ggml_lanes();
  int64_t max_span = 1;
  for (int64_t t = 0; t < n_tokens; ++t) max_span = std::max<int64_t>(max_span, batch.positions[t] + 1);
  max_span += 2 * lanes;
  const int n_threads = pool.size();
  const size_t per_thread =
      static_cast<size_t>(max_span + s.head_dim_k) + static_cast<size_t>(lanes) * s.head_dim_v;
  if (scratch.size() < per_thread * n_threads) scratch.resize(per_thread * n_threads);
  const int64_t group = s.n_head / s.n_head_kv;
  const int64_t n_items = n_tokens * s.n_head;
  const bool lane_dot = s.head_dim_k % lanes == 0;

  pool.run([&](int thread, int threads) {
    float* scores = scratch.data() + static_cast<size_t>(thread) * per_thread;
    float* qh = scores + max_span;
    float* acc = qh + s.head_dim_k;  // lanes x head_dim_v partial sums of the output
    // Items are dealt round-robin: in a causal prefill a token's cost grows
    // with its position, so contiguous shares would give the last thread
    // about three times the first one's work (two threads, from an empty
    // cache). Every item is computed the same way whichever thread runs it.
    for (int64_t item = thread; item < n_items; item += threads) {
      const int64_t t = item / s.n_head;
      const int64_t h = item % s.n_head;
      const int seq = batch.seq_ids[t];
      const int64_t pos = batch.positions[t];
      const int64_t first = s.window > 0 ? std::max<int64_t>(0, pos - s.window + 1) : 0;
      const int64_t base = first - first % lanes;
      const int64_t end = (pos + 1 + lanes - 1) / lanes * lanes;
      const int64_t kv_off_k = (h / group) * s.head_dim_k;
      const int64_t kv_off_v = (h / group) * s.head_dim_v;
      // llama.cpp multiplies Q with the fp16 K cache in fp16, so Q is rounded
      // to fp16 first; doing the same keeps our logits next to the reference.
      round_to_f16(q + (t * s.n_head + h) * s.head_dim_k, qh, s.head_dim_k);

      float max_score = -INFINITY;
      for (int64_t j = base; j < end; ++j) {
        if (j < first || j > pos) {
          scores[j - base] = -INFINITY;
          continue;
        }
        const uint16_t* kj = kv.k(s.layer, seq, j) + kv_off_k;
        float score = (lane_dot ? ggml_dot_f16(qh, kj, s.head_dim_k, lanes) : dot_f32_f16(qh, kj, s.head_dim_k)) *
                      s.scale;
        if (s.softcap > 0.0f) score = s.softcap * std::tanh(score / s.softcap);
        scores[j - base] = score;
        max_score = std::max(max_score, score);
      }
      const double sum = ggml_softmax_exp(scores, scores, end - base, max_score);
      const float inv = static_cast<float>(1.0 / sum);

      // Output lane j % lanes accumulates weight_j * V_j (fma, in order of j),
      // then the lanes are summed with ggml_hsum's pairing, vectorised over
      // the head dimension.
      std::fill(acc, acc + static_cast<size_t>(lanes) * s.head_dim_v, 0.0f);
      for (int64_t j = first; j <= pos; ++j) {
        // The normalized weights meet the fp16 V cache in fp16 (as in llama.cpp).
        const float weight = fp16_round(scores[j - base] * inv);
        axpy_f16(weight, kv.v(s.layer, seq, j) + kv_off_v, acc + (j % lanes) * s.head_dim_v, s.head_dim_v);
      }
      const int64_t hv = s.head_dim_v;
      auto lane = [&](int l) { return acc + l * hv; };
      if (lanes == 16) {
        for (int l = 0; l < 8; ++l) add_inplace(lane(l), lane(l + 8), hv);
      }
      for (int l = 0; l < 4; ++l) add_inplace(lane(l), lane(l + 4), hv);
      float* oh = out + (t * s.n_head + h) * hv;
      for (int64_t d = 0; d < hv; ++d) oh[d] = (lane(0)[d] + lane(2)[d]) + (lane(1)[d] + lane(3)[d]);
    }
  });
}

}  // namespace tessera
