#include "eval/calibration.h"

#include <algorithm>
#include <fstream>
#include <memory>
#include <set>
#include <sstream>
#include <vector>

#include "core/error.h"
#include "tokenizer/utf8.h"

namespace tessera {

namespace {

// Sums x x^T over tokens for every distinct matrix input. Consecutive
// matmuls that read the same buffer (q/k/v, gate/up) share one accumulator.
class InputStatsObserver final : public MatmulObserver {
 public:
  InputStatsObserver(const GgufFile& file, ThreadPool& pool) : pool_(pool) {
    for (const auto& t : file.tensors()) {
      if (t.name != "token_embd.weight" && t.name != "output.weight") names_[t.data] = t.name;
    }
  }

  void observe(const WeightMatrix& w, const float* x, int64_t n_tokens) override {
    const auto it = names_.find(w.data);
    if (it == names_.end()) return;
    const int64_t n = w.cols;
    std::shared_ptr<Accumulator> acc;
    if (x == last_x_ && n_tokens == last_n_ && last_acc_ && last_acc_->n == n) {
      acc = last_acc_;
    } else {
      auto& slot = by_first_user_[it->second];
      if (!slot) slot = std::make_shared<Accumulator>(n);
      acc = slot;
      // Lower triangle, rows of the outer product split over the pool; a
      // block of kRows rows stays in cache while every token passes over it
      // (token-outer order would stream the whole matrix once per token).
      constexpr int64_t kRows = 32;
      pool_.parallel_for(n, kRows, [&](int64_t begin, int64_t end) {
        for (int64_t i0 = begin; i0 < end; i0 += kRows) {
          const int64_t i1 = std::min(end, i0 + kRows);
          for (int64_t t = 0; t < n_tokens; ++t) {
            const float* xt = x + t * n;
            for (int64_t i = i0; i < i1; ++i) {
              double* row = acc->sum.data() + i * n;
              const double xi = xt[i];
              for (int64_t j = 0; j <= i; ++j) row[j] += xi * xt[j];
            }
          }
        }
      });
      // The mean skips each window's first position (see mean_tokens).
      const int64_t first = seen_this_pass_.insert(acc.get()).second ? 1 : 0;
      for (int64_t t = first; t < n_tokens; ++t) {
        const float* xt = x + t * n;
        for (int64_t i = 0; i < n; ++i) acc->sum_x[i] += xt[i];
      }
      acc->tokens += n_tokens;
      acc->mean_tokens += n_tokens - first;
    }
    users_[it->second] = acc;
    last_x_ = x;
    last_n_ = n_tokens;
    last_acc_ = acc;
  }

  // Call between forward passes: a new pass may reuse the same buffers.
  void end_pass() {
    last_x_ = nullptr;
    last_acc_.reset();
    seen_this_pass_.clear();
  }

  CalibrationStats finish(int64_t n_tokens) {
    CalibrationStats out;
    out.n_tokens = n_tokens;
    std::map<const Accumulator*, std::shared_ptr<const std::vector<float>>> done;
    for (const auto& [name, acc] : users_) {
      auto& h = done[acc.get()];
      if (!h) {
        const int64_t n = acc->n;
        auto mean = std::make_shared<std::vector<float>>(static_cast<size_t>(n * n));
        const double scale = acc->tokens > 0 ? 1.0 / static_cast<double>(acc->tokens) : 0.0;
        for (int64_t i = 0; i < n; ++i) {
          for (int64_t j = 0; j <= i; ++j) {
            const float v = static_cast<float>(acc->sum[i * n + j] * scale);
            (*mean)[i * n + j] = (*mean)[j * n + i] = v;
          }
        }
        h = mean;
      }
      QuantStats s;
      s.hessian = h;
      const int64_t n = acc->n;
      s.importance.resize(static_cast<size_t>(n));
      for (int64_t i = 0; i < n; ++i) s.importance[i] = (*h)[i * n + i];
      s.mean.resize(static_cast<size_t>(n));
      const double inv = acc->mean_tokens > 0 ? 1.0 / static_cast<double>(acc->mean_tokens) : 0.0;
      for (int64_t i = 0; i < n; ++i) s.mean[i] = static_cast<float>(acc->sum_x[i] * inv);
      out.by_tensor[name] = std::move(s);
    }
    return out;
  }

