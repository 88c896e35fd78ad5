// Perplexity as llama.cpp's llama-perplexity computes it, and KL divergence
// against saved baseline log-probabilities (how every quantization or cache
// setting is judged).
//
// Windows: the text is tokenized once (BOS as the vocabulary says, special
// tokens not parsed), cut into consecutive non-overlapping windows of n_ctx
// tokens; each window's first token is replaced by BOS (when the vocabulary
// adds one) and evaluated from an empty cache; positions n_ctx/2 .. n_ctx-2
// are scored, each predicting the next token. Perplexity = exp(mean NLL).
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
  int64_t max_chunks = -1;  // -1: every whole window in the text
  int64_t batch = 512;      // tokens per forward pass
  std::string save_logits_path;  // write scored log-probabilities here (eval/saved_logits.h)
  std::string kl_baseline_path;  // compare against log-probabilities saved earlier

  // Throws InvalidArgument naming the flag for impossible values.
  void validate() const;
};

struct PerplexityResult {
  int64_t n_tokens = 0;  // tokens in the whole text
  int64_t n_chunks = 0;
  int64_t n_scored = 0;
  double perplexity = 0;
  double perplexity_error = 0;  // llama-perplexity's "±"
  double mean_nll = 0;
  double seconds = 0;
  // Filled when a KL baseline is given. KL(baseline || this run) per scored
  // position; the baseline rows are renormalised after widening from fp16 so
  // that a run against its own baseline gives ~0 rather than rounding bias.
  bool has_kl = false;
  double kl_mean = 0;
  double kl_p99 = 0;
  double kl_max = 0;
  double top1_agreement = 0;  // share of positions where both argmaxes agree
  double baseline_perplexity = 0;
  double baseline_perplexity_error = 0;
};

// progress(done_chunks, total_chunks, running_perplexity) after each window.
// Throws InvalidArgument for bad options, a text shorter than one window, or
// a baseline saved for other tokens, vocabulary, window size or window count.
PerplexityResult compute_perplexity(Model& model, const std::string& text, const PerplexityOptions& options,
                                    ThreadPool& pool,
                                    const std::function<void(int64_t, int64_t, double)>& progress = {});

}  // namespace tessera
