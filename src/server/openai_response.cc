#include "server/openai_response.h"

#include <chrono>
#include <fmt/format.h>

#include <random>

namespace tessera::server {

namespace {

using json = nlohmann::json;

std::string random_id(const char* prefix) {
  static thread_local std::mt19937_64 rng{std::random_device{}()};
  return fmt::format("{}{:016x}{:08x}", prefix, rng(), static_cast<uint32_t>(rng()));
}

json bytes_of(const std::string& s) {
  json b = json::array();
  for (unsigned char c : s) b.push_back(static_cast<int>(c));
  return b;
}

}  // namespace

std::string dump_json(const nlohmann::json& j) {
  return j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

json usage_json(const Usage& u) {
  return {{"prompt_tokens", u.prompt_tokens},
          {"completion_tokens", u.completion_tokens},
          {"total_tokens", u.prompt_tokens + u.completion_tokens},
          {"prompt_tokens_details", {{"cached_tokens", u.cached_tokens}}}};
}

ResponseBuilder::ResponseBuilder(Endpoint endpoint, std::string model_id, const Tokenizer& tokenizer,
                                 bool want_logprobs)
    : endpoint_(endpoint),
      id_(random_id(endpoint == Endpoint::Completions ? "cmpl-" : "chatcmpl-")),
      created_(std::chrono::duration_cast<std::chrono::seconds>(std::chrono::system_clock::now().time_since_epoch())
                   .count()),
      model_id_(std::move(model_id)),
      tokenizer_(tokenizer),
      want_logprobs_(want_logprobs) {}

json ResponseBuilder::header(const char* object) const {
  return {{"id", id_}, {"object", object}, {"created", created_}, {"model", model_id_},
          {"system_fingerprint", "tessera"}};
}

json ResponseBuilder::logprobs_json(const ChoiceOutput& c) const {
  if (!want_logprobs_) return nullptr;
  if (endpoint_ == Endpoint::Completions) {
    // Legacy shape: parallel arrays; top_logprobs maps token text -> logprob.
    json tokens = json::array(), token_logprobs = json::array(), top = json::array(), offsets = json::array();
    int64_t offset = c.text_offset;
    for (const auto& lp : c.logprobs) {
      const std::string piece = tokenizer_.token_to_piece(lp.token, true);
      tokens.push_back(piece);
      token_logprobs.push_back(lp.logprob);
      json alternatives = json::object();
      for (const auto& [id, logprob] : lp.top) alternatives[tokenizer_.token_to_piece(id, true)] = logprob;
      top.push_back(std::move(alternatives));
      offsets.push_back(offset);
      offset += static_cast<int64_t>(piece.size());
    }
    return {{"tokens", tokens}, {"token_logprobs", token_logprobs}, {"top_logprobs", top}, {"text_offset", offsets}};
  }
  json content = json::array();
  for (const auto& lp : c.logprobs) {
    const std::string piece = tokenizer_.token_to_piece(lp.token, true);
    json alternatives = json::array();
    for (const auto& [id, logprob] : lp.top) {
      const std::string alt = tokenizer_.token_to_piece(id, true);
      alternatives.push_back({{"token", alt}, {"logprob", logprob}, {"bytes", bytes_of(alt)}});
    }
    content.push_back(
        {{"token", piece}, {"logprob", lp.logprob}, {"bytes", bytes_of(piece)}, {"top_logprobs", alternatives}});
  }
  return {{"content", content}, {"refusal", nullptr}};
}

json ResponseBuilder::final_object(const std::vector<ChoiceOutput>& choices, const Usage& usage) const {
  const bool chat = endpoint_ == Endpoint::ChatCompletions;
  json out = header(chat ? "chat.completion" : "text_completion");
  json list = json::array();
  for (const auto& c : choices) {
    json choice = {{"index", c.index}};
    if (chat) {
      choice["message"] = {{"role", "assistant"}, {"content", c.text}, {"refusal", nullptr}};
    } else {
      choice["text"] = c.text;
    }
    choice["logprobs"] = logprobs_json(c);
    choice["finish_reason"] = c.finish_reason ? json(*c.finish_reason) : json(nullptr);
    list.push_back(std::move(choice));
  }
  out["choices"] = std::move(list);
  out["usage"] = usage_json(usage);
  return out;
}

json ResponseBuilder::chunk(const ChoiceOutput& c, bool first, bool with_usage_null) const {
  const bool chat = endpoint_ == Endpoint::ChatCompletions;
  json out = header(chat ? "chat.completion.chunk" : "text_completion");
  json choice = {{"index", c.index}};
  if (chat) {
    json delta = json::object();
    if (first) delta["role"] = "assistant";
    // The closing chunk of a choice has an empty delta, as OpenAI sends it.
    if (!c.text.empty() || (first && !c.finish_reason)) delta["content"] = c.text;
    choice["delta"] = std::move(delta);
  } else {
    choice["text"] = c.text;
  }
  choice["logprobs"] = c.logprobs.empty() ? json(nullptr) : logprobs_json(c);
  choice["finish_reason"] = c.finish_reason ? json(*c.finish_reason) : json(nullptr);
  out["choices"] = json::array({std::move(choice)});
  if (with_usage_null) out["usage"] = nullptr;
  return out;
}

json ResponseBuilder::usage_chunk(const Usage& usage) const {
  json out = header(endpoint_ == Endpoint::ChatCompletions ? "chat.completion.chunk" : "text_completion");
  out["choices"] = json::array();
  out["usage"] = usage_json(usage);
  return out;
}

}  // namespace tessera::server
