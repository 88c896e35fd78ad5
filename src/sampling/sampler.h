// Token choice from logits: penalties on the raw logits, then top-k, top-p,
// min-p and temperature, then a draw from a seeded std::mt19937 (or argmax
// when greedy). Same seed, same logits -> same tokens.
//
// One Sampler per sequence: it holds that sequence's penalty window and RNG.
#pragma once

#include <cstdint>
#include <deque>
#include <random>
#include <unordered_map>

#include "sampling/candidates.h"

namespace tessera {

struct SamplingParams {
  float temperature = 0.8f;     // <= 0: greedy (argmax after penalties)
  int top_k = 40;               // 0: off
  float top_p = 0.95f;          // 1: off
  float min_p = 0.05f;          // 0: off
  float repeat_penalty = 1.0f;  // 1: off
  int repeat_last_n = 64;       // window of recent tokens the penalties look at; 0: penalties off
  float frequency_penalty = 0.0f;
  float presence_penalty = 0.0f;
  uint32_t seed = 0xC0FFEE;

  // Throws InvalidArgument naming the field (as its CLI flag) for impossible values.
  void validate() const;
  bool greedy() const { return temperature <= 0.0f; }
};

// The penalties as llama.cpp applies them to the raw logits of every token
// seen in the window: repeat penalty divides a positive logit and multiplies a
// negative one; then logit -= count * frequency + (count > 0) * presence.
// `counts` maps token -> occurrences in the window.
void apply_penalties(float* logits, int64_t n_vocab, const std::unordered_map<int32_t, int>& counts,
                     const SamplingParams& params);

class Sampler {
 public:
  // Validates params (InvalidArgument).
  explicit Sampler(const SamplingParams& params);

  // Picks a token from n_vocab logits. The array is modified (penalties).
  int32_t sample(float* logits, int64_t n_vocab);
  // Records a token (prompt or generated) in the penalty window.
  void accept(int32_t token);
  // Back to the state after construction: empty window, RNG reseeded.
  void reset();

  const SamplingParams& params() const { return params_; }

 private:
  SamplingParams params_;
  std::mt19937 rng_;
  std::deque<int32_t> recent_;                  // the last repeat_last_n accepted tokens
  std::unordered_map<int32_t, int> recent_counts_;  // token -> count in recent_
  Candidates candidates_;                       // reused buffers: no allocation per token
};

}  // namespace tessera
