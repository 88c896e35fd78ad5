// The JSON objects of OpenAI's completion APIs: text_completion (also its
// stream chunks), chat.completion and chat.completion.chunk, with `usage`
// (prompt_tokens_details.cached_tokens = prompt tokens served from the prefix
// cache) and logprobs in each endpoint's shape.
#pragma once

#include <cstdint>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "serving/serving_engine.h"
#include "server/openai_request.h"

namespace tessera::server {

struct Usage {
  int64_t prompt_tokens = 0;
  int64_t completion_tokens = 0;
  int64_t cached_tokens = 0;
};

// What one choice produced (a whole response, or the part since the last chunk).
struct ChoiceOutput {
  int index = 0;
  std::string text;
  std::vector<serving::TokenLogprob> logprobs;  // one per token, when asked
  int64_t text_offset = 0;                      // completions logprobs: where `text` starts in the choice
  std::optional<std::string> finish_reason;     // "stop" / "length" when finished
};

class ResponseBuilder {
 public:
  // want_logprobs: the request asked for logprobs (then every choice carries
  // a logprobs object, else null).
  ResponseBuilder(Endpoint endpoint, std::string model_id, const Tokenizer& tokenizer, bool want_logprobs);

  // The whole response of a non-streaming request.
  nlohmann::json final_object(const std::vector<ChoiceOutput>& choices, const Usage& usage) const;
  // One stream chunk for one choice. Chat: the first chunk of a choice
  // carries the assistant role (first = true). with_usage_null: include
  // "usage": null, as OpenAI does when the client asked for stream usage.
  nlohmann::json chunk(const ChoiceOutput& choice, bool first, bool with_usage_null) const;
  // The last chunk when stream_options.include_usage: no choices, only usage.
  nlohmann::json usage_chunk(const Usage& usage) const;

  const std::string& id() const { return id_; }

 private:
  nlohmann::json logprobs_json(const ChoiceOutput& choice) const;
  nlohmann::json header(const char* object) const;

  Endpoint endpoint_;
  std::string id_;
  int64_t created_;
  std::string model_id_;
  const Tokenizer& tokenizer_;
  bool want_logprobs_;
};

nlohmann::json usage_json(const Usage& usage);

// Serialises for the wire; bytes that are not UTF-8 (a model can emit them)
// become U+FFFD instead of failing.
std::string dump_json(const nlohmann::json& j);

}  // namespace tessera::server
