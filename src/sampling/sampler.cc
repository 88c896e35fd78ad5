#include "sampling/sampler.h"

#include <algorithm>
#include <cmath>

#include "core/error.h"

namespace tessera {

void SamplingParams::validate() const {
  if (!std::isfinite(temperature)) raise<InvalidArgument>("--temp must be a finite number, got {}", temperature);
  if (top_k < 0) raise<InvalidArgument>("--top-k must be >= 0 (0 = off), got {}", top_k);
  if (!(top_p > 0.0f && top_p <= 1.0f)) raise<InvalidArgument>("--top-p must be in (0, 1] (1 = off), got {}", top_p);
  if (!(min_p >= 0.0f && min_p <= 1.0f)) raise<InvalidArgument>("--min-p must be in [0, 1] (0 = off), got {}", min_p);
  if (!(repeat_penalty > 0.0f) || !std::isfinite(repeat_penalty)) {
    raise<InvalidArgument>("--repeat-penalty must be a positive number (1 = off), got {}", repeat_penalty);
  }
  if (repeat_last_n < 0) raise<InvalidArgument>("--repeat-last-n must be >= 0 (0 = off), got {}", repeat_last_n);
  if (!std::isfinite(frequency_penalty)) {
    raise<InvalidArgument>("--frequency-penalty must be a finite number, got {}", frequency_penalty);
  }
  if (!std::isfinite(presence_penalty)) {
    raise<InvalidArgument>("--presence-penalty must be a finite number, got {}", presence_penalty);
  }
}

void apply_penalties(float* logits, int64_t n_vocab, const std::unordered_map<int32_t, int>& counts,
                     const SamplingParams& p) {
  if (p.repeat_penalty == 1.0f && p.frequency_penalty == 0.0f && p.presence_penalty == 0.0f) return;
  for (const auto& [token, count] : counts) {
    if (token < 0 || token >= n_vocab || count <= 0) continue;
    float& l = logits[token];
    l = l > 0.0f ? l / p.repeat_penalty : l * p.repeat_penalty;
    l -= static_cast<float>(count) * p.frequency_penalty + p.presence_penalty;
  }
}

Sampler::Sampler(const SamplingParams& params) : params_(params), rng_(params.seed) { params_.validate(); }

void Sampler::reset() {
  rng_.seed(params_.seed);
  recent_.clear();
  recent_counts_.clear();
}

void Sampler::accept(int32_t token) {
  if (params_.repeat_last_n == 0) return;
  recent_.push_back(token);
  ++recent_counts_[token];
  if (static_cast<int>(recent_.size()) > params_.repeat_last_n) {
    const int32_t old = recent_.front();
    recent_.pop_front();
    if (--recent_counts_[old] == 0) recent_counts_.erase(old);
  }
}

int32_t Sampler::sample(float* logits, int64_t n_vocab) {
  apply_penalties(logits, n_vocab, recent_counts_, params_);
  if (params_.greedy()) {
    // First maximum on ties, like the sorted order of the sampled path.
    return static_cast<int32_t>(std::max_element(logits, logits + n_vocab) - logits);
  }
  candidates_.fill(logits, n_vocab);
  keep_top_k(candidates_, params_.top_k);
  keep_top_p(candidates_, params_.top_p);
  keep_min_p(candidates_, params_.min_p);
  apply_temperature(candidates_, params_.temperature);
  return draw(candidates_, rng_);
}

}  // namespace tessera
