#include "eval/perplexity.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <memory>

#include "core/error.h"
#include "eval/log_probs.h"
#include "eval/saved_logits.h"

namespace tessera {

namespace {

// Checks that a baseline was saved for exactly the windows this run scores.
void check_baseline(const SavedLogitsReader& base, const SavedLogitsHeader& run,
                    const std::vector<TokenId>& window_tokens) {
  const SavedLogitsHeader& h = base.header();
  if (h.n_vocab != run.n_vocab || h.n_ctx != run.n_ctx || h.n_chunks != run.n_chunks) {
    raise<InvalidArgument>(
        "{}: the baseline was saved with n_vocab {}, ctx {}, {} chunks; this run has n_vocab {}, ctx {}, {} chunks",
        base.path(), h.n_vocab, h.n_ctx, h.n_chunks, run.n_vocab, run.n_ctx, run.n_chunks);
  }
  const auto mismatch = std::mismatch(window_tokens.begin(), window_tokens.end(), base.tokens().begin());
  if (mismatch.first != window_tokens.end()) {
    const auto at = mismatch.first - window_tokens.begin();
    raise<InvalidArgument>("{}: the baseline holds other tokens (window {}, position {}): another text or tokenizer",
                           base.path(), at / run.n_ctx, at % run.n_ctx);
  }
}

}  // namespace

void PerplexityOptions::validate() const {
  if (n_ctx < 4) raise<InvalidArgument>("--ctx must be at least 4, got {}", n_ctx);
  if (n_ctx > INT32_MAX) raise<InvalidArgument>("--ctx {} is too large", n_ctx);
  if (batch <= 0) raise<InvalidArgument>("--batch must be positive, got {}", batch);
  if (max_chunks == 0 || max_chunks < -1) raise<InvalidArgument>("--chunks must be positive, got {}", max_chunks);
  if (!save_logits_path.empty() && save_logits_path == kl_baseline_path) {
    raise<InvalidArgument>("--save-logits and --kl name the same file {}", save_logits_path);
  }
}

PerplexityResult compute_perplexity(Model& model, const std::string& text, const PerplexityOptions& o,
                                    ThreadPool& pool, const std::function<void(int64_t, int64_t, double)>& progress) {
  o.validate();
  const Tokenizer& tokenizer = model.tokenizer();
  const std::vector<TokenId> tokens = tokenizer.encode(text, /*add_special=*/true, /*parse_special=*/false);
  const int64_t available = static_cast<int64_t>(tokens.size()) / o.n_ctx;
  if (available == 0) {
    raise<InvalidArgument>("the text has {} tokens, fewer than one window of --ctx {}", tokens.size(), o.n_ctx);
  }
  const int64_t n_chunks = o.max_chunks > 0 ? std::min(o.max_chunks, available) : available;
  const int64_t n_vocab = model.hparams().n_vocab;
  const SavedLogitsHeader header{static_cast<uint32_t>(n_vocab), static_cast<uint32_t>(o.n_ctx),
                                 static_cast<uint32_t>(n_chunks)};
  const int64_t first = header.first_scored();
  const int64_t n_rows = header.scored_per_chunk();  // positions first .. n_ctx-2

  // Every window as evaluated: BOS first when the vocabulary adds one.
  std::vector<TokenId> windows(tokens.begin(), tokens.begin() + n_chunks * o.n_ctx);
  if (tokenizer.add_bos() && tokenizer.bos() >= 0) {
    for (int64_t c = 0; c < n_chunks; ++c) windows[static_cast<size_t>(c * o.n_ctx)] = tokenizer.bos();
  }
  std::unique_ptr<SavedLogitsReader> base;
  if (!o.kl_baseline_path.empty()) {
    base = std::make_unique<SavedLogitsReader>(o.kl_baseline_path);
    check_baseline(*base, header, windows);
  }
  std::unique_ptr<SavedLogitsWriter> save;
  if (!o.save_logits_path.empty()) save = std::make_unique<SavedLogitsWriter>(o.save_logits_path, header, windows);

  auto kv = model.make_kv_cache(o.n_ctx);
  // Logits of one forward pass at a time: memory stays at batch x n_vocab
  // however long the window.
  const int64_t buffer_rows = std::min(o.batch, n_rows);
  std::vector<float> logits(static_cast<size_t>(buffer_rows * n_vocab));  // log-probs after log_softmax
  std::vector<float> base_row(static_cast<size_t>(n_vocab));
  std::vector<float> rounded(static_cast<size_t>(n_vocab));
  NllStats nll, base_nll;
  std::vector<double> kls;
  int64_t agree = 0;
  Batch batch;
  const auto t0 = std::chrono::steady_clock::now();

  // Scores buffer rows 0..count-1, which hold window positions first_row.. .
  auto score = [&](const TokenId* window, int64_t first_row, int64_t count) {
    // The log-softmax passes cost most for large vocabularies: one row per task.
    pool.parallel_for(count, 1, [&](int64_t r0, int64_t r1) {
      for (int64_t r = r0; r < r1; ++r) log_softmax(&logits[r * n_vocab], n_vocab, &logits[r * n_vocab]);
    });
    for (int64_t r = 0; r < count; ++r) {
      const float* logp = &logits[r * n_vocab];
      const TokenId target = window[first + first_row + r + 1];
      nll.add(-static_cast<double>(logp[target]));
      if (save) save->write_row(logp);
      if (base) {
        base->read_row(base_row.data());
        // Argmaxes compared at the stored precision, so that near-ties merged
        // by fp16 rounding do not count as disagreements of a run with itself.
        round_to_half(logp, rounded.data(), n_vocab);
        agree += argmax(rounded.data(), n_vocab) == argmax(base_row.data(), n_vocab);
        log_softmax(base_row.data(), n_vocab, base_row.data());
        kls.push_back(kl_divergence(base_row.data(), logp, n_vocab));
        base_nll.add(-static_cast<double>(base_row[target]));
      }
    }
  };

  for (int64_t c = 0; c < n_chunks; ++c) {
    const TokenId* window = windows.data() + c * o.n_ctx;
    kv->release(0);
    if (!kv->reserve(0, o.n_ctx)) raise("the KV cache has no room for a window of {} tokens", o.n_ctx);
    for (int64_t begin = 0; begin < o.n_ctx; begin += o.batch) {
      const int64_t end = std::min(o.n_ctx, begin + o.batch);
      batch.clear();
      for (int64_t i = begin; i < end; ++i) {
        batch.add(window[i], static_cast<int32_t>(i), 0, i >= first && i < first + n_rows);
      }
      model.forward(batch, *kv, logits.data(), pool);
      // Rows come back in position order, one per scored position.
      score(window, std::clamp<int64_t>(begin - first, 0, n_rows), batch.n_logits());
    }
    if (progress) progress(c + 1, n_chunks, nll.perplexity());
  }
  if (save) save->close();

  PerplexityResult r;
  r.n_tokens = static_cast<int64_t>(tokens.size());
  r.n_chunks = n_chunks;
  r.n_scored = nll.count();
  r.mean_nll = nll.mean();
  r.perplexity = nll.perplexity();
  r.perplexity_error = nll.perplexity_error();
  r.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  if (base) {
    r.has_kl = true;
    double sum = 0;
    for (double k : kls) sum += k;
    r.kl_mean = sum / static_cast<double>(kls.size());
    r.kl_p99 = percentile(kls, 0.99);
    r.kl_max = kls.back();  // percentile() sorted them
    r.top1_agreement = static_cast<double>(agree) / static_cast<double>(nll.count());
    r.baseline_perplexity = base_nll.perplexity();
    r.baseline_perplexity_error = base_nll.perplexity_error();
  }
  return r;
}

}  // namespace tessera
