// Single-sequence text generation: tokenize, prefill in chunks, decode one
// token per step, stream text, stop on end-of-generation, stop strings or a
// token limit. The per-sequence state lives in Sequence so the serving
// scheduler can run many of them through the same Model::forward.
#pragma once

#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include "core/thread_pool.h"
#include "engine/sequence.h"
#include "model/model.h"
#include "sampling/sampler.h"

namespace tessera {

struct GenerationRequest {
  std::string prompt;
  int64_t max_tokens = 128;
  int64_t n_ctx = 4096;          // prompt + generated tokens must fit
  int64_t prefill_chunk = 512;   // prompt tokens per forward pass
  SamplingParams sampling;
  std::vector<std::string> stop;  // generation ends before any of these strings
  bool add_special = true;        // BOS (and EOS) as the vocabulary asks
  bool parse_special = true;      // text spelling a control token becomes that token
};

struct GenerationResult {
  std::string text;             // what was streamed, stop string excluded
  std::vector<TokenId> tokens;  // generated tokens (end-of-generation token excluded)
  int64_t prompt_tokens = 0;
  double prefill_seconds = 0;
  double decode_seconds = 0;
  std::string finish_reason;  // "stop" (end-of-generation token or stop string) or "length"
};

class Generator {
 public:
  Generator(Model& model, ThreadPool& pool) : model_(model), pool_(pool) {}

  // on_text receives text as soon as it can no longer become part of a stop
  // string and forms whole UTF-8 characters. Throws InvalidArgument for bad
  // request fields or a prompt that does not fit the context, before any
  // compute.
  GenerationResult generate(const GenerationRequest& request,
                            const std::function<void(std::string_view)>& on_text = {});

 private:
  Model& model_;
  ThreadPool& pool_;
};

}  // namespace tessera
