#include "eval/perplexity.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstring>

#include "core/error.h"
#include "kernels/ops.h"
#include "quant/dequantize.h"

namespace tessera {

namespace {

// Saved log-probabilities, a little-endian binary file:
//   char[4] "TSLP", u32 version (1), u32 n_vocab, u32 n_ctx, u32 n_chunks,
//   i32 tokens[n_chunks * n_ctx] (each window as evaluated, BOS first),
//   then for every chunk and scored position (n_ctx/2 .. n_ctx-2): n_vocab
//   fp16 log-probabilities. fp16 keeps a 262k-token vocabulary manageable.
constexpr char kMagic[4] = {'T', 'S', 'L', 'P'};
constexpr uint32_t kVersion = 1;

class File {
 public:
  File(const std::string& path, const char* mode) : path_(path), f_(std::fopen(path.c_str(), mode)) {
    if (f_ == nullptr) raise("{}: cannot open", path);
  }
  ~File() {
    if (f_ != nullptr) std::fclose(f_);
  }
  void write(const void* p, size_t n) {
    if (std::fwrite(p, 1, n, f_) != n) raise("{}: write failed", path_);
  }
  void read(void* p, size_t n) {
    if (std::fread(p, 1, n, f_) != n) raise<FormatError>("{}: truncated saved-logits file", path_);
  }
  void close() {
    const int rc = std::fclose(f_);
    f_ = nullptr;
    if (rc != 0) raise("{}: write failed", path_);
  }

