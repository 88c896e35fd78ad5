// Attention over the paged KV cache in tiles (kernels/attention_tile.h): a
// tile is up to kMaxTileRows query rows sharing one KV head — some or all of
// a GQA group's heads for a few consecutive tokens of one sequence.
#include <algorithm>
#include <cstdint>
#include <vector>

#include "kernels/attention_tile.h"
#include "model/attention.h"

namespace tessera {

namespace {

struct TokenTile {
  int64_t begin, end;  // batch indices, one sequence
};

// Consecutive batch tokens of one sequence, at most `max_tokens` per tile.
std::vector<TokenTile> token_tiles(const Batch& batch, int64_t max_tokens) {
  std::vector<TokenTile> tiles;
  const int64_t n = batch.size();
  for (int64_t t = 0; t < n;) {
    int64_t e = t + 1;
    while (e < n && e - t < max_tokens && batch.seq_ids[e] == batch.seq_ids[t]) ++e;
    tiles.push_back({t, e});
    t = e;
  }
  return tiles;
}

}  // namespace

void attention_tiled(const AttentionShape& s, const Batch& batch, const float* q, const KvCache& kv, float* out,
                     ThreadPool& pool, std::vector<float>& scratch) {
  const int64_t group = s.n_head / s.n_head_kv;
  // A tile takes a whole GQA group (up to kMaxTileRows heads) and as many of
  // its tokens as fit. Splitting a group's heads over more tiles would give a
  // decode step more parallel items, but every tile converts the group's keys
  // and values again and fills fewer SIMD lanes: measured slower (Gemma 3
  // 270M's single KV head, 512 positions: 69 us -> 306 us per layer with the
  // four heads split one per tile).
  const int64_t heads_per_tile = std::min<int64_t>(group, kMaxTileRows);
  const int64_t head_chunks = (group + heads_per_tile - 1) / heads_per_tile;
  const int64_t tokens_per_tile = std::max<int64_t>(1, kMaxTileRows / heads_per_tile);
  const std::vector<TokenTile> tiles = token_tiles(batch, tokens_per_tile);
  const int64_t items = static_cast<int64_t>(tiles.size()) * s.n_head_kv * head_chunks;
  const int threads = pool.size();

  const int64_t per_thread = (attention_tile_scratch_floats(s.head_dim_k, s.head_dim_v) + 15) / 16 * 16;
  if (scratch.size() < static_cast<size_t>(per_thread * threads)) scratch.resize(per_thread * threads);

  pool.run([&](int thread, int n_threads) {
    float* tile_scratch = scratch.data() + per_thread * thread;
    thread_local std::vector<const uint16_t*> k_rows, v_rows;
    const float* q_rows[kMaxTileRows];
    float* out_rows[kMaxTileRows];
    int32_t first[kMaxTileRows], last[kMaxTileRows];
    // Items are dealt round-robin: in a causal prefill a tile's cost grows
    // with its position, so contiguous shares would be unbalanced.
    for (int64_t item = thread; item < items; item += n_threads) {
      const TokenTile& tt = tiles[static_cast<size_t>(item / (s.n_head_kv * head_chunks))];
      const int64_t kv_head = item / head_chunks % s.n_head_kv;
      const int64_t h_begin = kv_head * group + item % head_chunks * heads_per_tile;
      const int64_t h_end = std::min(h_begin + heads_per_tile, (kv_head + 1) * group);
      const int seq = batch.seq_ids[tt.begin];
      AttentionTile tile;
      int64_t lo = INT64_MAX, hi = -1;
      for (int64_t t = tt.begin; t < tt.end; ++t) {
        const int32_t pos = batch.positions[t];
        const int32_t from = s.window > 0 ? static_cast<int32_t>(std::max<int64_t>(0, pos - s.window + 1)) : 0;
        lo = std::min<int64_t>(lo, from);
        hi = std::max<int64_t>(hi, pos);
        for (int64_t h = h_begin; h < h_end; ++h) {
          q_rows[tile.n_rows] = q + (t * s.n_head + h) * s.head_dim_k;
          out_rows[tile.n_rows] = out + (t * s.n_head + h) * s.head_dim_v;
          first[tile.n_rows] = from;
          last[tile.n_rows] = pos;
          ++tile.n_rows;
        }
      }
      tile.key_begin = lo - lo % kKeyBlock;
      tile.n_keys = hi + 1 - tile.key_begin;
      k_rows.resize(static_cast<size_t>(tile.n_keys));
      v_rows.resize(static_cast<size_t>(tile.n_keys));
      for (int64_t j = 0; j < tile.n_keys; ++j) {
        k_rows[j] = kv.k(s.layer, seq, tile.key_begin + j) + kv_head * s.head_dim_k;
        v_rows[j] = kv.v(s.layer, seq, tile.key_begin + j) + kv_head * s.head_dim_v;
      }
      tile.head_dim_k = s.head_dim_k;
      tile.head_dim_v = s.head_dim_v;
      tile.q = q_rows;
      tile.out = out_rows;
      tile.first = first;
      tile.last = last;
      tile.k = k_rows.data();
      tile.v = v_rows.data();
      tile.scale = s.scale;
      tile.softcap = s.softcap;
      attention_tile(tile, tile_scratch);
    }
  });
}

}  // namespace tessera
