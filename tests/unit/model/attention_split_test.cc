// Both attention implementations: how their work is split over threads must
// not change results; they agree with each other within float rounding; and
// the tiled one gives a token the same bits whatever else shares its batch.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <random>
#include <vector>

#include "kernels/attention_tile.h"
#include "kernels/ops.h"
#include "model/attention.h"

namespace tessera {
namespace {

using AttentionFn = void (*)(const AttentionShape&, const Batch&, const float*, const KvCache&, float*,
                             ThreadPool&, std::vector<float>&);

// Random fp16 K and V for positions [0, n_pos) of `seq` (reserved here).
void fill_random_kv(KvCache& kv, int seq, int n_pos, std::mt19937& rng) {
  ASSERT_TRUE(kv.reserve(seq, n_pos));
  std::normal_distribution<float> normal(0.0f, 1.0f);
  const int64_t k_floats = int64_t{kv.config().n_kv_heads} * kv.config().head_dim_k;
  const int64_t v_floats = int64_t{kv.config().n_kv_heads} * kv.config().head_dim_v;
  std::vector<float> row(static_cast<size_t>(std::max(k_floats, v_floats)));
  for (int p = 0; p < n_pos; ++p) {
    for (int64_t i = 0; i < k_floats; ++i) row[i] = normal(rng);
    f32_to_f16(row.data(), kv.k(0, seq, p), k_floats);
    for (int64_t i = 0; i < v_floats; ++i) row[i] = normal(rng);
    f32_to_f16(row.data(), kv.v(0, seq, p), v_floats);
  }
}

// A filled cache of two sequences and queries for n_tokens positions of each.
struct Fixture {
  static constexpr int n_head = 6, n_head_kv = 2, head_dim = 32, n_tokens = 37;
  KvCache kv{config()};
  std::vector<float> q;  // per sequence: n_tokens x n_head x head_dim
  AttentionShape shape;

