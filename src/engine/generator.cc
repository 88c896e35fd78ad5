#include "engine/generator.h"

#include <chrono>

#include "core/error.h"
#include "tokenizer/utf8.h"

namespace tessera {

namespace {

double since(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

// Bytes at the end of `text` that could still grow into one of the stop strings.
size_t stop_prefix_overlap(const std::string& text, const std::vector<std::string>& stops) {
  size_t hold = 0;
  for (const auto& s : stops) {
    for (size_t len = std::min(s.size() - 1, text.size()); len > hold; --len) {
      if (text.compare(text.size() - len, len, s, 0, len) == 0) {
        hold = len;
        break;
      }
    }
  }
  return hold;
}

}  // namespace

GenerationResult Generator::generate(const GenerationRequest& req,
                                     const std::function<void(std::string_view)>& on_text) {
  if (req.max_tokens < 0) raise<InvalidArgument>("max tokens must be >= 0, got {}", req.max_tokens);
  if (req.n_ctx <= 0) raise<InvalidArgument>("context size must be positive, got {}", req.n_ctx);
  if (req.prefill_chunk <= 0) raise<InvalidArgument>("prefill chunk must be positive");
  for (const auto& s : req.stop) {
    if (s.empty()) raise<InvalidArgument>("stop strings must not be empty");
  }
  const Tokenizer& tok = model_.tokenizer();
  const std::vector<TokenId> prompt = tok.encode(req.prompt, req.add_special, req.parse_special);
  if (prompt.empty()) raise<InvalidArgument>("the prompt is empty and the vocabulary adds no BOS token");
  const auto n_prompt = static_cast<int64_t>(prompt.size());
  if (n_prompt + 1 > req.n_ctx) {
    raise<InvalidArgument>("the prompt is {} tokens but the context is {} tokens; use a shorter prompt "
                           "or a larger --ctx-size",
                           n_prompt, req.n_ctx);
  }
  const int64_t n_vocab = model_.hparams().n_vocab;
  const int64_t budget = std::min<int64_t>(req.max_tokens, req.n_ctx - n_prompt);
  auto kv = model_.make_kv_cache(n_prompt + budget);
  if (!kv->reserve(0, n_prompt + budget)) raise("KV cache too small");

  Sampler sampler(req.sampling);
  for (TokenId t : prompt) sampler.accept(t);
  GenerationResult result;
  result.prompt_tokens = n_prompt;
  std::vector<float> logits(static_cast<size_t>(n_vocab));
  Batch batch;

  const auto t_prefill = std::chrono::steady_clock::now();
  for (int64_t begin = 0; begin < n_prompt; begin += req.prefill_chunk) {
    const int64_t end = std::min<int64_t>(n_prompt, begin + req.prefill_chunk);
    batch.clear();
    for (int64_t i = begin; i < end; ++i) batch.add(prompt[i], static_cast<int32_t>(i), 0, i + 1 == n_prompt);
    model_.forward(batch, *kv, logits.data(), pool_);
  }
  result.prefill_seconds = since(t_prefill);

  size_t emitted = 0;   // bytes of result.text already handed out
  result.finish_reason = "length";
  const auto t_decode = std::chrono::steady_clock::now();
  for (int64_t step = 0; step < budget; ++step) {
    const TokenId next = sampler.sample(logits.data(), n_vocab);
    if (tok.is_eog(next)) {
      result.finish_reason = "stop";
      break;
    }
    result.tokens.push_back(next);
    sampler.accept(next);
    result.text += tok.token_to_piece(next, false);

    bool stopped = false;
    for (const auto& s : req.stop) {
      const size_t at = result.text.find(s, emitted > s.size() ? emitted - s.size() : 0);
      if (at != std::string::npos) {
        result.text.resize(at);
        stopped = true;
      }
    }
    if (stopped) {
      result.finish_reason = "stop";
      break;
    }
    const size_t held = stop_prefix_overlap(result.text, req.stop);
    const size_t safe = utf8_complete_prefix(std::string_view(result.text).substr(0, result.text.size() - held));
    if (on_text && safe > emitted) on_text(std::string_view(result.text).substr(emitted, safe - emitted));
    emitted = std::max(emitted, safe);

    if (step + 1 == budget) break;  // no need to compute logits we will not use
    batch.clear();
    batch.add(next, static_cast<int32_t>(n_prompt + step), 0, true);
    model_.forward(batch, *kv, logits.data(), pool_);
  }
  result.decode_seconds = since(t_decode);
  if (on_text && result.text.size() > emitted) on_text(std::string_view(result.text).substr(emitted));
  return result;
}

}  // namespace tessera
