// Tiled attention with online softmax (the flash-attention recurrence) for a
// tile of up to kMaxTileRows query rows that share one KV head: the query
// heads of a GQA group, for one or several tokens of one sequence. Keys and
// values are read once per tile, in blocks of kKeyBlock positions, and the
// tile never holds a full row of scores.
//
// Numerics (why a row's result does not depend on its tile): rows sit in SIMD
// lanes for the scores and the softmax, and every lane runs the same sequence
// of operations whatever the other lanes hold; key blocks start at multiples
// of kKeyBlock in absolute positions; a block in which a row has no valid key
// leaves that row's state exactly unchanged (its correction factor is exactly
// 1 and its weights exactly 0). So a token's output is the same whichever
// tokens, heads or threads share its tile: batch- and thread-invariant.
//
// Queries are rounded to fp16 before q·k, as llama.cpp does when it multiplies
// them with the fp16 K cache (its non-flash attention, and its flash attention
// for single tokens; its batched flash attention keeps them in f32). Without
// the rounding the default model's greedy continuations drifted from llama.cpp's
// (a pick 0.5 below its argmax, tests/python/test_default_model.py), with it
// the random-weight fixtures sit further from llama.cpp -fa's prefill; one
// choice has to serve both (a token's bits must not depend on its batch).
//
// The SIMD kernels and the scalar reference perform the same float operations
// in the same order (the exp is ggml's polynomial with AVX-512's exact scaling,
// ggml_expf_lane_avx512 in scalar form, on every ISA), so they agree bit for
// bit, and a model gives the same bits on AVX2 and AVX-512 CPUs; tests hold
// them to that.
#pragma once

#include <cstdint>

namespace tessera {

inline constexpr int kMaxTileRows = 32;
inline constexpr int64_t kKeyBlock = 64;
// The softmax state restarts at every multiple of kKeyChunk positions and the
// chunks' states are merged in order (attention_state_merge). A decode step
// over a long context can then give its chunks to different threads and merge
// them afterwards with the same bits as one thread taking them in turn.
inline constexpr int64_t kKeyChunk = 256;
static_assert(kKeyChunk % kKeyBlock == 0);

// Unnormalised attention state of n rows: o (n x head_dim_v) = Σ_j w_j v_j,
// m = the running max score, l = Σ_j w_j, with w_j = exp(score_j - m).
struct AttentionState {
  float* o = nullptr;
  float* m = nullptr;
  float* l = nullptr;
};

struct AttentionTile {
  int n_rows = 0;                // 1..kMaxTileRows
  int64_t head_dim_k = 0;        // any size
  int64_t head_dim_v = 0;        // a multiple of 16
  const float* const* q = nullptr;  // n_rows query rows (head_dim_k floats)
  float* const* out = nullptr;      // n_rows output rows (head_dim_v floats)
  // Row r attends to key positions [first[r], last[r]]; first[r] <= last[r].
  const int32_t* first = nullptr;
  const int32_t* last = nullptr;
  // Keys of positions [key_begin, key_begin + n_keys): fp16 rows of K
  // (head_dim_k) and V (head_dim_v). key_begin is a multiple of kKeyBlock
  // and the range covers every row's [first, last].
  int64_t key_begin = 0;
  int64_t n_keys = 0;
  const uint16_t* const* k = nullptr;
  const uint16_t* const* v = nullptr;
  float scale = 1.0f;    // multiplier on q·k
  float softcap = 0.0f;  // 0 = off; else score = softcap * tanh(score / softcap)
  // Non-null: the state over this tile's keys is written here instead of the
  // normalised rows to `out` (the keys must then lie within one chunk).
  const AttentionState* partial = nullptr;
};

// into := into followed by from (from's keys come after into's), row by row.
void attention_state_merge(int n_rows, int64_t head_dim_v, const AttentionState& from, const AttentionState& into);
// out[r] = o[r] / l[r].
void attention_state_finish(int n_rows, int64_t head_dim_v, const AttentionState& state, float* const* out);

// Floats of scratch one tile needs (per thread; reused across tiles).
int64_t attention_tile_scratch_floats(int64_t head_dim_k, int64_t head_dim_v);

// Computes the tile's output rows with the best kernel this CPU has.
void attention_tile(const AttentionTile& tile, float* scratch);

// The scalar reference (tests), the AVX2 kernel (needs AVX2 + FMA + F16C) and
// the AVX-512 kernel (needs AVX-512F).
void attention_tile_reference(const AttentionTile& tile, float* scratch);
void attention_tile_avx2(const AttentionTile& tile, float* scratch);
void attention_tile_avx512(const AttentionTile& tile, float* scratch);

}  // namespace tessera
