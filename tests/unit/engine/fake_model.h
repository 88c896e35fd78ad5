// A tiny deterministic Model for engine and eval tests: a byte-level
// tokenizer and a forward pass whose logits are a function of the sequence so
// far, so tests know exactly which tokens and probabilities to expect without
// real weights. Header-only so the eval tests can include it too.
#pragma once

#include <cmath>
#include <functional>
#include <map>
#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

#include "model/model.h"

namespace tessera::fake {

// Token ids: 0 = unknown, 1 = BOS, 2 = EOS, 3 + b = the byte b.
class ByteTokenizer : public Tokenizer {
 public:
  static constexpr TokenId kBos = 1, kEos = 2, kFirstByte = 3;
  static TokenId byte_token(unsigned char b) { return kFirstByte + b; }

  explicit ByteTokenizer(bool add_bos = true) : add_bos_(add_bos) {}

  std::vector<TokenId> encode(std::string_view text, bool add_special, bool) const override {
    std::vector<TokenId> ids;
    if (add_special && add_bos_) ids.push_back(kBos);
    for (unsigned char c : text) ids.push_back(byte_token(c));
    return ids;
  }
  std::string token_to_piece(TokenId id, bool) const override {
    return id >= kFirstByte ? std::string(1, static_cast<char>(id - kFirstByte)) : std::string();
  }
  int32_t n_vocab() const override { return 256 + kFirstByte; }
  TokenId bos() const override { return kBos; }
  TokenId eos() const override { return kEos; }
  bool add_bos() const override { return add_bos_; }
  bool is_eog(TokenId id) const override { return id == kEos; }
  TokenType token_type(TokenId id) const override { return id < kFirstByte ? TokenType::Control : TokenType::Byte; }
  const std::string& token_text(TokenId) const override { return empty_; }
  std::string model_name() const override { return "bytes (test)"; }

 private:
  bool add_bos_;
  std::string empty_;
};

// next(history) gives the logits row for the token after `history` (the
// sequence's tokens at positions 0..pos). Records every batch it runs.
class FakeModel : public Model {
 public:
  using LogitsFn = std::function<void(const std::vector<TokenId>& history, float* logits, int64_t n_vocab)>;

  explicit FakeModel(LogitsFn logits_fn, bool add_bos = true, int64_t n_ctx_train = 1024)
      : tokenizer_(add_bos), logits_fn_(std::move(logits_fn)) {
    hparams_.arch = "fake";
    hparams_.n_vocab = tokenizer_.n_vocab();
    hparams_.n_ctx_train = n_ctx_train;
  }

  // Logits that put all the weight on one token: `peak` there, 0 elsewhere.
  static void one_hot(float* logits, int64_t n_vocab, TokenId token, float peak = 30.0f) {
    for (int64_t i = 0; i < n_vocab; ++i) logits[i] = 0.0f;
    logits[token] = peak;
  }

  const HParams& hparams() const override { return hparams_; }
  const Tokenizer& tokenizer() const override { return tokenizer_; }
  const GgufFile& file() const override { throw std::logic_error("FakeModel has no file"); }
  std::vector<std::span<const uint8_t>> decode_weight_spans() const override { return {}; }  // no weights

  std::unique_ptr<KvCache> make_kv_cache(int64_t n_ctx) const override {
    KvCacheConfig c;
    c.n_layers = 1;
    c.n_kv_heads = 1;
    c.head_dim_k = 1;
    c.head_dim_v = 1;
    c.block_tokens = 16;
    c.n_blocks = (n_ctx + c.block_tokens - 1) / c.block_tokens;
    return std::make_unique<KvCache>(c);
  }

  void forward(const Batch& batch, KvCache& kv, float* logits, ThreadPool&) override {
    batches.push_back(batch);
    int64_t row = 0;
    for (int64_t i = 0; i < batch.size(); ++i) {
      const int32_t seq = batch.seq_ids[i];
      const int32_t pos = batch.positions[i];
      if (pos >= kv.reserved_tokens(seq)) throw std::logic_error("position outside the reserved KV cache");
      auto& history = histories[seq];
      // A fresh window (position 0) starts a new history, like a cleared cache.
      if (pos == 0) history.clear();
      if (static_cast<int32_t>(history.size()) != pos) throw std::logic_error("positions out of order");
      history.push_back(batch.tokens[i]);
      if (batch.want_logits[i]) logits_fn_(history, logits + (row++) * hparams_.n_vocab, hparams_.n_vocab);
    }
  }

  std::vector<Batch> batches;
  std::map<int32_t, std::vector<TokenId>> histories;

 private:
  HParams hparams_;
  ByteTokenizer tokenizer_;
  LogitsFn logits_fn_;
};

// A model that "says" `script` after any prompt (one byte per step, counting
// from the first generated position), then EOS.
inline FakeModel::LogitsFn says(std::string script, int64_t prompt_tokens) {
  return [script = std::move(script), prompt_tokens](const std::vector<TokenId>& history, float* logits,
                                                     int64_t n_vocab) {
    const auto k = static_cast<int64_t>(history.size()) - prompt_tokens;  // bytes already generated
    const TokenId next = k < static_cast<int64_t>(script.size())
                             ? ByteTokenizer::byte_token(static_cast<unsigned char>(script[static_cast<size_t>(k)]))
                             : ByteTokenizer::kEos;
    FakeModel::one_hot(logits, n_vocab, next);
  };
}

}  // namespace tessera::fake
