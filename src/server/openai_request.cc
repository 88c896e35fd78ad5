#include "server/openai_request.h"

#include <cmath>
#include <limits>
#include <random>

#include "server/api_error.h"

namespace tessera::server {

namespace {

using json = nlohmann::ordered_json;

// A field that is present and not null.
const json* field(const json& body, const char* name) {
  auto it = body.find(name);
  if (it == body.end() || it->is_null()) return nullptr;
  return &*it;
}

double get_number(const json& body, const char* name, double lo, double hi) {
  const json* v = field(body, name);
  if (!v->is_number()) bad_request(name, fmt::format("'{}' must be a number", name));
  const double x = v->get<double>();
  if (!std::isfinite(x) || x < lo || x > hi) {
    bad_request(name, fmt::format("'{}' must be between {} and {}, got {}", name, lo, hi, x));
  }
  return x;
}

// Integers may arrive as 3 or 3.0 (JSON does not distinguish); 3.5 is an error.
int64_t get_integer(const json& v, const std::string& name) {
  if (v.is_number_integer()) {
    if (v.is_number_unsigned() && v.get<uint64_t>() > static_cast<uint64_t>(std::numeric_limits<int64_t>::max())) {
      bad_request(name, fmt::format("'{}' is too large", name));
    }
    return v.get<int64_t>();
  }
  if (v.is_number_float()) {
    const double x = v.get<double>();
    if (std::isfinite(x) && x == std::floor(x) && std::fabs(x) < 9.0e15) return static_cast<int64_t>(x);
  }
  bad_request(name, fmt::format("'{}' must be an integer", name));
}

int64_t get_integer(const json& body, const char* name, int64_t lo, int64_t hi) {
  const int64_t x = get_integer(*field(body, name), name);
  if (x < lo || x > hi) bad_request(name, fmt::format("'{}' must be between {} and {}, got {}", name, lo, hi, x));
  return x;
}

bool get_bool(const json& body, const char* name) {
  const json* v = field(body, name);
  if (!v->is_boolean()) bad_request(name, fmt::format("'{}' must be a boolean", name));
  return v->get<bool>();
}

std::string get_string(const json& body, const char* name) {
  const json* v = field(body, name);
  if (!v->is_string()) bad_request(name, fmt::format("'{}' must be a string", name));
  return v->get<std::string>();
}

std::vector<TokenId> token_list(const json& v, const std::string& name) {
  std::vector<TokenId> ids;
  ids.reserve(v.size());
  for (const auto& t : v) {
    if (!t.is_number_integer()) bad_request(name, fmt::format("'{}' token ids must be integers", name));
    const int64_t id = get_integer(t, name);
    if (id < 0 || id > std::numeric_limits<TokenId>::max()) {
      bad_request(name, fmt::format("'{}' token id {} is out of range", name, id));
    }
    ids.push_back(static_cast<TokenId>(id));
  }
  return ids;
}

bool all_integers(const json& v) {
  for (const auto& t : v) {
    if (!t.is_number_integer()) return false;
  }
  return true;
}

// "prompt": "text" | ["text", ...] | [1, 2, 3] | [[1, 2], [3]]
std::vector<Prompt> parse_prompts(const json& body) {
  const json* v = field(body, "prompt");
  if (!v) bad_request("prompt", "'prompt' is required");
  std::vector<Prompt> prompts;
  if (v->is_string()) {
    prompts.emplace_back(v->get<std::string>());
  } else if (v->is_array() && !v->empty() && all_integers(*v)) {
    prompts.emplace_back(token_list(*v, "prompt"));
  } else if (v->is_array() && !v->empty()) {
    for (const auto& p : *v) {
      if (p.is_string()) {
        prompts.emplace_back(p.get<std::string>());
      } else if (p.is_array() && !p.empty() && all_integers(p)) {
        prompts.emplace_back(token_list(p, "prompt"));
      } else {
        bad_request("prompt", "'prompt' must be a string, an array of strings, or token ids");
      }
    }
  } else {
    bad_request("prompt", "'prompt' must be a non-empty string, an array of strings, or token ids");
  }
  return prompts;
}

// The text of a message's content: a string, or an array of {"type": "text",
// "text": ...} parts joined by newlines (templates then only see strings).
std::string content_text(const json& content, size_t index) {
  const std::string param = fmt::format("messages[{}].content", index);
  if (content.is_string()) return content.get<std::string>();
  if (!content.is_array()) bad_request(param, fmt::format("'{}' must be a string or an array of content parts", param));
  std::string text;
  for (const auto& part : content) {
    if (!part.is_object() || !part.contains("type") || !part["type"].is_string()) {
      bad_request(param, fmt::format("'{}' parts must be objects with a 'type'", param));
    }
    if (part["type"] != "text") {
      bad_request(param, fmt::format("'{}': content type '{}' is not supported (text only)", param,
                                     part["type"].get<std::string>()));
    }
    if (!part.contains("text") || !part["text"].is_string()) {
      bad_request(param, fmt::format("'{}' text parts need a string 'text'", param));
    }
    if (!text.empty()) text += '\n';
    text += part["text"].get<std::string>();
  }
  return text;
}

json parse_messages(const json& body) {
  const json* v = field(body, "messages");
  if (!v) bad_request("messages", "'messages' is required");
  if (!v->is_array() || v->empty()) bad_request("messages", "'messages' must be a non-empty array");
  json out = json::array();
  for (size_t i = 0; i < v->size(); ++i) {
    const json& m = (*v)[i];
    const std::string param = fmt::format("messages[{}]", i);
    if (!m.is_object()) bad_request(param, fmt::format("'{}' must be an object", param));
    if (!m.contains("role") || !m["role"].is_string()) {
      bad_request(param + ".role", fmt::format("'{}.role' must be a string", param));
    }
    std::string role = m["role"].get<std::string>();
    if (role == "developer") role = "system";  // newer OpenAI name; templates know "system"
    if (role != "system" && role != "user" && role != "assistant" && role != "tool") {
      bad_request(param + ".role",
                  fmt::format("'{}.role' must be system, developer, user, assistant or tool, got '{}'", param, role));
    }
    std::string content;
    auto c = m.find("content");
    if (c != m.end() && !c->is_null()) {
      content = content_text(*c, i);
    } else if (role != "assistant") {
      bad_request(param + ".content", fmt::format("'{}.content' is required", param));
    }
    json msg = {{"role", role}, {"content", content}};
    if (auto name = m.find("name"); name != m.end() && name->is_string()) msg["name"] = *name;
    out.push_back(std::move(msg));
  }
  return out;
}

std::vector<std::string> parse_stop(const json& body, const RequestLimits& limits) {
  const json* v = field(body, "stop");
  std::vector<std::string> stop;
  if (!v) return stop;
  if (v->is_string()) {
    stop.push_back(v->get<std::string>());
  } else if (v->is_array()) {
    for (const auto& s : *v) {
      if (!s.is_string()) bad_request("stop", "'stop' must be a string or an array of strings");
      stop.push_back(s.get<std::string>());
    }
  } else {
    bad_request("stop", "'stop' must be a string or an array of strings");
  }
  if (static_cast<int>(stop.size()) > limits.max_stop) {
    bad_request("stop", fmt::format("'stop' may hold at most {} strings", limits.max_stop));
  }
  // An empty stop string would match everywhere; clients send "" to mean none.
  std::erase_if(stop, [](const std::string& s) { return s.empty(); });
  return stop;
}

uint32_t random_seed() {
  static thread_local std::mt19937 rng{std::random_device{}()};
  return rng();
}

}  // namespace

nlohmann::json parse_json_object(const std::string& body) {
  nlohmann::json j = nlohmann::json::parse(body, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded()) throw ApiError(400, "the request body is not valid JSON");
  if (!j.is_object()) throw ApiError(400, "the request body must be a JSON object");
  return j;
}

CompletionRequest parse_completion_request(const std::string& text, Endpoint endpoint, const RequestLimits& limits) {
  json body = json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (body.is_discarded()) throw ApiError(400, "the request body is not valid JSON");
  if (!body.is_object()) throw ApiError(400, "the request body must be a JSON object");

  CompletionRequest r;
  r.endpoint = endpoint;
  if (field(body, "model")) r.model = get_string(body, "model");
  if (endpoint == Endpoint::Completions) {
    r.prompts = parse_prompts(body);
    if (field(body, "echo") && get_bool(body, "echo")) bad_request("echo", "'echo' is not supported");
    if (field(body, "suffix")) bad_request("suffix", "'suffix' is not supported");
    if (field(body, "best_of") && get_integer(*field(body, "best_of"), "best_of") != 1) {
      bad_request("best_of", "'best_of' other than 1 is not supported (use 'n')");
    }
  } else {
    r.messages = parse_messages(body);
  }

  // Chat's newer name wins when both are given, as in OpenAI's API.
  const char* max_field = field(body, "max_completion_tokens") ? "max_completion_tokens" : "max_tokens";
  if (field(body, max_field)) {
    r.max_tokens = get_integer(body, max_field, std::numeric_limits<int64_t>::min(), std::numeric_limits<int64_t>::max());
    if (*r.max_tokens <= 0) {
      bad_request(max_field, fmt::format("'{}' must be at least 1, got {}", max_field, *r.max_tokens));
    }
  } else if (endpoint == Endpoint::Completions) {
    r.max_tokens = 16;
  }

  SamplingParams& s = r.sampling;
  s.temperature = 1.0f;
  s.top_p = 1.0f;
  s.top_k = 0;
  s.min_p = 0.0f;
  s.repeat_penalty = 1.0f;
  if (field(body, "temperature")) s.temperature = static_cast<float>(get_number(body, "temperature", 0.0, 2.0));
  if (field(body, "top_p")) {
    s.top_p = static_cast<float>(get_number(body, "top_p", 0.0, 1.0));
    if (s.top_p <= 0.0f) bad_request("top_p", "'top_p' must be greater than 0");
  }
  if (field(body, "top_k")) {
    const int64_t k = get_integer(body, "top_k", -1, std::numeric_limits<int32_t>::max());
    s.top_k = k < 0 ? 0 : static_cast<int>(k);  // -1 (vLLM's "off") = 0 here
  }
  if (field(body, "min_p")) s.min_p = static_cast<float>(get_number(body, "min_p", 0.0, 1.0));
  if (field(body, "presence_penalty")) {
    s.presence_penalty = static_cast<float>(get_number(body, "presence_penalty", -2.0, 2.0));
  }
  if (field(body, "frequency_penalty")) {
    s.frequency_penalty = static_cast<float>(get_number(body, "frequency_penalty", -2.0, 2.0));
  }
  if (field(body, "repetition_penalty")) {
    s.repeat_penalty = static_cast<float>(get_number(body, "repetition_penalty", 0.01, 10.0));
  }
  // OpenAI seeds are 64-bit; the sampler's RNG takes 32 bits (equal seeds stay equal).
  s.seed = field(body, "seed")
               ? static_cast<uint32_t>(static_cast<uint64_t>(get_integer(
                     body, "seed", std::numeric_limits<int64_t>::min(), std::numeric_limits<int64_t>::max())))
               : random_seed();

  r.stop = parse_stop(body, limits);
  if (field(body, "n")) r.n = static_cast<int>(get_integer(body, "n", 1, limits.max_choices));
  const size_t n_prompts = endpoint == Endpoint::Completions ? r.prompts.size() : 1;
  if (static_cast<int64_t>(n_prompts) * r.n > limits.max_choices) {
    bad_request("n", fmt::format("'n' times the number of prompts must be at most {}", limits.max_choices));
  }

  if (endpoint == Endpoint::Completions) {
    // Completions: "logprobs": k asks for the chosen token plus k alternatives.
    if (field(body, "logprobs")) {
      r.top_logprobs = static_cast<int>(get_integer(body, "logprobs", 0, limits.max_top_logprobs));
    }
  } else {
    const bool want = field(body, "logprobs") && get_bool(body, "logprobs");
    if (field(body, "top_logprobs")) {
      const int k = static_cast<int>(get_integer(body, "top_logprobs", 0, limits.max_top_logprobs));
      if (!want) bad_request("top_logprobs", "'top_logprobs' needs 'logprobs' set to true");
      r.top_logprobs = k;
    } else if (want) {
      r.top_logprobs = 0;
    }
  }

  if (field(body, "stream")) r.stream = get_bool(body, "stream");
  if (const json* so = field(body, "stream_options")) {
    if (!r.stream) bad_request("stream_options", "'stream_options' is only allowed when 'stream' is true");
    if (!so->is_object()) bad_request("stream_options", "'stream_options' must be an object");
    if (field(*so, "include_usage")) {
      if (!(*so)["include_usage"].is_boolean()) {
        bad_request("stream_options.include_usage", "'stream_options.include_usage' must be a boolean");
      }
      r.include_usage = (*so)["include_usage"].get<bool>();
    }
  }
  if (field(body, "user")) r.user = get_string(body, "user");
  return r;
}

}  // namespace tessera::server
