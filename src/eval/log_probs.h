// The arithmetic of quality measurement: log-softmax, KL divergence,
// negative log-likelihood statistics (perplexity with llama-perplexity's
// error estimate) and percentiles. Pure functions, unit tested on small cases.
#pragma once

#include <cstdint>
#include <vector>

namespace tessera {

// out[i] = logits[i] - logsumexp(logits), the sum accumulated in double.
// out may alias logits.
void log_softmax(const float* logits, int64_t n, float* out);

// KL(p || q) = sum_i p_i (log p_i - log q_i) for two log-probability vectors
// (each normalised). Terms with p_i = 0 contribute 0. Not clamped: a tiny
// negative value means the inputs were not exactly normalised.
double kl_divergence(const float* log_p, const float* log_q, int64_t n);

// Index of the largest value (the first one on ties).
int64_t argmax(const float* values, int64_t n);

// Running statistics of per-token negative log-likelihoods.
class NllStats {
 public:
  void add(double nll) {
    sum_ += nll;
    sum_sq_ += nll * nll;
    ++count_;
  }
  int64_t count() const { return count_; }
  double mean() const { return count_ > 0 ? sum_ / static_cast<double>(count_) : 0.0; }
  double perplexity() const;  // exp(mean NLL)
  // llama-perplexity's "± x": the standard error of the mean NLL,
  // sqrt(var / (n - 1)), propagated through exp (times the perplexity).
  double perplexity_error() const;

 private:
  double sum_ = 0, sum_sq_ = 0;
  int64_t count_ = 0;
};

// The q-quantile (0 <= q <= 1) of values, interpolating linearly between the
// order statistics at q * (n - 1). values must not be empty; it is sorted.
double percentile(std::vector<double>& values, double q);

}  // namespace tessera
