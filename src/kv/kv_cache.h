// Paged KV cache: fixed-size blocks of tokens in one preallocated pool; each
// sequence owns a block table mapping its positions to blocks. Storage is fp16
// (as llama.cpp's default cache). The attention kernels read through
// block_of(); later policies (precision, eviction, prefix sharing) plug in here.
#pragma once

#include <cstddef>
#include <cstdint>
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

class KvCache {
 public:
  explicit KvCache(const KvCacheConfig& config);

  const KvCacheConfig& config() const { return config_; }
  int64_t free_blocks() const { return static_cast<int64_t>(free_list_.size()); }
  int64_t capacity_tokens() const { return config_.n_blocks * config_.block_tokens; }
  size_t bytes() const { return storage_.size() * sizeof(uint16_t); }

  // Sequences are identified by small non-negative ids chosen by the caller.
  // reserve() makes room for positions [0, n_tokens) of seq, allocating blocks
  // as needed; returns false (allocating nothing) when the pool is too small.
  bool reserve(int seq, int64_t n_tokens);
  // Drops a sequence and returns its blocks to the pool.
  void release(int seq);
  // Forget positions >= n_tokens (keeps blocks still needed).
  void truncate(int seq, int64_t n_tokens);
  int64_t reserved_tokens(int seq) const;

  // Pointers to the fp16 K / V vectors (n_kv_heads * head_dim each) of one
  // token. Valid positions are those covered by reserve().
  uint16_t* k(int layer, int seq, int64_t pos);
  uint16_t* v(int layer, int seq, int64_t pos);
  const uint16_t* k(int layer, int seq, int64_t pos) const;
  const uint16_t* v(int layer, int seq, int64_t pos) const;

 private:
  size_t token_offset(int layer, int seq, int64_t pos, bool value) const;

  KvCacheConfig config_;
  size_t k_token_elems_;
  size_t v_token_elems_;
  size_t block_elems_;  // one block across all layers, K then V per layer
  std::vector<uint16_t> storage_;
  std::vector<int64_t> free_list_;
  std::vector<std::vector<int64_t>> block_tables_;  // per sequence
};

}  // namespace tessera
