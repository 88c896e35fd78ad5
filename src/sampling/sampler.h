// Token choice from logits: penalties on the raw logits, then top-k, top-p,
// min-p and temperature, then a draw from a seeded generator (or argmax when
// greedy). Same seed, same logits -> same tokens.
#pragma once

#include <cstdint>
#include <deque>
#include <random>
#include <unordered_map>
#include <vector>

namespace tessera {

struct SamplingParams {
  float temperature = 0.8f;  // <= 0: greedy
  int top_k = 40;            // <= 0: off
  float top_p = 0.95f;       // 1: off
  float min_p = 0.05f;       // 0: off
  float repeat_penalty = 1.0f;  // 1: off
  int repeat_last_n = 64;       // window of recent tokens the penalties look at
  float frequency_penalty = 0.0f;
  float presence_penalty = 0.0f;
  uint64_t seed = 0xC0FFEE;

  // Throws InvalidArgument naming the field for impossible values.
  void validate() const;
  bool greedy() const { return temperature <= 0.0f; }
};

class Sampler {
 public:
  explicit Sampler(const SamplingParams& params);

  // Picks a token from n_vocab logits (the array is modified by penalties).
  int32_t sample(float* logits, int64_t n_vocab);
  // Records a token (prompt or generated) for the penalty window.
  void accept(int32_t token);
  void reset();

 private:
  void apply_penalties(float* logits, int64_t n_vocab) const;

  SamplingParams params_;
  std::mt19937_64 rng_;
  std::deque<int32_t> recent_;
  std::unordered_map<int32_t, int> recent_counts_;
  std::vector<std::pair<float, int32_t>> candidates_;
};

}  // namespace tessera
