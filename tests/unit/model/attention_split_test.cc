// How attention work is split over threads must not change its results: every
// (token, head) item is computed the same way whichever thread runs it.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <random>
#include <vector>

#include "kernels/ops.h"
#include "model/attention.h"

namespace tessera {
namespace {

TEST(Attention, ResultsDoNotDependOnThreadCount) {
  const int n_head = 6, n_head_kv = 2, head_dim = 32, n_tokens = 37;
  KvCacheConfig c;
  c.n_layers = 1;
  c.n_kv_heads = n_head_kv;
  c.head_dim_k = head_dim;
  c.head_dim_v = head_dim;
  c.block_tokens = 8;
  c.n_blocks = 5;
  KvCache kv(c);
  ASSERT_TRUE(kv.reserve(0, n_tokens));
  std::mt19937 rng(2);
  std::normal_distribution<float> normal(0.0f, 1.0f);
  std::vector<float> row(n_head_kv * head_dim);
  Batch batch;
  for (int p = 0; p < n_tokens; ++p) {
    for (auto& v : row) v = normal(rng);
    f32_to_f16(row.data(), kv.k(0, 0, p), static_cast<int64_t>(row.size()));
    for (auto& v : row) v = normal(rng);
    f32_to_f16(row.data(), kv.v(0, 0, p), static_cast<int64_t>(row.size()));
    batch.add(0, p, 0, true);
  }
  std::vector<float> q(static_cast<size_t>(n_tokens * n_head * head_dim));
  for (auto& v : q) v = normal(rng);
  AttentionShape shape;
  shape.n_head = n_head;
  shape.n_head_kv = n_head_kv;
  shape.head_dim_k = head_dim;
  shape.head_dim_v = head_dim;
  shape.scale = 0.2f;
  for (int64_t window : {0, 5}) {
    shape.window = window;
    std::vector<float> reference;
    for (int threads : {1, 2, 3}) {
      ThreadPool pool(threads);
      std::vector<float> out(q.size(), NAN), scratch;
      attention(shape, batch, q.data(), kv, out.data(), pool, scratch);
      for (float v : out) ASSERT_TRUE(std::isfinite(v));
      if (reference.empty()) {
        reference = out;
      } else {
        EXPECT_EQ(std::memcmp(reference.data(), out.data(), out.size() * sizeof(float)), 0)
            << threads << " threads, window " << window;
      }
    }
  }
}

}  // namespace
}  // namespace tessera
