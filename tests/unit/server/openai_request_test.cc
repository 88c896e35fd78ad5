// Request parsing: OpenAI defaults, every accepted shape of prompt / messages /
// stop / logprobs, and an ApiError(400) naming the field for each bad value.
#include <gtest/gtest.h>

#include "server/api_error.h"
#include "server/openai_request.h"

namespace tessera::server {
namespace {

CompletionRequest completions(const std::string& body) {
  return parse_completion_request(body, Endpoint::Completions, RequestLimits{});
}
CompletionRequest chat(const std::string& body) {
  return parse_completion_request(body, Endpoint::ChatCompletions, RequestLimits{});
}

// The param of the ApiError parsing `body` raises (fails the test otherwise).
std::string bad_param(const std::string& body, Endpoint endpoint = Endpoint::Completions) {
  try {
    parse_completion_request(body, endpoint, RequestLimits{});
  } catch (const ApiError& e) {
    EXPECT_EQ(e.status(), 400) << body;
    return e.param().value_or("<none>");
  }
  ADD_FAILURE() << "accepted: " << body;
  return "";
}

TEST(OpenAiRequest, DefaultsFollowOpenAi) {
  const auto r = completions(R"({"prompt": "hi"})");
  EXPECT_EQ(r.max_tokens, 16);
  EXPECT_FLOAT_EQ(r.sampling.temperature, 1.0f);
  EXPECT_FLOAT_EQ(r.sampling.top_p, 1.0f);
  EXPECT_EQ(r.sampling.top_k, 0);
  EXPECT_FLOAT_EQ(r.sampling.min_p, 0.0f);
  EXPECT_EQ(r.n, 1);
  EXPECT_EQ(r.top_logprobs, -1);
  EXPECT_FALSE(r.stream);
  EXPECT_FALSE(chat(R"({"messages": [{"role": "user", "content": "x"}]})").max_tokens.has_value());
}

TEST(OpenAiRequest, PromptShapes) {
  EXPECT_EQ(std::get<std::string>(completions(R"({"prompt": "a"})").prompts.at(0)), "a");
  EXPECT_EQ(completions(R"({"prompt": ["a", "b"]})").prompts.size(), 2u);
  EXPECT_EQ(std::get<std::vector<TokenId>>(completions(R"({"prompt": [1, 2, 3]})").prompts.at(0)),
            (std::vector<TokenId>{1, 2, 3}));
  EXPECT_EQ(completions(R"({"prompt": [[1], [2, 3]]})").prompts.size(), 2u);
  EXPECT_EQ(bad_param(R"({"prompt": 5})"), "prompt");
  EXPECT_EQ(bad_param(R"({"prompt": []})"), "prompt");
  EXPECT_EQ(bad_param(R"({"prompt": [1, -2]})"), "prompt");
  EXPECT_EQ(bad_param(R"({"max_tokens": 3})"), "prompt");
}

TEST(OpenAiRequest, MessagesAreNormalised) {
  const auto r = chat(R"({"messages": [{"role": "developer", "content": "be brief"},
      {"role": "user", "content": [{"type": "text", "text": "a"}, {"type": "text", "text": "b"}]},
      {"role": "assistant", "content": null}]})");
  ASSERT_EQ(r.messages.size(), 3u);
  EXPECT_EQ(r.messages[0]["role"], "system");
  EXPECT_EQ(r.messages[1]["content"], "a\nb");
  EXPECT_EQ(r.messages[2]["content"], "");
  EXPECT_EQ(bad_param(R"({"messages": {}})", Endpoint::ChatCompletions), "messages");
  EXPECT_EQ(bad_param(R"({"messages": [{"role": "user"}]})", Endpoint::ChatCompletions), "messages[0].content");
  EXPECT_EQ(bad_param(R"({"messages": [{"role": 1, "content": "x"}]})", Endpoint::ChatCompletions),
            "messages[0].role");
}

