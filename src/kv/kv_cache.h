// Paged KV cache: fixed-size blocks of tokens in one preallocated pool; each
// sequence owns a block table mapping its positions to blocks. Storage is fp16
// (as llama.cpp's default cache). The attention kernels read through
// block_of(); later policies (precision, eviction) plug in here.
//
// Blocks are reference-counted so sequences can share prefix blocks without
// copying, and the cache doubles as a prefix cache: a full block whose tokens
// are final can be published under a key (prefix_block_key: its tokens chained
// with the previous block's key). When the last sequence lets go of a
// published block it is not freed but kept "cached", reusable by the next
// sequence with the same prefix, until the pool needs it: allocation takes
// truly free blocks first, then evicts cached blocks least recently released.
//
// Invariants:
//  - every block is exactly one of: free (refcount 0, no key), cached
//    (refcount 0, has a key, in the LRU list) or used (refcount > 0);
//  - a block with refcount > 1 or a key is never written: the caller only
//    writes positions its sequence computed itself, and shares / publishes
//    only full blocks whose tokens it will not rewrite.
#pragma once

#include <cstddef>
#include <cstdint>
#include <list>
#include <unordered_map>
#include <vector>

namespace tessera {

struct KvCacheConfig {
  int n_layers = 0;
  int n_kv_heads = 0;
  int head_dim_k = 0;
  int head_dim_v = 0;
  int block_tokens = 32;   // tokens per block
  int64_t n_blocks = 0;    // blocks in the pool
};

// Key of a full block of `n` tokens that follows the block keyed `prev_key`
// (0 for the first block of a sequence). Equal keys mean equal token prefixes
// up to a 64-bit hash collision; the cache does not trust that (the hash is
// not cryptographic, and a client could craft a colliding prompt to poison
// another's prefix), so a lookup also compares the block's tokens.
uint64_t prefix_block_key(uint64_t prev_key, const int32_t* tokens, int64_t n);

class KvCache {
 public:
  explicit KvCache(const KvCacheConfig& config);
  // Not copyable: the LRU list positions would point into the source.
  KvCache(const KvCache&) = delete;
  KvCache& operator=(const KvCache&) = delete;

  const KvCacheConfig& config() const { return config_; }
  // Blocks holding nothing.
  int64_t free_blocks() const { return static_cast<int64_t>(free_list_.size()); }
  // Unreferenced blocks kept for the prefix cache (evictable on demand).
  int64_t cached_blocks() const { return static_cast<int64_t>(lru_.size()); }
  // Blocks an allocation can get: free + cached.
  int64_t available_blocks() const { return free_blocks() + cached_blocks(); }
  // Blocks referenced by at least one sequence.
  int64_t used_blocks() const { return config_.n_blocks - available_blocks(); }
  int64_t capacity_tokens() const { return config_.n_blocks * config_.block_tokens; }
  size_t bytes() const { return storage_.size() * sizeof(uint16_t); }

  // Sequences are identified by small non-negative ids chosen by the caller.
  // reserve() makes room for positions [0, n_tokens) of seq, allocating blocks
  // as needed (evicting cached ones if no block is free); returns false
  // (allocating nothing) when the pool is too small.
  bool reserve(int seq, int64_t n_tokens);
  // Drops a sequence and lets go of its blocks.
  void release(int seq);
  // Forget positions >= n_tokens (keeps blocks still needed).
  void truncate(int seq, int64_t n_tokens);
  int64_t reserved_tokens(int seq) const;

  // Prefix cache. `tokens` holds n_keys * block_tokens tokens: block i's are
  // tokens[i * block_tokens, (i + 1) * block_tokens), keyed keys[i]. A block
  // matches when its key is published and its stored tokens are equal (so
  // a chain of matches is a token-by-token equal prefix).
  // Blocks that match in order, up to the first miss, without attaching.
  int64_t count_cached_prefix(const uint64_t* keys, const int32_t* tokens, int64_t n_keys) const;
  // Attaches the matching cached blocks to seq, which must hold no blocks;
  // they become positions [0, returned * block_tokens) of seq, shared, not
  // copied. Returns how many blocks were attached.
  int64_t attach_cached_prefix(int seq, const uint64_t* keys, const int32_t* tokens, int64_t n_keys);
  // Publishes block `index` of seq's table (full, its tokens final: the
  // block_tokens values at `tokens`) under key. No-op if the key is already
  // published (by another block) or the block already has a key.
  void publish_block(int seq, int64_t index, uint64_t key, const int32_t* tokens);
  // Drops every cached (unreferenced) block back to the free list.
  void clear_prefix_cache();

  // Introspection for tests and metrics.
  const std::vector<int64_t>& block_table(int seq) const;
  int block_refcount(int64_t block) const { return refcount_[static_cast<size_t>(block)]; }

  // Pointers to the fp16 K / V vectors (n_kv_heads * head_dim each) of one
  // token. Valid positions are those covered by reserve().
  uint16_t* k(int layer, int seq, int64_t pos);
  uint16_t* v(int layer, int seq, int64_t pos);
  const uint16_t* k(int layer, int seq, int64_t pos) const;
  const uint16_t* v(int layer, int seq, int64_t pos) const;

 private:
  size_t token_offset(int layer, int seq, int64_t pos, bool value) const;
  int64_t allocate_block();        // requires available_blocks() > 0
  void unref_block(int64_t block);
  void forget_key(int64_t block);  // removes block's key from the index
  // The published block under key whose stored tokens equal `tokens`, or -1.
  int64_t find_published(uint64_t key, const int32_t* tokens) const;

  KvCacheConfig config_;
  size_t k_token_elems_;
  size_t v_token_elems_;
  size_t block_elems_;  // one block across all layers, K then V per layer
  std::vector<uint16_t> storage_;
  std::vector<int64_t> free_list_;
  std::vector<std::vector<int64_t>> block_tables_;  // per sequence
  std::vector<int32_t> refcount_;                    // per block
  std::vector<uint8_t> has_key_;                     // per block
  std::vector<uint64_t> key_;                        // per block, valid when has_key_
  std::vector<int32_t> key_tokens_;                  // block_tokens per block, valid when has_key_
  std::unordered_map<uint64_t, int64_t> key_index_;  // published key -> block
  std::list<int64_t> lru_;                           // cached blocks, least recently released first
  std::vector<std::list<int64_t>::iterator> lru_pos_;  // per block, valid when cached
};

}  // namespace tessera
