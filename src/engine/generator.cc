#include "engine/generator.h"

#include <chrono>

#include "core/error.h"

namespace tessera {

namespace {

double seconds_since(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

}  // namespace

GenerationResult Generator::generate(const GenerationRequest& req,
                                     const std::function<void(std::string_view)>& on_text) {
  if (req.max_tokens < 0) raise<InvalidArgument>("the number of tokens to generate must be >= 0, got {}", req.max_tokens);
  if (req.n_ctx <= 0) raise<InvalidArgument>("the context size must be positive, got {}", req.n_ctx);
  if (req.prefill_chunk <= 0) raise<InvalidArgument>("the prefill chunk must be positive, got {}", req.prefill_chunk);
  req.sampling.validate();

  const Tokenizer& tokenizer = model_.tokenizer();
  std::vector<TokenId> prompt = tokenizer.encode(req.prompt, req.add_special, req.parse_special);
  if (prompt.empty()) raise<InvalidArgument>("the prompt is empty and the vocabulary adds no BOS token");
  const auto n_prompt = static_cast<int64_t>(prompt.size());
  // Room for the prompt and at least one generated token.
  if (n_prompt + 1 > req.n_ctx) {
    raise<InvalidArgument>("prompt is {} tokens but the context is {} tokens; use --ctx-size", n_prompt, req.n_ctx);
  }
  const int64_t max_new = std::min<int64_t>(req.max_tokens, req.n_ctx - n_prompt);
  Sequence seq(0, std::move(prompt), max_new, req.sampling, req.stop);

  auto kv = model_.make_kv_cache(seq.max_positions());
  if (!kv->reserve(seq.id(), seq.max_positions())) {
    raise("the KV cache has no room for {} tokens", seq.max_positions());
  }
  const int64_t n_vocab = model_.hparams().n_vocab;
  std::vector<float> logits(static_cast<size_t>(n_vocab));
  Batch batch;
  GenerationResult result;
  result.prompt_tokens = n_prompt;

  const auto t_prefill = std::chrono::steady_clock::now();
  while (seq.prefilling()) {
    batch.clear();
    seq.add_prefill_chunk(batch, req.prefill_chunk);
    model_.forward(batch, *kv, logits.data(), pool_);
  }
  result.prefill_seconds = seconds_since(t_prefill);

  const auto t_decode = std::chrono::steady_clock::now();
  // Each turn consumes the logits of the last token sent and, unless that
  // ended the sequence, sends the token just sampled.
  while (!seq.finished()) {
    seq.on_logits(logits.data(), n_vocab, tokenizer, on_text);
    if (seq.finished()) break;
    batch.clear();
    seq.add_decode_token(batch);
    model_.forward(batch, *kv, logits.data(), pool_);
  }
  seq.flush(on_text);
  result.decode_seconds = seconds_since(t_decode);

  result.text = seq.text();
  result.tokens = seq.generated();
  result.finish_reason = finish_reason_name(seq.finish_reason());
  return result;
}

}  // namespace tessera
