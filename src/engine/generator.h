// Single-sequence text generation: tokenize, prefill in chunks, decode one token
// per step, stream text, stop on end-of-generation, stop strings or a limit.
// The serving issue builds a multi-sequence scheduler on the same Model::forward.
#pragma once

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "model/model.h"
#include "sampling/sampler.h"

namespace tessera {

struct GenerationRequest {
  std::string prompt;
  int max_tokens = 128;
  int64_t n_ctx = 4096;
  int prefill_chunk = 512;
  SamplingParams sampling;
  std::vector<std::string> stop;  // generation ends before any of these strings
  bool add_special = true;        // BOS as the vocabulary asks
  bool parse_special = true;
};

struct GenerationResult {
  std::string text;
  std::vector<TokenId> tokens;  // generated tokens
  int64_t prompt_tokens = 0;
  double prefill_seconds = 0;
  double decode_seconds = 0;
  std::string finish_reason;  // "stop" (EOS or stop string) or "length"
};

class Generator {
 public:
  Generator(Model& model, ThreadPool& pool) : model_(model), pool_(pool) {}

  // on_text receives text as soon as it can no longer become part of a stop
  // string and forms whole UTF-8 characters. Throws InvalidArgument (before
  // any compute) when the prompt does not fit the context.
  GenerationResult generate(const GenerationRequest& request,
                            const std::function<void(std::string_view)>& on_text = {});

 private:
  Model& model_;
  ThreadPool& pool_;
};

}  // namespace tessera
