#include "kv/kv_cache.h"

#include <algorithm>

#include "core/error.h"

namespace tessera {

namespace {

// splitmix64's finalizer: a cheap bijective mix with full avalanche.
uint64_t mix64(uint64_t x) {
  x ^= x >> 30;
  x *= 0xbf58476d1ce4e5b9ULL;
  x ^= x >> 27;
  x *= 0x94d049bb133111ebULL;
  x ^= x >> 31;
  return x;
}

}  // namespace

uint64_t prefix_block_key(uint64_t prev_key, const int32_t* tokens, int64_t n) {
  // Order-dependent chain: each token is folded into a running state that is
  // fully mixed before the next, so permutations and shifts give other keys.
  uint64_t h = mix64(prev_key ^ 0x9e3779b97f4a7c15ULL) + static_cast<uint64_t>(n);
  for (int64_t i = 0; i < n; ++i) h = mix64(h + static_cast<uint32_t>(tokens[i]) + 0x632be59bd9b4e019ULL);
  // 0 is reserved for "no previous block".
  return h == 0 ? 1 : h;
}

KvCache::KvCache(const KvCacheConfig& config) : config_(config) {
  if (config.n_layers <= 0 || config.n_kv_heads <= 0 || config.head_dim_k <= 0 ||
      config.head_dim_v <= 0 || config.block_tokens <= 0 || config.n_blocks <= 0) {
    raise<InvalidArgument>("KV cache: every dimension must be positive");
  }
  k_token_elems_ = static_cast<size_t>(config.n_kv_heads) * config.head_dim_k;
  v_token_elems_ = static_cast<size_t>(config.n_kv_heads) * config.head_dim_v;
  block_elems_ = static_cast<size_t>(config.n_layers) * config.block_tokens *
                 (k_token_elems_ + v_token_elems_);
  const auto n_blocks = static_cast<size_t>(config.n_blocks);
  storage_.resize(block_elems_ * n_blocks);
  refcount_.assign(n_blocks, 0);
  has_key_.assign(n_blocks, 0);
  key_.assign(n_blocks, 0);
  key_tokens_.assign(static_cast<size_t>(n_blocks) * static_cast<size_t>(config.block_tokens), 0);
  lru_pos_.resize(n_blocks);
  free_list_.reserve(n_blocks);
  // Hand out low block numbers first (pop_back takes from the end).
  for (int64_t b = config.n_blocks - 1; b >= 0; --b) free_list_.push_back(b);
}

int64_t KvCache::allocate_block() {
  int64_t block;
  if (!free_list_.empty()) {
    block = free_list_.back();
    free_list_.pop_back();
  } else {
    // Evict the cached block released longest ago. Sequences release their
    // blocks last-first, so a prefix's tail goes before its head.
    block = lru_.front();
    lru_.pop_front();
    forget_key(block);
  }
  refcount_[static_cast<size_t>(block)] = 1;
  return block;
}

void KvCache::unref_block(int64_t block) {
  const auto b = static_cast<size_t>(block);
  if (--refcount_[b] > 0) return;
  if (has_key_[b]) {
    lru_.push_back(block);
    lru_pos_[b] = std::prev(lru_.end());
  } else {
    free_list_.push_back(block);
  }
}

void KvCache::forget_key(int64_t block) {
  const auto b = static_cast<size_t>(block);
  if (!has_key_[b]) return;
  key_index_.erase(key_[b]);
  has_key_[b] = 0;
}

bool KvCache::reserve(int seq, int64_t n_tokens) {
  if (seq < 0) raise<InvalidArgument>("KV cache: negative sequence id {}", seq);
  if (static_cast<size_t>(seq) >= block_tables_.size()) block_tables_.resize(seq + 1);
  auto& table = block_tables_[seq];
  const int64_t needed = (n_tokens + config_.block_tokens - 1) / config_.block_tokens;
  const int64_t extra = needed - static_cast<int64_t>(table.size());
  if (extra <= 0) return true;
  if (extra > available_blocks()) return false;
  for (int64_t i = 0; i < extra; ++i) table.push_back(allocate_block());
  return true;
}

void KvCache::release(int seq) { truncate(seq, 0); }

void KvCache::truncate(int seq, int64_t n_tokens) {
  if (seq < 0 || static_cast<size_t>(seq) >= block_tables_.size()) return;
  auto& table = block_tables_[seq];
  const int64_t keep = (n_tokens + config_.block_tokens - 1) / config_.block_tokens;
  while (static_cast<int64_t>(table.size()) > keep) {
    unref_block(table.back());
    table.pop_back();
  }
}

int64_t KvCache::reserved_tokens(int seq) const {
  if (seq < 0 || static_cast<size_t>(seq) >= block_tables_.size()) return 0;
  return static_cast<int64_t>(block_tables_[seq].size()) * config_.block_tokens;
}

int64_t KvCache::find_published(uint64_t key, const int32_t* tokens) const {
  const auto it = key_index_.find(key);
  if (it == key_index_.end()) return -1;
  const size_t bt = static_cast<size_t>(config_.block_tokens);
  const int32_t* stored = key_tokens_.data() + static_cast<size_t>(it->second) * bt;
  return std::equal(stored, stored + bt, tokens) ? it->second : -1;
}

int64_t KvCache::count_cached_prefix(const uint64_t* keys, const int32_t* tokens, int64_t n_keys) const {
  int64_t n = 0;
  while (n < n_keys && find_published(keys[n], tokens + n * config_.block_tokens) >= 0) ++n;
  return n;
}

int64_t KvCache::attach_cached_prefix(int seq, const uint64_t* keys, const int32_t* tokens, int64_t n_keys) {
  if (seq < 0) raise<InvalidArgument>("KV cache: negative sequence id {}", seq);
  if (static_cast<size_t>(seq) >= block_tables_.size()) block_tables_.resize(seq + 1);
  auto& table = block_tables_[seq];
  if (!table.empty()) raise<InvalidArgument>("KV cache: a cached prefix can only start an empty sequence");
  for (int64_t i = 0; i < n_keys; ++i) {
    const int64_t block = find_published(keys[i], tokens + i * config_.block_tokens);
    if (block < 0) break;
    const auto b = static_cast<size_t>(block);
    if (refcount_[b]++ == 0) lru_.erase(lru_pos_[b]);  // cached -> used
    table.push_back(block);
  }
  return static_cast<int64_t>(table.size());
}

void KvCache::publish_block(int seq, int64_t index, uint64_t key, const int32_t* tokens) {
  const auto& table = block_table(seq);
  if (index < 0 || index >= static_cast<int64_t>(table.size())) {
    raise<InvalidArgument>("KV cache: sequence {} has no block {}", seq, index);
  }
  const int64_t block = table[static_cast<size_t>(index)];
  const auto b = static_cast<size_t>(block);
  if (has_key_[b] || key_index_.count(key)) return;
  has_key_[b] = 1;
  key_[b] = key;
  const size_t bt = static_cast<size_t>(config_.block_tokens);
  std::copy(tokens, tokens + bt, key_tokens_.begin() + static_cast<std::ptrdiff_t>(b * bt));
  key_index_.emplace(key, block);
}

void KvCache::clear_prefix_cache() {
  for (int64_t block : lru_) {
    forget_key(block);
    free_list_.push_back(block);
  }
  lru_.clear();
}

const std::vector<int64_t>& KvCache::block_table(int seq) const {
  static const std::vector<int64_t> kEmpty;
  if (seq < 0 || static_cast<size_t>(seq) >= block_tables_.size()) return kEmpty;
  return block_tables_[static_cast<size_t>(seq)];
}

// Block layout: for each layer, K of every token in the block, then V of every
// token. Tokens of one block are contiguous per layer so attention streams them.
size_t KvCache::token_offset(int layer, int seq, int64_t pos, bool value) const {
  const int64_t block = block_tables_[seq][pos / config_.block_tokens];
  const int64_t slot = pos % config_.block_tokens;
  const size_t layer_elems = config_.block_tokens * (k_token_elems_ + v_token_elems_);
  size_t offset = static_cast<size_t>(block) * block_elems_ + layer * layer_elems;
  if (value) offset += config_.block_tokens * k_token_elems_ + slot * v_token_elems_;
  else offset += slot * k_token_elems_;
  return offset;
}

uint16_t* KvCache::k(int layer, int seq, int64_t pos) {
  return storage_.data() + token_offset(layer, seq, pos, false);
}
uint16_t* KvCache::v(int layer, int seq, int64_t pos) {
  return storage_.data() + token_offset(layer, seq, pos, true);
}
const uint16_t* KvCache::k(int layer, int seq, int64_t pos) const {
  return storage_.data() + token_offset(layer, seq, pos, false);
}
const uint16_t* KvCache::v(int layer, int seq, int64_t pos) const {
  return storage_.data() + token_offset(layer, seq, pos, true);
}

}  // namespace tessera
