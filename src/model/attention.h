// Causal self-attention of a batch of query tokens over the paged KV cache.
#pragma once

#include <cstdint>
#include <vector>

#include "core/thread_pool.h"
#include "kv/kv_cache.h"
#include "model/batch.h"

namespace tessera {

struct AttentionShape {
  int layer = 0;
  int64_t n_head = 0;
  int64_t n_head_kv = 0;
  int64_t head_dim_k = 0;
  int64_t head_dim_v = 0;
  float scale = 1.0f;        // multiplier on q·k
  float softcap = 0.0f;      // 0 = off
  int64_t window = 0;        // sliding window in tokens; 0 = attend to the whole prefix
};

// q: n_tokens x (n_head * head_dim_k); out: n_tokens x (n_head * head_dim_v).
// Token t attends to positions [max(0, pos - window + 1), pos] of its own
// sequence, which must already be in the cache (including itself).
// `scratch` is grown as needed and reused between calls.
//
// Two implementations with the same contract:
//  - attention_tiled: tiles of query rows sharing a KV head, online softmax
//    (kernels/attention_tile.h); K and V are read once per tile instead of
//    once per query head and token. Batch- and thread-invariant. The default
//    whenever the packed matmul kernels are in use (repack_enabled()).
//  - attention_ggml_order: llama.cpp's non-flash attention operation for
//    operation (fp16 rounding of Q and of the weights, its summation order),
//    so parity mode (TESSERA_REPACK=0) stays bit-identical to the reference.
// attention() picks one.
void attention(const AttentionShape& shape, const Batch& batch, const float* q, const KvCache& kv,
               float* out, ThreadPool& pool, std::vector<float>& scratch);
void attention_tiled(const AttentionShape& shape, const Batch& batch, const float* q, const KvCache& kv,
                     float* out, ThreadPool& pool, std::vector<float>& scratch);
void attention_ggml_order(const AttentionShape& shape, const Batch& batch, const float* q, const KvCache& kv,
                          float* out, ThreadPool& pool, std::vector<float>& scratch);

}  // namespace tessera
