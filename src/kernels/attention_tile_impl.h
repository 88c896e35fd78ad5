// Scratch layout shared by the tiled attention kernels (attention_tile.h).
#pragma once

#include <cstdint>

#include "kernels/attention_tile.h"

namespace tessera {

// One tile's working memory, carved from a float buffer. Regions start at
// multiples of 16 floats from the buffer's start.
struct AttentionScratch {
  float* qt;  // head_dim_k x kMaxTileRows: the queries transposed (row r in lane r)
  float* st;  // kKeyBlock x kMaxTileRows: a block's scores, then its weights
  float* k;   // kKeyBlock x head_dim_k: the block's keys in f32
  float* v;   // kKeyBlock x head_dim_v: its values in f32
  float* o;   // kMaxTileRows x head_dim_v: unnormalised outputs of the current chunk
  float* total_o;  // kMaxTileRows x head_dim_v: the state of the chunks so far
  float* chunk_m;  // kMaxTileRows each: the current chunk's max and sum,
  float* chunk_l;  // and those of the chunks so far
  float* total_m;
  float* total_l;

  static int64_t round16(int64_t n) { return (n + 15) / 16 * 16; }
  static int64_t floats(int64_t dk, int64_t dv) {
    return dk * kMaxTileRows + kKeyBlock * kMaxTileRows + kKeyBlock * round16(dk) + kKeyBlock * dv +
           2 * kMaxTileRows * dv + 4 * kMaxTileRows;
  }
  AttentionScratch(float* base, int64_t dk, int64_t dv)
      : qt(base),
        st(qt + dk * kMaxTileRows),
        k(st + kKeyBlock * kMaxTileRows),
        v(k + kKeyBlock * round16(dk)),
        o(v + kKeyBlock * dv),
        total_o(o + kMaxTileRows * dv),
        chunk_m(total_o + kMaxTileRows * dv),
        chunk_l(chunk_m + kMaxTileRows),
        total_m(chunk_l + kMaxTileRows),
        total_l(total_m + kMaxTileRows) {}

  // Where chunk results accumulate: the caller's partial state, or scratch.
  AttentionState total(const AttentionTile& t) const {
    return t.partial != nullptr ? *t.partial : AttentionState{total_o, total_m, total_l};
  }
};

}  // namespace tessera
