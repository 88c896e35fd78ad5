#include "model/attention.h"

#include <algorithm>
#include <cmath>
#include <cstring>

#include "kernels/ops.h"
#include "quant/dequantize.h"

namespace tessera {

namespace {

float fp16_round(float x) { return fp16_to_fp32(fp32_to_fp16(x)); }

void round_to_f16(const float* x, float* y, int64_t n) {
  for (int64_t i = 0; i < n; ++i) y[i] = fp16_round(x[i]);
}

}  // namespace

void attention(const AttentionShape& s, const Batch& batch, const float* q, const KvCache& kv,
               float* out, ThreadPool& pool, std::vector<float>& scratch) {
  const int64_t n_tokens = batch.size();
  int64_t max_span = 1;
  for (int64_t t = 0; t < n_tokens; ++t) max_span = std::max<int64_t>(max_span, batch.positions[t] + 1);
  const int n_threads = pool.size();
  const size_t per_thread = static_cast<size_t>(max_span + s.head_dim_k);
  if (scratch.size() < per_thread * n_threads) scratch.resize(per_thread * n_threads);
  float* q_round = scratch.data() + static_cast<size_t>(max_span) * n_threads;
  const int64_t group = s.n_head / s.n_head_kv;
  const int64_t n_items = n_tokens * s.n_head;

  pool.run([&](int thread, int threads) {
    float* scores = scratch.data() + static_cast<size_t>(thread) * max_span;
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
      const int64_t kv_off_k = (h / group) * s.head_dim_k;
      const int64_t kv_off_v = (h / group) * s.head_dim_v;
      // llama.cpp multiplies Q with the fp16 K cache in fp16, so Q is rounded
      // to fp16 first; doing the same keeps our logits next to the reference.
      float* qh = q_round + thread * s.head_dim_k;
      round_to_f16(q + (t * s.n_head + h) * s.head_dim_k, qh, s.head_dim_k);

      float max_score = -INFINITY;
      for (int64_t j = first; j <= pos; ++j) {
        float score = dot_f32_f16(qh, kv.k(s.layer, seq, j) + kv_off_k, s.head_dim_k) * s.scale;
        if (s.softcap > 0.0f) score = s.softcap * std::tanh(score / s.softcap);
        scores[j - first] = score;
        max_score = std::max(max_score, score);
      }
      double sum = 0.0;
      for (int64_t j = first; j <= pos; ++j) {
        const float e = std::exp(scores[j - first] - max_score);
        scores[j - first] = e;
        sum += e;
      }
      const float inv = static_cast<float>(1.0 / sum);
      float* oh = out + (t * s.n_head + h) * s.head_dim_v;
      std::memset(oh, 0, sizeof(float) * s.head_dim_v);
      for (int64_t j = first; j <= pos; ++j) {
        // The normalized weights meet the fp16 V cache in fp16 (as in llama.cpp).
        const float weight = fp16_round(scores[j - first] * inv);
        axpy_f16(weight, kv.v(s.layer, seq, j) + kv_off_v, oh, s.head_dim_v);
      }
    }
  });
}

}  // namespace tessera
