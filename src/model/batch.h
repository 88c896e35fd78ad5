// A batch is a flat list of (sequence, position, token). Prefill chunks and
// decode steps of many sequences go through the same forward pass.
#pragma once

#include <cstdint>
#include <vector>

namespace tessera {

struct Batch {
  std::vector<int32_t> tokens;
  std::vector<int32_t> positions;
  std::vector<int32_t> seq_ids;
  std::vector<uint8_t> want_logits;  // 1 where the caller needs this token's logits
  // true: every token's logits are bit-identical whatever other tokens share
  // the batch (serving: a request's output must not depend on its neighbours).
  // false: kernels follow llama.cpp's batch-size-dependent float order, which
  // keeps single-sequence prefill closest to the reference (SumOrder).
  bool invariant = false;

  void add(int32_t token, int32_t position, int32_t seq_id, bool logits) {
    tokens.push_back(token);
    positions.push_back(position);
    seq_ids.push_back(seq_id);
    want_logits.push_back(logits ? 1 : 0);
  }
  void clear() {
    tokens.clear();
    positions.clear();
    seq_ids.clear();
    want_logits.clear();
  }
  int64_t size() const { return static_cast<int64_t>(tokens.size()); }
  int64_t n_logits() const;
};

inline int64_t Batch::n_logits() const {
  int64_t n = 0;
  for (uint8_t w : want_logits) n += w;
  return n;
}

}  // namespace tessera
