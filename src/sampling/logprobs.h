// Log-probabilities of a sampled token and of the most likely alternatives,
// as the OpenAI API reports them: a log-softmax of the logits after the
// penalties and before temperature / top-k / top-p / min-p.
#pragma once

#include <cstdint>
#include <utility>
#include <vector>

namespace tessera {

struct TokenLogprob {
  int32_t token = 0;
  float logprob = 0;
  std::vector<std::pair<int32_t, float>> top;  // most likely first, ties by lower id
};

constexpr int kMaxTopLogprobs = 20;

// top_n in [0, kMaxTopLogprobs]: how many alternatives to list (the chosen
// token may be among them).
TokenLogprob token_logprob(const float* logits, int64_t n_vocab, int32_t chosen, int top_n);

}  // namespace tessera
