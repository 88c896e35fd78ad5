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

// One tile: tokens [begin, end) of the batch (one sequence), query heads
// [h_begin, h_end) of KV head kv_head; keys [lo, hi] cover every row's range.
struct TileItem {
  int64_t begin, end;
  int64_t kv_head, h_begin, h_end;
  int64_t lo, hi;
};

// Fills `items` (reused between calls: no allocation once it has grown).
void tile_items(const AttentionShape& s, const Batch& batch, std::vector<TileItem>& items) {
  const int64_t group = s.n_head / s.n_head_kv;
  // A tile takes a whole GQA group (up to kMaxTileRows heads) and as many of
  // its tokens as fit. Splitting a group's heads over more tiles would give a
  // decode step more parallel items, but every tile converts the group's keys
  // and values again and fills fewer SIMD lanes: measured slower (Gemma 3
  // 270M's single KV head, 512 positions: 69 us -> 306 us per layer with the
  // four heads split one per tile). Long contexts split keys instead.
  const int64_t heads_per_tile = std::min<int64_t>(group, kMaxTileRows);
  const int64_t tokens_per_tile = std::max<int64_t>(1, kMaxTileRows / heads_per_tile);
  items.clear();
  const int64_t n = batch.size();
  for (int64_t t = 0; t < n;) {
    int64_t e = t + 1;
    while (e < n && e - t < tokens_per_tile && batch.seq_ids[e] == batch.seq_ids[t]) ++e;
    int64_t lo = INT64_MAX, hi = -1;
    for (int64_t i = t; i < e; ++i) {
      const int64_t pos = batch.positions[i];
      lo = std::min(lo, s.window > 0 ? std::max<int64_t>(0, pos - s.window + 1) : 0);
      hi = std::max(hi, pos);
    }
    for (int64_t kvh = 0; kvh < s.n_head_kv; ++kvh) {
      for (int64_t h = kvh * group; h < (kvh + 1) * group; h += heads_per_tile) {
        items.push_back({t, e, kvh, h, std::min(h + heads_per_tile, (kvh + 1) * group), lo, hi});
      }
    }
    t = e;
  }
}

// A tile's rows and key pointers, built in per-thread storage (the key
// pointer arrays are thread_local: they grow once per thread, then stay).
class TileBuilder {
 public:
  TileBuilder(const AttentionShape& s, const Batch& batch, const float* q, const KvCache& kv, float* out)
      : s_(s), batch_(batch), q_(q), kv_(kv), out_(out) {}

  // The rows of `item` (queries, outputs, key ranges) without keys: enough
  // to merge and normalise states computed elsewhere.
  const AttentionTile& rows(const TileItem& item) {
    tile_ = AttentionTile{};
    for (int64_t t = item.begin; t < item.end; ++t) {
      const int32_t pos = batch_.positions[t];
      const int32_t from = s_.window > 0 ? static_cast<int32_t>(std::max<int64_t>(0, pos - s_.window + 1)) : 0;
      for (int64_t h = item.h_begin; h < item.h_end; ++h) {
        q_rows_[tile_.n_rows] = q_ + (t * s_.n_head + h) * s_.head_dim_k;
        out_rows_[tile_.n_rows] = out_ + (t * s_.n_head + h) * s_.head_dim_v;
        first_[tile_.n_rows] = from;
        last_[tile_.n_rows] = pos;
        ++tile_.n_rows;
      }
    }
    tile_.head_dim_k = s_.head_dim_k;
    tile_.head_dim_v = s_.head_dim_v;
    tile_.q = q_rows_;
    tile_.out = out_rows_;
    tile_.first = first_;
    tile_.last = last_;
    tile_.scale = s_.scale;
    tile_.softcap = s_.softcap;
    return tile_;
  }

  // The rows of `item` and its keys [key_begin, key_end] (key_begin a
  // multiple of kKeyBlock).
  const AttentionTile& build(const TileItem& item, int64_t key_begin, int64_t key_end) {
    rows(item);
    const int seq = batch_.seq_ids[item.begin];
    tile_.key_begin = key_begin;
    tile_.n_keys = key_end + 1 - key_begin;
    if (k_rows_.size() < static_cast<size_t>(tile_.n_keys)) {
      k_rows_.resize(static_cast<size_t>(tile_.n_keys));
      v_rows_.resize(static_cast<size_t>(tile_.n_keys));
    }
    for (int64_t j = 0; j < tile_.n_keys; ++j) {
      k_rows_[j] = kv_.k(s_.layer, seq, key_begin + j) + item.kv_head * s_.head_dim_k;
      v_rows_[j] = kv_.v(s_.layer, seq, key_begin + j) + item.kv_head * s_.head_dim_v;
    }
    tile_.k = k_rows_.data();
    tile_.v = v_rows_.data();
    return tile_;
  }

