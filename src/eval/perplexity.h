// Perplexity as llama.cpp's llama-perplexity computes it, and KL divergence
// against saved baseline log-probabilities (how every quantization is judged).
//
// Windows: the text is tokenized once (with BOS), cut into consecutive
// non-overlapping windows of n_ctx tokens; each window's first token is
// replaced by BOS and evaluated from an empty cache; positions
// n_ctx/2 .. n_ctx-2 are scored (each predicting the next token).
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "core/thread_pool.h"
#include "model/model.h"

namespace tessera {

struct PerplexityOptions {
  int64_t n_ctx = 512;
  int64_t max_chunks = -1;  // -1: all whole windows in the text
  int64_t batch = 512;
  std::string save_logits_path;  // write scored log-probabilities here
  std::string kl_baseline_path;   // compare against log-probabilities saved earlier
};

struct PerplexityResult {
  int64_t n_chunks = 0;
  int64_t n_scored = 0;
  double perplexity = 0;
  double perplexity_error = 0;  // one standard error, as llama-perplexity prints it
  double mean_nll = 0;
  double seconds = 0;
  // Filled with a KL baseline:
  bool has_kl = false;
  double kl_mean = 0;
  double kl_p99 = 0;
  double kl_max = 0;
  double top1_agreement = 0;
  double baseline_perplexity = 0;
};

// progress(done_chunks, total_chunks, running_perplexity)
PerplexityResult compute_perplexity(Model& model, const std::string& text, const PerplexityOptions& options,
                                    ThreadPool& pool,
                                    const std::function<void(int64_t, int64_t, double)>& progress = {});

// log-softmax of n logits into out (double accumulation); returns nothing.
void log_softmax(const float* logits, int64_t n, float* out);
// KL(p || q) for two log-probability vectors.
double kl_divergence(const float* log_p, const float* log_q, int64_t n);

}  // namespace tessera