  static KvCacheConfig config() {
    KvCacheConfig c;
    c.n_layers = 1;
    c.n_kv_heads = n_head_kv;
    c.head_dim_k = head_dim;
    c.head_dim_v = head_dim;
    c.block_tokens = 8;
    c.n_blocks = 10;
    return c;
  }
  Fixture() {
    std::mt19937 rng(2);
    std::normal_distribution<float> normal(0.0f, 1.0f);
    for (int seq = 0; seq < 2; ++seq) fill_random_kv(kv, seq, n_tokens, rng);
    q.resize(static_cast<size_t>(2 * n_tokens * n_head * head_dim));
    for (auto& v : q) v = normal(rng);
    shape.n_head = n_head;
    shape.n_head_kv = n_head_kv;
    shape.head_dim_k = head_dim;
    shape.head_dim_v = head_dim;
    shape.scale = 0.2f;
  }
  const float* q_of(int seq, int pos) const { return q.data() + ((seq * n_tokens + pos) * n_head) * head_dim; }
  // Outputs of `batch`, whose queries are gathered from q by (seq, position).
  std::vector<float> run(AttentionFn fn, const Batch& batch, int threads) {
    const size_t row = static_cast<size_t>(n_head * head_dim);
    std::vector<float> bq(batch.size() * row), out(batch.size() * row, NAN), scratch;
    for (int64_t t = 0; t < batch.size(); ++t) {
      std::memcpy(bq.data() + t * row, q_of(batch.seq_ids[t], batch.positions[t]), row * sizeof(float));
    }
    ThreadPool pool(threads);
    fn(shape, batch, bq.data(), kv, out.data(), pool, scratch);
    return out;
  }
};

Batch prefill(int seq) {
  Batch b;
  for (int p = 0; p < Fixture::n_tokens; ++p) b.add(0, p, seq, true);
  return b;
}

TEST(Attention, ResultsDoNotDependOnThreadCount) {
  Fixture f;
  for (AttentionFn fn : {attention_tiled, attention_ggml_order}) {
    for (int64_t window : {0, 5}) {
      f.shape.window = window;
      std::vector<float> reference;
      for (int threads : {1, 2, 3}) {
        const std::vector<float> out = f.run(fn, prefill(0), threads);
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
}

TEST(Attention, TiledAgreesWithGgmlOrder) {
  Fixture f;
  for (int64_t window : {0, 5}) {
    f.shape.window = window;
    const std::vector<float> tiled = f.run(attention_tiled, prefill(1), 2);
    const std::vector<float> ggml = f.run(attention_ggml_order, prefill(1), 2);
    // ggml's order rounds Q and the softmax weights to fp16: ~1e-3 relative.
    for (size_t i = 0; i < tiled.size(); ++i) EXPECT_NEAR(tiled[i], ggml[i], 5e-3) << i;
  }
}

TEST(Attention, TiledTokenResultDoesNotDependOnItsBatch) {
  Fixture f;
  f.shape.window = 11;
  const size_t row = static_cast<size_t>(Fixture::n_head * Fixture::head_dim);
  const std::vector<float> whole = f.run(attention_tiled, prefill(0), 2);
  // Each position decoded alone, and the two sequences interleaved token by token.
  Batch mixed;
  for (int p = 0; p < Fixture::n_tokens; ++p) {
    mixed.add(0, p, 1, true);
    mixed.add(0, p, 0, true);
  }
  const std::vector<float> interleaved = f.run(attention_tiled, mixed, 3);
  for (int p = 0; p < Fixture::n_tokens; ++p) {
    Batch one;
    one.add(0, p, 0, true);
    const std::vector<float> alone = f.run(attention_tiled, one, 1);
    EXPECT_EQ(std::memcmp(alone.data(), whole.data() + p * row, row * sizeof(float)), 0) << "position " << p;
    EXPECT_EQ(std::memcmp(interleaved.data() + (2 * p + 1) * row, whole.data() + p * row, row * sizeof(float)), 0)
        << "position " << p;
  }
}

TEST(Attention, TiledDecodeSplitOverKeyChunksEqualsOneTile) {
  // One KV head and a context of three key chunks: a lone decode token is
  // split over threads by key chunk (kernels/attention_tile.h), the same
  // token inside a larger batch is not; the bits must agree.
  const int n_head = 4, head_dim = 64, n_pos = static_cast<int>(2 * kKeyChunk + 100);
  KvCacheConfig c;
  c.n_layers = 1;
  c.n_kv_heads = 1;
  c.head_dim_k = head_dim;
  c.head_dim_v = head_dim;
  c.block_tokens = 32;
  c.n_blocks = (n_pos + 31) / 32;
  KvCache kv(c);
  std::mt19937 rng(9);
  std::normal_distribution<float> normal(0.0f, 1.0f);
  fill_random_kv(kv, 0, n_pos, rng);
  AttentionShape shape;
  shape.n_head = n_head;
  shape.n_head_kv = 1;
  shape.head_dim_k = head_dim;
  shape.head_dim_v = head_dim;
  shape.scale = 0.3f;
  const int n_batch = 40;
  std::vector<float> q(static_cast<size_t>(n_batch * n_head * head_dim));
  for (auto& v : q) v = normal(rng);
  Batch many;
  for (int i = 0; i < n_batch; ++i) many.add(0, n_pos - n_batch + i, 0, true);
  Batch one;
  one.add(0, n_pos - 1, 0, true);
  const size_t row_floats = static_cast<size_t>(n_head * head_dim);
  const float* last_q = q.data() + (n_batch - 1) * row_floats;
  std::vector<float> out_many(q.size()), out_one(row_floats), out_ggml(row_floats), scratch;
  ThreadPool pool(2);
  attention_tiled(shape, many, q.data(), kv, out_many.data(), pool, scratch);
  attention_tiled(shape, one, last_q, kv, out_one.data(), pool, scratch);
  attention_ggml_order(shape, one, last_q, kv, out_ggml.data(), pool, scratch);
  EXPECT_EQ(std::memcmp(out_one.data(), out_many.data() + (n_batch - 1) * row_floats, row_floats * sizeof(float)), 0);
  for (size_t i = 0; i < row_floats; ++i) EXPECT_NEAR(out_one[i], out_ggml[i], 5e-3) << i;
}

}  // namespace
}  // namespace tessera
