// One generation in flight: its prompt, how much of it is in the KV cache,
// its sampler, its text stream and its counters. The Generator drives one
// Sequence; a scheduler can interleave many of them in one Batch, since a
// Sequence only appends its own tokens to a batch and consumes its own
// logits row.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include "engine/text_stream.h"
#include "model/batch.h"
#include "sampling/logprobs.h"
#include "sampling/sampler.h"
#include "tokenizer/tokenizer.h"

namespace tessera {

enum class FinishReason { None, Stop, Length };
const char* finish_reason_name(FinishReason reason);  // "", "stop", "length"

class Sequence {
 public:
  // max_new_tokens must already fit the context (the caller checks).
  Sequence(int32_t seq_id, std::vector<TokenId> prompt, int64_t max_new_tokens, const SamplingParams& sampling,
           std::vector<std::string> stop_strings);

  int32_t id() const { return id_; }
  const std::vector<TokenId>& prompt() const { return prompt_; }
  const std::vector<TokenId>& generated() const { return generated_; }
  // Positions the KV cache must hold for this sequence by the end.
  int64_t max_positions() const { return static_cast<int64_t>(prompt_.size()) + max_new_; }

  // Tokens the KV cache must hold before the next decode step: the prompt and
  // every generated token but the last (which the next decode step feeds).
  int64_t n_context() const {
    return static_cast<int64_t>(prompt_.size() + generated_.size()) - (generated_.empty() ? 0 : 1);
  }
  // Tokens of this sequence already sent to the model (= in the KV cache).
  int64_t n_past() const { return n_past_; }
  bool prefilling() const { return n_past_ < n_context(); }
  bool finished() const { return finish_ != FinishReason::None; }
  FinishReason finish_reason() const { return finish_; }

  // Appends up to max_tokens of the context not yet evaluated; the prompt's
  // last token asks for logits (when recomputing after preemption, the
  // generated tokens but the last are replayed without logits: their
  // successors are already known). Returns how many tokens were added.
  int64_t add_prefill_chunk(Batch& batch, int64_t max_tokens);
  // Marks the first n context tokens as already in the KV cache (a shared
  // prefix). Only with nothing in the cache yet; before the first sampled
  // token n < prompt size, so that the last prompt token produces logits.
  void skip_cached_prefix(int64_t n);
  // Forgets what the KV cache held (the scheduler freed its blocks): the next
  // prefill chunks recompute the context. Generated tokens, sampler state and
  // text stream are kept, so the continuation is unchanged.
  void preempt() { n_past_ = 0; }
  // Appends the last sampled token (requires !prefilling() and !finished()).
  void add_decode_token(Batch& batch);

  // Consumes the logits row of this sequence's last batch entry: samples the
  // next token, feeds the text stream and decides whether generation ends.
  // Text that became safe goes to on_text. The row is modified (penalties).
  // With top_logprobs >= 0 and logprob_out set, also writes the chosen
  // token's log-probability and top_logprobs alternatives (after penalties);
  // logprob_out is untouched when the model ended the sequence (EOG token).
  void on_logits(float* logits, int64_t n_vocab, const Tokenizer& tokenizer,
                 const std::function<void(std::string_view)>& on_text, int top_logprobs = -1,
                 TokenLogprob* logprob_out = nullptr);
  // Releases text still held back (call once finished).
  void flush(const std::function<void(std::string_view)>& on_text);

  const std::string& text() const { return stream_.text(); }

 private:
  int32_t id_;
  std::vector<TokenId> prompt_;
  int64_t max_new_;
  int64_t n_past_ = 0;  // tokens of this sequence already sent to the model
  Sampler sampler_;
  TextStream stream_;
  std::vector<TokenId> generated_;
  FinishReason finish_ = FinishReason::None;
};

}  // namespace tessera