 private:
  struct Accumulator {
    explicit Accumulator(int64_t cols)
        : n(cols), sum(static_cast<size_t>(cols * cols), 0.0), sum_x(static_cast<size_t>(cols), 0.0) {}
    int64_t n;
    std::vector<double> sum;    // of x x^T (lower triangle)
    std::vector<double> sum_x;  // of x, over mean_tokens tokens
    int64_t tokens = 0;
    // Tokens in sum_x: every position but the first of each window (pass).
    // The first position (BOS, the attention sink) is not a typical token: on
    // models with massive activations it carries values far above the rest
    // on a few channels, and dabc's bias (the expected error) is added to
    // every token, so it should be a typical token's. (On the default model
    // this lowered dabc's KL only slightly: docs/quantization.md.)
    int64_t mean_tokens = 0;
  };
  ThreadPool& pool_;
  std::map<const uint8_t*, std::string> names_;
  std::map<std::string, std::shared_ptr<Accumulator>> by_first_user_;
  std::map<std::string, std::shared_ptr<Accumulator>> users_;
  const float* last_x_ = nullptr;
  int64_t last_n_ = 0;
  std::shared_ptr<Accumulator> last_acc_;
  std::set<const Accumulator*> seen_this_pass_;  // accumulators observed since end_pass()
};

}  // namespace

std::string read_calibration_text(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) raise<InvalidArgument>("{}: cannot open the calibration file", path);
  std::stringstream ss;
  ss << in.rdbuf();
  std::string text = ss.str();
  if (text.empty()) raise<InvalidArgument>("{}: the calibration file is empty", path);
  // Text means UTF-8 without NUL bytes: a binary file is refused, not tokenized.
  size_t i = 0;
  while (i < text.size()) {
    const auto c = static_cast<unsigned char>(text[i]);
    const size_t len = utf8_sequence_length(c);
    bool ok = c != 0 && (c < 0x80 || (c >= 0xC2 && c <= 0xF4)) && i + len <= text.size();
    for (size_t k = 1; ok && k < len; ++k) ok = (static_cast<unsigned char>(text[i + k]) & 0xC0) == 0x80;
    if (!ok) raise<InvalidArgument>("{}: the calibration file is not UTF-8 text (byte {})", path, i);
    i += len;
  }
  return text;
}

CalibrationStats collect_calibration(Model& model, const std::string& text, const CalibrationOptions& options,
                                     ThreadPool& pool, const std::function<void(int64_t, int64_t)>& progress) {
  if (options.n_ctx < 16 || options.windows < 1) raise<InvalidArgument>("calibration needs windows of >= 16 tokens");
  const Tokenizer& tok = model.tokenizer();
  const std::vector<TokenId> tokens = tok.encode(text, /*add_special=*/true, /*parse_special=*/false);
  if (tokens.size() < 16) {
    raise<InvalidArgument>("the calibration text has {} tokens; at least 16 are needed", tokens.size());
  }
  const int64_t n_ctx = std::min<int64_t>(options.n_ctx, static_cast<int64_t>(tokens.size()));
  const int64_t windows = std::min<int64_t>(options.windows, static_cast<int64_t>(tokens.size()) / n_ctx);
  InputStatsObserver observer(model.file(), pool);
  model.set_matmul_observer(&observer);
  struct Detach {
    Model& m;
    ~Detach() { m.set_matmul_observer(nullptr); }
  } detach{model};
  auto kv = model.make_kv_cache(n_ctx);
  Batch batch;
  for (int64_t w = 0; w < windows; ++w) {
    kv->release(0);
    if (!kv->reserve(0, n_ctx)) raise("the KV cache has no room for a window of {} tokens", n_ctx);
    batch.clear();
    for (int64_t i = 0; i < n_ctx; ++i) {
      TokenId t = tokens[static_cast<size_t>(w * n_ctx + i)];
      if (i == 0 && tok.add_bos() && tok.bos() >= 0) t = tok.bos();  // each window starts as a document
      batch.add(t, static_cast<int32_t>(i), 0, false);
    }
    model.forward(batch, *kv, nullptr, pool);
    observer.end_pass();
    if (progress) progress(w + 1, windows);
  }
  return observer.finish(windows * n_ctx);
}

}  // namespace tessera