 private:
  std::string path_;
  std::FILE* f_;
};

struct Header {
  uint32_t n_vocab, n_ctx, n_chunks;
};

}  // namespace

void log_softmax(const float* logits, int64_t n, float* out) {
  const float max = *std::max_element(logits, logits + n);
  double sum = 0;
  for (int64_t i = 0; i < n; ++i) sum += std::exp(static_cast<double>(logits[i] - max));
  const auto log_sum = static_cast<float>(std::log(sum));
  for (int64_t i = 0; i < n; ++i) out[i] = logits[i] - max - log_sum;
}

double kl_divergence(const float* log_p, const float* log_q, int64_t n) {
  double kl = 0;
  for (int64_t i = 0; i < n; ++i) {
    const double p = std::exp(static_cast<double>(log_p[i]));
    kl += p * (static_cast<double>(log_p[i]) - log_q[i]);
  }
  return std::max(0.0, kl);
}

PerplexityResult compute_perplexity(Model& model, const std::string& text, const PerplexityOptions& o,
                                    ThreadPool& pool,
                                    const std::function<void(int64_t, int64_t, double)>& progress) {
  if (o.n_ctx < 4) raise<InvalidArgument>("--ctx must be at least 4, got {}", o.n_ctx);
  if (o.batch <= 0) raise<InvalidArgument>("--batch must be positive, got {}", o.batch);
  if (o.max_chunks == 0 || o.max_chunks < -1) raise<InvalidArgument>("--chunks must be positive");
  const Tokenizer& tok = model.tokenizer();
  const std::vector<TokenId> tokens = tok.encode(text, true, false);
  const int64_t available = static_cast<int64_t>(tokens.size()) / o.n_ctx;
  if (available == 0) {
    raise<InvalidArgument>("the text has {} tokens, fewer than one window of --ctx {}", tokens.size(), o.n_ctx);
  }
  const int64_t n_chunks = o.max_chunks > 0 ? std::min(o.max_chunks, available) : available;
  const int64_t n_vocab = model.hparams().n_vocab;
  const int64_t first = o.n_ctx / 2;

  std::unique_ptr<File> save, base;
  if (!o.save_logits_path.empty()) {
    save = std::make_unique<File>(o.save_logits_path, "wb");
    const Header h{static_cast<uint32_t>(n_vocab), static_cast<uint32_t>(o.n_ctx), static_cast<uint32_t>(n_chunks)};
    save->write(kMagic, 4);
    save->write(&kVersion, 4);
    save->write(&h, sizeof(h));
  }
  if (!o.kl_baseline_path.empty()) {
    base = std::make_unique<File>(o.kl_baseline_path, "rb");
    char magic[4];
    uint32_t version;
    Header h{};
    base->read(magic, 4);
    base->read(&version, 4);
    if (std::memcmp(magic, kMagic, 4) != 0 || version != kVersion) {
      raise<FormatError>("{}: not a tessera saved-logits file (version {})", o.kl_baseline_path, kVersion);
    }
    base->read(&h, sizeof(h));
    if (h.n_vocab != n_vocab || h.n_ctx != o.n_ctx || h.n_chunks != n_chunks) {
      raise<InvalidArgument>("{}: saved with n_vocab {}, ctx {}, {} chunks; this run has {}, {}, {}",
                             o.kl_baseline_path, h.n_vocab, h.n_ctx, h.n_chunks, n_vocab, o.n_ctx, n_chunks);
    }
  }

  // Window tokens, BOS first as evaluated, written up front (the baseline's
  // are checked against them so KL is never computed over different text).
  std::vector<std::vector<TokenId>> windows(static_cast<size_t>(n_chunks));
  for (int64_t c = 0; c < n_chunks; ++c) {
    windows[c].assign(tokens.begin() + c * o.n_ctx, tokens.begin() + (c + 1) * o.n_ctx);
    if (tok.add_bos() && tok.bos() >= 0) windows[c][0] = tok.bos();
    if (save) save->write(windows[c].data(), windows[c].size() * sizeof(TokenId));
    if (base) {
      std::vector<TokenId> saved(static_cast<size_t>(o.n_ctx));
      base->read(saved.data(), saved.size() * sizeof(TokenId));
      if (saved != windows[c]) {
        raise<InvalidArgument>("{}: window {} holds other tokens than this text produces", o.kl_baseline_path, c);
      }
    }
  }

  auto kv = model.make_kv_cache(o.n_ctx);
  std::vector<float> logits(static_cast<size_t>(o.n_ctx * n_vocab));
  std::vector<float> logp(static_cast<size_t>(n_vocab)), base_logp(static_cast<size_t>(n_vocab));
  std::vector<uint16_t> half(static_cast<size_t>(n_vocab));
  std::vector<double> kls;
  double nll = 0, nll2 = 0, base_nll = 0;
  int64_t count = 0, agree = 0;
  Batch batch;
  const auto t0 = std::chrono::steady_clock::now();

  for (int64_t c = 0; c < n_chunks; ++c) {
    kv->release(0);
    kv->reserve(0, o.n_ctx);
    for (int64_t begin = 0; begin < o.n_ctx; begin += o.batch) {
      const int64_t end = std::min(o.n_ctx, begin + o.batch);
      batch.clear();
      for (int64_t i = begin; i < end; ++i) batch.add(windows[c][i], static_cast<int32_t>(i), 0, i >= first);
      // Logits come back only for positions >= first, in order.
      const int64_t out_row = std::max<int64_t>(0, begin - first);
      model.forward(batch, *kv, logits.data() + out_row * n_vocab, pool);
    }
    for (int64_t i = first; i < o.n_ctx - 1; ++i) {
      log_softmax(logits.data() + (i - first) * n_vocab, n_vocab, logp.data());
      const double token_nll = -logp[windows[c][i + 1]];
      nll += token_nll;
      nll2 += token_nll * token_nll;
      ++count;
      if (save) {
        f32_to_f16(logp.data(), half.data(), n_vocab);
        save->write(half.data(), half.size() * sizeof(uint16_t));
      }
      if (base) {
        base->read(half.data(), half.size() * sizeof(uint16_t));
        for (int64_t v = 0; v < n_vocab; ++v) base_logp[v] = fp16_to_fp32(half[v]);
        kls.push_back(kl_divergence(base_logp.data(), logp.data(), n_vocab));
        agree += std::max_element(base_logp.begin(), base_logp.end()) - base_logp.begin() ==
                 std::max_element(logp.begin(), logp.end()) - logp.begin();
        base_nll -= base_logp[windows[c][i + 1]];
      }
    }
    if (progress) progress(c + 1, n_chunks, std::exp(nll / static_cast<double>(count)));
  }
  if (save) save->close();

  PerplexityResult r;
  r.n_chunks = n_chunks;
  r.n_scored = count;
  r.mean_nll = nll / static_cast<double>(count);
  r.perplexity = std::exp(r.mean_nll);
  const double var = nll2 / static_cast<double>(count) - r.mean_nll * r.mean_nll;
  r.perplexity_error = count > 1 ? r.perplexity * std::sqrt(std::max(0.0, var) / static_cast<double>(count - 1)) : 0;
  r.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  if (base) {
    r.has_kl = true;
    double sum = 0;
    for (double k : kls) sum += k;
    r.kl_mean = sum / static_cast<double>(kls.size());
    std::vector<double> sorted = kls;
    std::sort(sorted.begin(), sorted.end());
    r.kl_p99 = sorted[std::min(sorted.size() - 1, static_cast<size_t>(0.99 * static_cast<double>(sorted.size())))];
    r.kl_max = sorted.back();
    r.top1_agreement = static_cast<double>(agree) / static_cast<double>(count);
    r.baseline_perplexity = std::exp(base_nll / static_cast<double>(count));
  }
  return r;
}

}  // namespace tessera
