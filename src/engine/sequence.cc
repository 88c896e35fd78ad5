#include "engine/sequence.h"

#include <algorithm>

#include "core/error.h"

namespace tessera {

const char* finish_reason_name(FinishReason reason) {
  switch (reason) {
    case FinishReason::Stop: return "stop";
    case FinishReason::Length: return "length";
    case FinishReason::None: break;
  }
  return "";
}

Sequence::Sequence(int32_t seq_id, std::vector<TokenId> prompt, int64_t max_new_tokens,
                   const SamplingParams& sampling, std::vector<std::string> stop_strings)
    : id_(seq_id),
      prompt_(std::move(prompt)),
      max_new_(max_new_tokens),
      sampler_(sampling),
      stream_(std::move(stop_strings)) {
  // The penalties look at the prompt too, as llama.cpp's samplers do.
  for (TokenId t : prompt_) sampler_.accept(t);
  if (max_new_ == 0) finish_ = FinishReason::Length;
}

int64_t Sequence::add_prefill_chunk(Batch& batch, int64_t max_tokens) {
  const auto n_prompt = static_cast<int64_t>(prompt_.size());
  const int64_t end = std::min(n_context(), n_past_ + max_tokens);
  for (int64_t i = n_past_; i < end; ++i) {
    const TokenId token = i < n_prompt ? prompt_[static_cast<size_t>(i)] : generated_[static_cast<size_t>(i - n_prompt)];
    batch.add(token, static_cast<int32_t>(i), id_, generated_.empty() && i + 1 == n_prompt);
  }
  const int64_t added = end - n_past_;
  n_past_ = end;
  return added;
}

void Sequence::skip_cached_prefix(int64_t n) {
  // A fresh prompt must still compute its last token (for logits); a
  // preempted sequence needs no logits from its prefill.
  const int64_t limit = generated_.empty() ? static_cast<int64_t>(prompt_.size()) - 1 : n_context();
  if (n_past_ != 0 || n < 0 || n > limit) {
    raise<InvalidArgument>("sequence {}: cannot skip {} cached tokens of a {}-token context at position {}", id_, n,
                           n_context(), n_past_);
  }
  n_past_ = n;
}

void Sequence::add_decode_token(Batch& batch) {
  batch.add(generated_.back(), static_cast<int32_t>(n_past_), id_, true);
  ++n_past_;
}

void Sequence::on_logits(float* logits, int64_t n_vocab, const Tokenizer& tokenizer,
                         const std::function<void(std::string_view)>& on_text, int top_logprobs,
                         TokenLogprob* logprob_out) {
  if (finished()) return;
  // sample() leaves the penalized logits in the row, which is what the
  // logprobs are reported from.
  const TokenId next = sampler_.sample(logits, n_vocab);
  if (tokenizer.is_eog(next)) {
    finish_ = FinishReason::Stop;
    return;
  }
  if (top_logprobs >= 0 && logprob_out) *logprob_out = token_logprob(logits, n_vocab, next, top_logprobs);
  generated_.push_back(next);
  sampler_.accept(next);
  const bool hit_stop = stream_.push(tokenizer.token_to_piece(next, false));
  const std::string_view ready = stream_.take();
  if (on_text && !ready.empty()) on_text(ready);
  if (hit_stop) {
    finish_ = FinishReason::Stop;
  } else if (static_cast<int64_t>(generated_.size()) >= max_new_) {
    finish_ = FinishReason::Length;
  }
}

void Sequence::flush(const std::function<void(std::string_view)>& on_text) {
  const std::string_view rest = stream_.finish();
  if (on_text && !rest.empty()) on_text(rest);
}

}  // namespace tessera