TEST(OpenAiRequest, FieldsAndRanges) {
  const auto r = completions(R"({"prompt": "x", "max_tokens": 7.0, "temperature": 0, "top_k": -1, "seed": -1,
      "stop": ["a", ""], "n": 2, "logprobs": 3, "user": "u", "presence_penalty": 1.5, "model": null})");
  EXPECT_EQ(r.max_tokens, 7);
  EXPECT_EQ(r.sampling.top_k, 0);
  EXPECT_EQ(r.sampling.seed, 0xFFFFFFFFu);
  EXPECT_EQ(r.stop, std::vector<std::string>{"a"});
  EXPECT_EQ(r.n, 2);
  EXPECT_EQ(r.top_logprobs, 3);
  EXPECT_EQ(r.user, "u");
  EXPECT_FALSE(r.model.has_value());
  EXPECT_EQ(completions(R"({"prompt": "x", "max_tokens": 3, "max_completion_tokens": 9})").max_tokens, 9);
  EXPECT_EQ(bad_param(R"({"prompt": "x", "max_tokens": 0})"), "max_tokens");
  EXPECT_EQ(bad_param(R"({"prompt": "x", "max_completion_tokens": -1})"), "max_completion_tokens");
  EXPECT_EQ(bad_param(R"({"prompt": "x", "max_tokens": true})"), "max_tokens");
  EXPECT_EQ(bad_param(R"({"prompt": "x", "temperature": 2.5})"), "temperature");
  EXPECT_EQ(bad_param(R"({"prompt": "x", "top_p": 0})"), "top_p");
  EXPECT_EQ(bad_param(R"({"prompt": "x", "n": 17})"), "n");
  EXPECT_EQ(bad_param(R"({"prompt": ["a", "b", "c", "d", "e"], "n": 4})"), "n");
  EXPECT_EQ(bad_param(R"({"prompt": "x", "stop": [1]})"), "stop");
  EXPECT_EQ(bad_param(R"({"prompt": "x", "frequency_penalty": 9})"), "frequency_penalty");
  EXPECT_EQ(bad_param(R"({"prompt": "x", "echo": true})"), "echo");
  EXPECT_EQ(bad_param(R"({"prompt": "x", "stream_options": {"include_usage": true}})"), "stream_options");
}

TEST(OpenAiRequest, ChatLogprobs) {
  const std::string m = R"("messages": [{"role": "user", "content": "x"}])";
  EXPECT_EQ(chat("{" + m + R"(, "logprobs": true})").top_logprobs, 0);
  EXPECT_EQ(chat("{" + m + R"(, "logprobs": true, "top_logprobs": 4})").top_logprobs, 4);
  EXPECT_EQ(chat("{" + m + R"(, "logprobs": false})").top_logprobs, -1);
  EXPECT_EQ(bad_param("{" + m + R"(, "top_logprobs": 4})", Endpoint::ChatCompletions), "top_logprobs");
  EXPECT_EQ(bad_param("{" + m + R"(, "logprobs": 1})", Endpoint::ChatCompletions), "logprobs");
}

TEST(OpenAiRequest, MalformedBodies) {
  for (const char* body : {"", "{", "[1]", "\"x\"", "{\"prompt\": \"x\",}"}) {
    try {
      completions(body);
      ADD_FAILURE() << "accepted: " << body;
    } catch (const ApiError& e) {
      EXPECT_EQ(e.status(), 400);
      EXPECT_FALSE(e.param().has_value());
    }
  }
}

TEST(OpenAiRequest, ErrorBodyShape) {
  const auto j = error_body(ApiError(404, "no such model", "invalid_request_error", "model", "model_not_found"));
  EXPECT_EQ(j.dump(),
            R"({"error":{"code":"model_not_found","message":"no such model","param":"model","type":"invalid_request_error"}})");
  EXPECT_TRUE(error_body("m", "t")["error"]["param"].is_null());
}

}  // namespace
}  // namespace tessera::server
