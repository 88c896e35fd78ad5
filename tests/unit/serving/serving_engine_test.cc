// ServingEngine on a real (tiny, random-weight) transformer: batching,
// chunked prefill, prefix sharing and preemption must not change any
// sequence's greedy output, and every block must come back.
#include "serving/serving_engine.h"

#include <gtest/gtest.h>

#include <random>
#include <thread>

#include "../model/tiny_llama.h"
#include "serving_test_util.h"

namespace tessera::serving {
namespace {

using testing::greedy;
using testing::Outcome;
using testing::run_all_at_once;
using testing::run_one_at_a_time;

std::vector<TokenId> random_prompt(std::mt19937& rng, size_t n) {
  std::uniform_int_distribution<TokenId> token(3, tiny::kVocab - 1);
  std::vector<TokenId> p = {1};  // BOS
  while (p.size() < n) p.push_back(token(rng));
  return p;
}

ServeRequest greedy_request(std::vector<TokenId> prompt, int64_t max_tokens) {
  ServeRequest r;
  r.prompt = std::move(prompt);
  r.max_tokens = max_tokens;
  r.sampling = greedy();
  r.top_logprobs = 0;  // reports the token ids
  return r;
}

void expect_same(const std::vector<Outcome>& got, const std::vector<Outcome>& want) {
  ASSERT_EQ(got.size(), want.size());
  for (size_t i = 0; i < got.size(); ++i) {
    EXPECT_EQ(got[i].tokens, want[i].tokens) << "request " << i;
    EXPECT_EQ(got[i].text, want[i].text) << "request " << i;
    EXPECT_EQ(got[i].finish_reason, want[i].finish_reason) << "request " << i;
    EXPECT_EQ(got[i].completion_tokens, want[i].completion_tokens) << "request " << i;
    ASSERT_EQ(got[i].logprobs.size(), want[i].logprobs.size());
    for (size_t t = 0; t < got[i].logprobs.size(); ++t) {
      EXPECT_EQ(got[i].logprobs[t].logprob, want[i].logprobs[t].logprob) << "request " << i << " token " << t;
    }
  }
}

void expect_all_blocks_back(const ServingEngine& engine) {
  const MetricsSnapshot m = engine.metrics();
  EXPECT_EQ(m.kv_blocks_used, 0);
  EXPECT_EQ(m.kv_blocks_free + m.kv_blocks_cached, m.kv_blocks_total);
  EXPECT_EQ(m.running, 0);
  EXPECT_EQ(m.waiting, 0);
}

// (architecture, matrix type): F32 matrices take the float kernels, Q8_0 and
// Q4_K/Q6_K the integer dot products against quantized activations (the
// K-quants with batch-size-dependent orders unless Batch::invariant is set).
class ServingEngineReal : public ::testing::TestWithParam<std::tuple<std::string, GgmlType>> {
 protected:
  void SetUp() override {
    model_ = Model::load(tiny::write_tiny_llama(std::get<0>(GetParam()), 512, std::get<1>(GetParam())));
  }
  std::unique_ptr<Model> model_;
};

ServingConfig small_config() {
  ServingConfig c;
  c.n_ctx = 256;
  c.max_seqs = 8;
  c.step_token_budget = 24;  // forces prompts into chunks mixed with decode tokens
  c.threads = 2;
  return c;
}

TEST_P(ServingEngineReal, ConcurrentGreedyEqualsOneAtATime) {
  std::mt19937 rng(11);
  std::vector<ServeRequest> requests;
  for (size_t n : {5, 17, 33, 48, 64, 70, 90, 12}) requests.push_back(greedy_request(random_prompt(rng, n), 24));

  ServingEngine engine(*model_, small_config());
  const auto alone = run_one_at_a_time(engine, requests);
  const auto together = run_all_at_once(engine, requests);
  expect_same(together, alone);
  int64_t generated = 0;
  for (const auto& o : alone) generated += o.completion_tokens;
  EXPECT_GT(generated, 8 * 4) << "the model should generate more than a few tokens";
  EXPECT_EQ(engine.metrics().preemptions_total, 0u);
  expect_all_blocks_back(engine);
}

TEST_P(ServingEngineReal, PrefixCacheReusesBlocksWithoutChangingOutput) {
  std::mt19937 rng(12);
  const auto shared = random_prompt(rng, 100);  // three full 32-token blocks
  auto with_suffix = [&](std::vector<TokenId> suffix) {
    auto p = shared;
    p.insert(p.end(), suffix.begin(), suffix.end());
    return greedy_request(p, 12);
  };
  const std::vector<ServeRequest> requests = {with_suffix({7, 8, 9}), with_suffix({40, 41})};

  ServingConfig no_cache = small_config();
  no_cache.prefix_cache = false;
  ServingEngine reference(*model_, no_cache);
  const auto want = run_one_at_a_time(reference, requests);
  EXPECT_EQ(reference.metrics().prefix_cache_hits, 0u);

  ServingEngine engine(*model_, small_config());
  const auto got = run_one_at_a_time(engine, requests);
  expect_same(got, want);
  EXPECT_EQ(got[0].cached_tokens, 0);
  EXPECT_EQ(got[1].cached_tokens, 96);
  const MetricsSnapshot m = engine.metrics();
  EXPECT_EQ(m.prefix_cache_hits, 3u);
  EXPECT_EQ(m.prefix_cache_queries, 6u);
  // The second request's own full blocks joined the cache too.
  EXPECT_GE(m.kv_blocks_cached, 3);
  expect_all_blocks_back(engine);

  // A prompt that is exactly the cached blocks still computes its last token.
  const auto exact = std::vector<TokenId>(shared.begin(), shared.begin() + 96);
  const auto again = run_one_at_a_time(engine, {greedy_request(exact, 4)});
  const auto fresh = run_one_at_a_time(reference, {greedy_request(exact, 4)});
  expect_same(again, fresh);
  EXPECT_EQ(again[0].cached_tokens, 64);
}

TEST_P(ServingEngineReal, PreemptionWithATinyPoolKeepsOutputs) {
  std::mt19937 rng(13);
  std::vector<ServeRequest> requests;
  for (size_t n : {40, 45, 38, 50}) requests.push_back(greedy_request(random_prompt(rng, n), 60));

  ServingConfig roomy = small_config();
  ServingEngine reference(*model_, roomy);
  const auto alone = run_one_at_a_time(reference, requests);

  ServingConfig tiny_pool = small_config();
  tiny_pool.kv_blocks = 4;  // 128 tokens: one request at most to completion at a time
  ServingEngine engine(*model_, tiny_pool);
  const auto together = run_all_at_once(engine, requests);
  expect_same(together, alone);
  EXPECT_GT(engine.metrics().preemptions_total, 0u);
  expect_all_blocks_back(engine);
}

TEST_P(ServingEngineReal, SampledOutputsAlsoMatchUnderBatching) {
  // Seeded sampling: each sequence's RNG is its own, so batching changes nothing.
  std::mt19937 rng(14);
  std::vector<ServeRequest> requests;
  for (size_t n : {9, 30, 51}) {
    ServeRequest r = greedy_request(random_prompt(rng, n), 16);
    r.sampling = SamplingParams{};
    r.sampling.temperature = 1.0f;
    r.sampling.seed = static_cast<uint32_t>(n);
    r.top_logprobs = 2;
    requests.push_back(r);
  }
  ServingEngine engine(*model_, small_config());
  expect_same(run_all_at_once(engine, requests), run_one_at_a_time(engine, requests));
}

TEST_P(ServingEngineReal, ManyClientsWithSharedPrefixesCancelsAndPreemptionAllFinishCorrectly) {
  std::mt19937 rng(15);
  const auto shared = random_prompt(rng, 70);
  std::vector<ServeRequest> requests;
  std::uniform_int_distribution<size_t> length(5, 100);
  std::uniform_int_distribution<int64_t> max_tokens(5, 40);
  for (int i = 0; i < 32; ++i) {
    std::vector<TokenId> prompt = random_prompt(rng, length(rng));
    if (i % 3 == 0) prompt.insert(prompt.begin(), shared.begin(), shared.end() - (i % 2));
    requests.push_back(greedy_request(prompt, max_tokens(rng)));
    requests.back().user = "user" + std::to_string(i % 4);
  }
  ServingConfig roomy = small_config();
  roomy.prefix_cache = false;
  ServingEngine reference(*model_, roomy);
  const auto want = run_one_at_a_time(reference, requests);

  for (const char* policy : {"fcfs", "fair"}) {
    ServingConfig c = small_config();
    c.max_seqs = 6;
    c.kv_blocks = 8;  // 256 tokens for up to 6 sequences of up to 210: preemption
    c.policy = policy;
    ServingEngine engine(*model_, c);
    std::vector<Outcome> got(requests.size());
    // Every request is queued before the clients start reading, so the pool
    // is contended whatever the threads' start-up order: when each client
    // thread submitted its own request, late starters sometimes arrived after
    // the early ones had finished and nothing was ever preempted.
    std::vector<std::shared_ptr<RequestStream>> streams;
    for (const auto& r : requests) streams.push_back(engine.submit(r));
    std::vector<std::thread> clients;
    for (size_t i = 0; i < requests.size(); ++i) {
      clients.emplace_back([&, i] {
        RequestStream* stream = streams[i].get();
        if (i % 5 == 4) {
          // Cancel after the first event (or find it already finished).
          auto first = stream->next(std::chrono::seconds(120));
          if (first && first->done) {
            got[i].finish_reason = first->finish_reason;
            return;
          }
          stream->cancel();
        }
        got[i] = testing::drain(*stream);
      });
    }
    for (auto& t : clients) t.join();
    for (size_t i = 0; i < requests.size(); ++i) {
      if (i % 5 == 4) {
        EXPECT_TRUE(got[i].finish_reason == "cancelled" || got[i].finish_reason == want[i].finish_reason) << i;
        continue;
      }
      EXPECT_EQ(got[i].tokens, want[i].tokens) << policy << " request " << i;
      EXPECT_EQ(got[i].text, want[i].text) << policy << " request " << i;
      EXPECT_EQ(got[i].finish_reason, want[i].finish_reason) << policy << " request " << i;
    }
    const MetricsSnapshot m = engine.metrics();
    EXPECT_EQ(m.requests_finished_stop + m.requests_finished_length + m.requests_cancelled, 32u) << policy;
    EXPECT_EQ(m.requests_failed, 0u);
    EXPECT_GT(m.preemptions_total, 0u) << policy;
    EXPECT_GT(m.prefix_cache_hits, 0u) << policy;
    expect_all_blocks_back(engine);
  }
}

INSTANTIATE_TEST_SUITE_P(Models, ServingEngineReal,
                         ::testing::Combine(::testing::Values("llama", "gemma3"),
                                            ::testing::Values(GgmlType::F32, GgmlType::Q8_0, GgmlType::Q4_K)),
                         [](const auto& info) {
                           return std::get<0>(info.param) + "_" + type_name(std::get<1>(info.param));
                         });

}  // namespace
}  // namespace tessera::serving
