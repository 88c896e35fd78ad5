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
  float* o;   // kMaxTileRows x head_dim_v: unnormalised outputs

  static int64_t round16(int64_t n) { return (n + 15) / 16 * 16; }
  static int64_t floats(int64_t dk, int64_t dv) {
    return dk * kMaxTileRows + kKeyBlock * kMaxTileRows + kKeyBlock * round16(dk) + kKeyBlock * dv +
           kMaxTileRows * dv;
  }
  AttentionScratch(float* base, int64_t dk, int64_t dv)
      : qt(base),
        st(qt + dk * kMaxTileRows),
        k(st + kKeyBlock * kMaxTileRows),
        v(k + kKeyBlock * round16(dk)),
        o(v + kKeyBlock * dv) {}
};

}  // namespace tessera