 private:
  const AttentionShape& s_;
  const Batch& batch_;
  const float* q_;
  const KvCache& kv_;
  float* out_;
  AttentionTile tile_;
  const float* q_rows_[kMaxTileRows];
  float* out_rows_[kMaxTileRows];
  int32_t first_[kMaxTileRows], last_[kMaxTileRows];
  static thread_local std::vector<const uint16_t*> k_rows_, v_rows_;
};

thread_local std::vector<const uint16_t*> TileBuilder::k_rows_;
thread_local std::vector<const uint16_t*> TileBuilder::v_rows_;

int64_t chunk_start(int64_t pos) { return pos - pos % kKeyChunk; }

}  // namespace

void attention_tiled(const AttentionShape& s, const Batch& batch, const float* q, const KvCache& kv, float* out,
                     ThreadPool& pool, std::vector<float>& scratch) {
  // Reused storage of the calling thread (a forward pass runs on one thread
  // at a time). Bound to references: the pool's workers must see the
  // caller's vectors, not their own thread_local instances.
  thread_local std::vector<TileItem> items_storage;
  thread_local std::vector<int64_t> first_unit_storage;
  std::vector<TileItem>& items = items_storage;
  std::vector<int64_t>& first_unit = first_unit_storage;
  tile_items(s, batch, items);
  const int64_t n_items = static_cast<int64_t>(items.size());
  const int threads = pool.size();
  const int64_t per_thread = (attention_tile_scratch_floats(s.head_dim_k, s.head_dim_v) + 15) / 16 * 16;

  // Few tiles over long contexts (a decode step of a model with few KV heads):
  // each tile's key chunks become separate work units whose states are merged
  // in order afterwards — the same operations the kernel performs when it
  // takes the chunks in turn, so results do not change.
  first_unit.assign(items.size() + 1, 0);
  bool split = false;
  if (n_items < threads) {
    for (size_t i = 0; i < items.size(); ++i) {
      const int64_t chunks = (items[i].hi - chunk_start(items[i].lo)) / kKeyChunk + 1;
      first_unit[i + 1] = first_unit[i] + chunks;
    }
    split = first_unit.back() > n_items;
  }
  const int64_t dv = s.head_dim_v;
  const int64_t unit_floats = kMaxTileRows * dv + 2 * kMaxTileRows;
  const int64_t n_units = split ? first_unit.back() : n_items;
  const size_t needed = static_cast<size_t>(per_thread * threads + (split ? n_units * unit_floats : 0));
  if (scratch.size() < needed) scratch.resize(needed);
  float* partials = scratch.data() + per_thread * threads;
  auto unit_state = [&](int64_t unit) {
    float* base = partials + unit * unit_floats;
    return AttentionState{base, base + kMaxTileRows * dv, base + kMaxTileRows * dv + kMaxTileRows};
  };

  pool.run([&](int thread, int n_threads) {
    float* tile_scratch = scratch.data() + per_thread * thread;
    TileBuilder builder(s, batch, q, kv, out);
    // Units are dealt round-robin: in a causal prefill a tile's cost grows
    // with its position, so contiguous shares would be unbalanced.
    for (int64_t unit = thread; unit < n_units; unit += n_threads) {
      if (!split) {
        const TileItem& item = items[static_cast<size_t>(unit)];
        const int64_t begin = item.lo - item.lo % kKeyBlock;
        attention_tile(builder.build(item, begin, item.hi), tile_scratch);
        continue;
      }
      const size_t i = static_cast<size_t>(std::upper_bound(first_unit.begin(), first_unit.end(), unit) -
                                           first_unit.begin() - 1);
      const TileItem& item = items[i];
      const int64_t chunk = unit - first_unit[i];
      const int64_t range_begin = item.lo - item.lo % kKeyBlock;
      const int64_t begin = std::max(range_begin, chunk_start(item.lo) + chunk * kKeyChunk);
      const int64_t end = std::min(item.hi, chunk_start(item.lo) + (chunk + 1) * kKeyChunk - 1);
      const AttentionState state = unit_state(unit);
      AttentionTile tile = builder.build(item, begin, end);
      tile.partial = &state;
      attention_tile(tile, tile_scratch);
    }
  });
  if (!split) return;
  pool.run([&](int thread, int n_threads) {
    TileBuilder builder(s, batch, q, kv, out);
    for (int64_t i = thread; i < n_items; i += n_threads) {
      const TileItem& item = items[static_cast<size_t>(i)];
      const AttentionTile& tile = builder.rows(item);
      const AttentionState total = unit_state(first_unit[i]);
      for (int64_t unit = first_unit[i] + 1; unit < first_unit[i + 1]; ++unit) {
        attention_state_merge(tile.n_rows, dv, unit_state(unit), total);
      }
      attention_state_finish(tile.n_rows, dv, total, tile.out);
    }
  });
}

}  // namespace tessera
