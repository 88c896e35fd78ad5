// Parsing and validation of the bodies of POST /v1/completions and
// POST /v1/chat/completions into a model-independent description of the work.
// Everything a client can get wrong without knowing the model (malformed JSON,
// wrong types, out-of-range values) is an ApiError(400) naming the field here;
// what needs the model (unknown model, prompt too long, token ids outside the
// vocabulary) is checked by the caller that has it.
//
// Absent and null fields take OpenAI's defaults: temperature 1, top_p 1, no
// top-k / min-p, no penalties, a random seed, max_tokens 16 for completions
// and "until the context is full" for chat.
#pragma once

#include <cstdint>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <variant>
#include <vector>

#include "sampling/sampler.h"
#include "tokenizer/tokenizer.h"

namespace tessera::server {

// Limits the parser enforces (the server's configuration).
struct RequestLimits {
  int max_choices = 16;      // n * number of prompts
  int max_stop = 16;         // stop strings
  int max_top_logprobs = 20;
};

enum class Endpoint { Completions, ChatCompletions };

// One completions prompt: text, or token ids given by the client.
using Prompt = std::variant<std::string, std::vector<TokenId>>;

struct CompletionRequest {
  Endpoint endpoint = Endpoint::Completions;
  std::optional<std::string> model;
  std::vector<Prompt> prompts;              // completions: one or more prompts
  nlohmann::ordered_json messages;          // chat: normalised messages (content is a string)
  std::optional<int64_t> max_tokens;        // >= 1 when given
  SamplingParams sampling;                  // seed: the first choice's; choice i uses seed + i
  std::vector<std::string> stop;            // non-empty strings
  int n = 1;
  int top_logprobs = -1;                    // -1: no logprobs
  bool stream = false;
  bool include_usage = false;               // stream_options.include_usage
  std::string user;
};

// Parses a request body. Throws ApiError(400) for malformed JSON or invalid fields.
CompletionRequest parse_completion_request(const std::string& body, Endpoint endpoint, const RequestLimits& limits);

// Parses a JSON body that must be an object (for /tokenize and /detokenize).
nlohmann::json parse_json_object(const std::string& body);

}  // namespace tessera::server
