#include "engine/generator.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "core/error.h"
#include "fake_model.h"
#include "tokenizer/utf8.h"

namespace tessera {
namespace {

using fake::ByteTokenizer;
using fake::FakeModel;
using fake::says;

GenerationRequest greedy_request(std::string prompt, int64_t max_tokens) {
  GenerationRequest r;
  r.prompt = std::move(prompt);
  r.max_tokens = max_tokens;
  r.n_ctx = 256;
  r.sampling.temperature = 0.0f;
  return r;
}

struct Streamed {
  std::vector<std::string> pieces;
  std::string all;
  std::function<void(std::string_view)> sink() {
    return [this](std::string_view t) {
      pieces.emplace_back(t);
      all += t;
    };
  }
};

TEST(Generator, GeneratesWhatTheModelSaysAndStopsAtEndOfGeneration) {
  FakeModel model(says("Hi there", 6));  // BOS + "Hello" = 6 prompt tokens
  ThreadPool pool(1);
  Generator gen(model, pool);
  Streamed out;
  const GenerationResult r = gen.generate(greedy_request("Hello", 100), out.sink());
  EXPECT_EQ(r.text, "Hi there");
  EXPECT_EQ(out.all, r.text);
  EXPECT_EQ(r.finish_reason, "stop");
  EXPECT_EQ(r.prompt_tokens, 6);
  EXPECT_EQ(r.tokens.size(), 8u);  // the EOS token is not part of the output
  EXPECT_EQ(r.tokens[0], ByteTokenizer::byte_token('H'));
}

TEST(Generator, MaxTokensLimitsTheOutput) {
  FakeModel model(says("abcdefghij", 3));
  ThreadPool pool(1);
  Generator gen(model, pool);
  const GenerationResult r = gen.generate(greedy_request("xy", 4));
  EXPECT_EQ(r.text, "abcd");
  EXPECT_EQ(r.tokens.size(), 4u);
  EXPECT_EQ(r.finish_reason, "length");
  // Prefill + 3 decode steps: the 4th token's logits are never computed.
  EXPECT_EQ(model.batches.size(), 4u);

  const GenerationResult none = gen.generate(greedy_request("xy", 0));
  EXPECT_EQ(none.text, "");
  EXPECT_EQ(none.finish_reason, "length");
}

TEST(Generator, PrefillRunsInChunksAndOnlyTheLastPromptTokenWantsLogits) {
  FakeModel model(says("ok", 11));
  ThreadPool pool(1);
  Generator gen(model, pool);
  GenerationRequest req = greedy_request("0123456789", 100);
  req.prefill_chunk = 4;
  const GenerationResult r = gen.generate(req);
  EXPECT_EQ(r.text, "ok");
  ASSERT_GE(model.batches.size(), 3u);
  std::vector<int32_t> positions;
  for (int b = 0; b < 3; ++b) {
    const Batch& batch = model.batches[b];
    EXPECT_EQ(batch.size(), b < 2 ? 4 : 3);
    for (int64_t i = 0; i < batch.size(); ++i) {
      positions.push_back(batch.positions[i]);
      EXPECT_EQ(batch.want_logits[i], b == 2 && i == batch.size() - 1);
    }
  }
  EXPECT_EQ(model.batches[0].tokens[0], ByteTokenizer::kBos);
  for (int32_t i = 0; i < 11; ++i) EXPECT_EQ(positions[i], i);
  // Then one token per decode step, at the next positions.
  for (size_t b = 3; b < model.batches.size(); ++b) {
    ASSERT_EQ(model.batches[b].size(), 1);
    EXPECT_EQ(model.batches[b].positions[0], static_cast<int32_t>(11 + b - 3));
    EXPECT_TRUE(model.batches[b].want_logits[0]);
  }
}

TEST(Generator, NoBosWhenTheVocabularyAddsNone) {
  FakeModel model(says("z", 2), /*add_bos=*/false);
  ThreadPool pool(1);
  Generator gen(model, pool);
  const GenerationResult r = gen.generate(greedy_request("ab", 10));
  EXPECT_EQ(r.prompt_tokens, 2);
  EXPECT_EQ(model.batches[0].tokens[0], ByteTokenizer::byte_token('a'));
  EXPECT_EQ(r.text, "z");
}

TEST(Generator, APromptThatDoesNotFitIsRejectedBeforeAnyCompute) {
  FakeModel model(says("x", 0));
  ThreadPool pool(1);
  Generator gen(model, pool);
  GenerationRequest req = greedy_request(std::string(40, 'a'), 10);
  req.n_ctx = 32;
  try {
    gen.generate(req);
    FAIL() << "accepted a prompt longer than the context";
  } catch (const InvalidArgument& e) {
    EXPECT_EQ(std::string(e.what()), "prompt is 41 tokens but the context is 32 tokens; use --ctx-size");
  }
  EXPECT_TRUE(model.batches.empty());
  req.n_ctx = 41;  // the prompt fits but leaves no room for one generated token
  EXPECT_THROW(gen.generate(req), InvalidArgument);
  EXPECT_TRUE(model.batches.empty());
}

TEST(Generator, TheContextLimitsGeneration) {
  FakeModel model(says("abcdefghij", 4));
  ThreadPool pool(1);
  Generator gen(model, pool);
  GenerationRequest req = greedy_request("abc", 100);
  req.n_ctx = 7;  // 4 prompt tokens, room for 3 more
  const GenerationResult r = gen.generate(req);
  EXPECT_EQ(r.text, "abc");
  EXPECT_EQ(r.finish_reason, "length");
}

TEST(Generator, AStopStringEndsGenerationAndIsNotEmitted) {
  FakeModel model(says("Hello, World! Bye", 2));
  ThreadPool pool(1);
  Generator gen(model, pool);
  GenerationRequest req = greedy_request("q", 100);
  req.stop = {"World"};
  Streamed out;
  const GenerationResult r = gen.generate(req, out.sink());
  EXPECT_EQ(r.text, "Hello, ");
  EXPECT_EQ(out.all, "Hello, ");
  EXPECT_EQ(r.finish_reason, "stop");
  for (const auto& p : out.pieces) EXPECT_EQ(p.find('W'), std::string::npos) << p;
  // Generation ended on the token that completed the stop string.
  EXPECT_EQ(r.tokens.size(), std::string("Hello, World").size());
}

TEST(Generator, MultiByteCharactersAreNeverStreamedInHalves) {
  const std::string script = "h\xC3\xA9llo \xE2\x82\xAC \xF0\x9F\x98\x80!";  // é, €, 😀 one byte per token
  FakeModel model(says(script, 2));
  ThreadPool pool(1);
  Generator gen(model, pool);
  Streamed out;
  const GenerationResult r = gen.generate(greedy_request("q", 100), out.sink());
  EXPECT_EQ(out.all, script);
  EXPECT_EQ(r.text, script);
  for (const auto& p : out.pieces) {
    EXPECT_FALSE(p.empty());
    EXPECT_EQ(utf8_complete_prefix(p), p.size()) << "piece ends inside a character";
    EXPECT_NE(static_cast<unsigned char>(p[0]) & 0xC0, 0x80) << "piece starts inside a character";
  }
}

// Logits spread over many tokens so that sampling has choices.
void spread(const std::vector<TokenId>& history, float* logits, int64_t n_vocab) {
  uint32_t h = 2166136261u;
  for (TokenId t : history) h = (h ^ static_cast<uint32_t>(t)) * 16777619u;
  for (int64_t i = 0; i < n_vocab; ++i) {
    h = h * 1664525u + 1013904223u;
    logits[i] = static_cast<float>((h >> 8) % 1000) / 250.0f;
  }
  logits[ByteTokenizer::kEos] = -100.0f;
}

TEST(Generator, SampledGenerationIsReproducibleForASeed) {
  FakeModel model(spread);
  ThreadPool pool(1);
  Generator gen(model, pool);
  auto run = [&](uint32_t seed) {
    GenerationRequest req;
    req.prompt = "seeded";
    req.max_tokens = 24;
    req.n_ctx = 64;
    req.sampling.temperature = 1.0f;
    req.sampling.seed = seed;
    return gen.generate(req).tokens;
  };
  EXPECT_EQ(run(5), run(5));
  EXPECT_NE(run(5), run(6));
  EXPECT_EQ(run(5).size(), 24u);
}

TEST(Generator, BadRequestsAreRejected) {
  FakeModel model(says("x", 0));
  ThreadPool pool(1);
  Generator gen(model, pool);
  GenerationRequest req = greedy_request("a", -1);
  EXPECT_THROW(gen.generate(req), InvalidArgument);
  req = greedy_request("a", 1);
  req.n_ctx = 0;
  EXPECT_THROW(gen.generate(req), InvalidArgument);
  req = greedy_request("a", 1);
  req.sampling.top_p = 0.0f;
  EXPECT_THROW(gen.generate(req), InvalidArgument);
  req = greedy_request("a", 1);
  req.stop = {""};
  EXPECT_THROW(gen.generate(req), InvalidArgument);
  EXPECT_TRUE(model.batches.empty());
}

}  // namespace
}  // namespace tessera
