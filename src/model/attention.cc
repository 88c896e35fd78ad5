// Picks the attention implementation (see attention.h).
#include "model/attention.h"

#include "kernels/packed.h"

namespace tessera {

void attention(const AttentionShape& shape, const Batch& batch, const float* q, const KvCache& kv, float* out,
               ThreadPool& pool, std::vector<float>& scratch) {
  // The fast mode's matmuls already leave llama.cpp's float order, so its
  // attention may too; parity mode keeps both in that order.
  if (repack_enabled() && shape.head_dim_v % 16 == 0) {
    attention_tiled(shape, batch, q, kv, out, pool, scratch);
  } else {
    attention_ggml_order(shape, batch, q, kv, out, pool, scratch);
  }
}

}  // namespace tessera
