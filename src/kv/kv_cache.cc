#include "kv/kv_cache.h"

#include "core/error.h"

namespace tessera {

KvCache::KvCache(const KvCacheConfig& config) : config_(config) {
  if (config.n_layers <= 0 || config.n_kv_heads <= 0 || config.head_dim_k <= 0 ||
      config.head_dim_v <= 0 || config.block_tokens <= 0 || config.n_blocks <= 0) {
    raise<InvalidArgument>("KV cache: every dimension must be positive");
  }
  k_token_elems_ = static_cast<size_t>(config.n_kv_heads) * config.head_dim_k;
  v_token_elems_ = static_cast<size_t>(config.n_kv_heads) * config.head_dim_v;
  block_elems_ = static_cast<size_t>(config.n_layers) * config.block_tokens *
                 (k_token_elems_ + v_token_elems_);
  storage_.resize(block_elems_ * static_cast<size_t>(config.n_blocks));
  free_list_.reserve(static_cast<size_t>(config.n_blocks));
  // Hand out low block numbers first (pop_back takes from the end).
  for (int64_t b = config.n_blocks - 1; b >= 0; --b) free_list_.push_back(b);
}

bool KvCache::reserve(int seq, int64_t n_tokens) {
  if (seq < 0) raise<InvalidArgument>("KV cache: negative sequence id {}", seq);
  if (static_cast<size_t>(seq) >= block_tables_.size()) block_tables_.resize(seq + 1);
  auto& table = block_tables_[seq];
  const int64_t needed = (n_tokens + config_.block_tokens - 1) / config_.block_tokens;
  const int64_t extra = needed - static_cast<int64_t>(table.size());
  if (extra <= 0) return true;
  if (extra > free_blocks()) return false;
  for (int64_t i = 0; i < extra; ++i) {
    table.push_back(free_list_.back());
    free_list_.pop_back();
  }
  return true;
}

void KvCache::release(int seq) { truncate(seq, 0); }

void KvCache::truncate(int seq, int64_t n_tokens) {
  if (seq < 0 || static_cast<size_t>(seq) >= block_tables_.size()) return;
  auto& table = block_tables_[seq];
  const int64_t keep = (n_tokens + config_.block_tokens - 1) / config_.block_tokens;
  while (static_cast<int64_t>(table.size()) > keep) {
    free_list_.push_back(table.back());
    table.pop_back();
  }
}

int64_t KvCache::reserved_tokens(int seq) const {
  if (seq < 0 || static_cast<size_t>(seq) >= block_tables_.size()) return 0;
  return static_cast<int64_t>(block_tables_[seq].size()) * config_.block_tokens;
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
