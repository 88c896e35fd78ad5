#include "eval/log_probs.h"

#include <algorithm>
#include <cmath>

namespace tessera {

void log_softmax(const float* logits, int64_t n, float* out) {
  const float max = *std::max_element(logits, logits + n);
  double sum = 0;
  for (int64_t i = 0; i < n; ++i) sum += std::exp(static_cast<double>(logits[i]) - max);
  const double log_norm = max + std::log(sum);
  for (int64_t i = 0; i < n; ++i) out[i] = static_cast<float>(static_cast<double>(logits[i]) - log_norm);
}

double kl_divergence(const float* log_p, const float* log_q, int64_t n) {
  double kl = 0;
  for (int64_t i = 0; i < n; ++i) {
    const double lp = log_p[i];
    if (lp == -INFINITY) continue;
    kl += std::exp(lp) * (lp - static_cast<double>(log_q[i]));
  }
  return kl;
}

int64_t argmax(const float* values, int64_t n) { return std::max_element(values, values + n) - values; }

double NllStats::perplexity() const { return std::exp(mean()); }

double NllStats::perplexity_error() const {
  if (count_ < 2) return 0.0;
  const double m = mean();
  const double variance = sum_sq_ / static_cast<double>(count_) - m * m;
  return variance > 0 ? perplexity() * std::sqrt(variance / static_cast<double>(count_ - 1)) : 0.0;
}

double percentile(std::vector<double>& values, double q) {
  std::sort(values.begin(), values.end());
  const double at = q * static_cast<double>(values.size() - 1);
  const auto below = static_cast<size_t>(std::floor(at));
  const size_t above = std::min(below + 1, values.size() - 1);
  const double frac = at - static_cast<double>(below);
  return values[below] + frac * (values[above] - values[below]);
}

}  // namespace tessera
