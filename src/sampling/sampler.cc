#include "sampling/sampler.h"

#include <algorithm>
#include <cmath>

#include "core/error.h"

namespace tessera {

void SamplingParams::validate() const {
  if (!std::isfinite(temperature)) raise<InvalidArgument>("temperature must be finite");
  if (top_k < 0) raise<InvalidArgument>("top-k must be >= 0 (0 = off), got {}", top_k);
  if (!(top_p > 0.0f && top_p <= 1.0f)) raise<InvalidArgument>("top-p must be in (0, 1], got {}", top_p);
  if (!(min_p >= 0.0f && min_p <= 1.0f)) raise<InvalidArgument>("min-p must be in [0, 1], got {}", min_p);
  if (!(repeat_penalty > 0.0f) || !std::isfinite(repeat_penalty)) {
    raise<InvalidArgument>("repeat-penalty must be positive, got {}", repeat_penalty);
  }
  if (repeat_last_n < 0) raise<InvalidArgument>("repeat-last-n must be >= 0, got {}", repeat_last_n);
  if (!std::isfinite(frequency_penalty) || !std::isfinite(presence_penalty)) {
    raise<InvalidArgument>("frequency and presence penalties must be finite");
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

void Sampler::apply_penalties(float* logits, int64_t n_vocab) const {
  const bool any = params_.repeat_penalty != 1.0f || params_.frequency_penalty != 0.0f ||
                   params_.presence_penalty != 0.0f;
  if (!any) return;
  for (const auto& [token, count] : recent_counts_) {
    if (token < 0 || token >= n_vocab) continue;
    float& l = logits[token];
    // Repetition penalty as in CTRL / llama.cpp: shrink positive, grow negative.
    l = l > 0.0f ? l / params_.repeat_penalty : l * params_.repeat_penalty;
    l -= static_cast<float>(count) * params_.frequency_penalty + params_.presence_penalty;
  }
}

int32_t Sampler::sample(float* logits, int64_t n_vocab) {
  apply_penalties(logits, n_vocab);
  if (params_.greedy()) {
    return static_cast<int32_t>(std::max_element(logits, logits + n_vocab) - logits);
  }
  candidates_.resize(static_cast<size_t>(n_vocab));
  for (int64_t i = 0; i < n_vocab; ++i) candidates_[i] = {logits[i], static_cast<int32_t>(i)};
  auto by_logit = [](const auto& a, const auto& b) { return a.first > b.first || (a.first == b.first && a.second < b.second); };
  size_t n = candidates_.size();
  if (params_.top_k > 0 && static_cast<size_t>(params_.top_k) < n) {
    n = static_cast<size_t>(params_.top_k);
    std::partial_sort(candidates_.begin(), candidates_.begin() + static_cast<std::ptrdiff_t>(n), candidates_.end(), by_logit);
  } else {
    std::sort(candidates_.begin(), candidates_.end(), by_logit);
  }
  // Softmax over the survivors (at temperature 1 for the top-p / min-p cuts, as llama.cpp's chain does).
  std::vector<double> probs(n);
  const double max_logit = candidates_[0].first;
  double sum = 0;
  for (size_t i = 0; i < n; ++i) sum += probs[i] = std::exp(candidates_[i].first - max_logit);
  for (auto& p : probs) p /= sum;
  if (params_.top_p < 1.0f) {
    double cum = 0;
    size_t keep = n;
    for (size_t i = 0; i < n; ++i) {
      cum += probs[i];
      if (cum >= params_.top_p) {
        keep = i + 1;
        break;
      }
    }
    n = keep;
  }
  if (params_.min_p > 0.0f) {
    const double floor = probs[0] * params_.min_p;
    size_t keep = 1;
    while (keep < n && probs[keep] >= floor) ++keep;
    n = keep;
  }
  // Temperature, then draw.
  std::vector<double> weights(n);
  for (size_t i = 0; i < n; ++i) weights[i] = std::exp((candidates_[i].first - max_logit) / params_.temperature);
  std::discrete_distribution<size_t> pick(weights.begin(), weights.end());
  return candidates_[pick(rng_)].second;
}

}  // namespace tessera
