// ServingEngine mechanics on the deterministic fake model: validation,
// cancellation, chunked prefill budget, fair admission order, logprobs.
#include <gtest/gtest.h>

#include <atomic>
#include <cmath>
#include <future>
#include <thread>

#include "../engine/fake_model.h"
#include "core/error.h"
#include "serving/serving_engine.h"
#include "serving_test_util.h"

namespace tessera::serving {
namespace {

using fake::ByteTokenizer;
using fake::FakeModel;
using testing::drain;
using testing::greedy;

// Logits that always pick the byte 'a' + (history length % 26): never EOS.
void alphabet(const std::vector<TokenId>& history, float* logits, int64_t n_vocab) {
  FakeModel::one_hot(logits, n_vocab, ByteTokenizer::byte_token(static_cast<unsigned char>('a' + history.size() % 26)));
}

std::vector<TokenId> bytes_prompt(const std::string& text) { return ByteTokenizer().encode(text, true, false); }

ServeRequest request(const std::string& prompt, int64_t max_tokens, std::string user = {}) {
  ServeRequest r;
  r.prompt = bytes_prompt(prompt);
  r.max_tokens = max_tokens;
  r.sampling = greedy();
  r.user = std::move(user);
  return r;
}

ServingConfig fake_config() {
  ServingConfig c;
  c.n_ctx = 256;
  c.threads = 1;
  c.prefix_cache = false;  // the fake model checks positions start at 0
  return c;
}

TEST(ServingControl, SubmitRejectsRequestsThatCanNeverRun) {
  FakeModel model(alphabet);
  ServingConfig c = fake_config();
  c.kv_blocks = 4;  // 64 tokens of 16-token blocks
  ServingEngine engine(model, c);
  auto rejects = [&](ServeRequest r, const std::string& needle) {
    try {
      engine.submit(std::move(r));
      ADD_FAILURE() << "accepted; expected an error mentioning '" << needle << "'";
    } catch (const InvalidArgument& e) {
      EXPECT_NE(std::string(e.what()).find(needle), std::string::npos) << e.what();
    }
  };
  ServeRequest empty = request("", 4);
  empty.prompt.clear();
  rejects(empty, "empty");
  rejects(request("hi", 0), "max_tokens");
  rejects(request(std::string(250, 'x'), 10), "context");
  rejects(request(std::string(50, 'x'), 20), "KV blocks");
  ServeRequest bad_token = request("hi", 4);
  bad_token.prompt.push_back(100000);
  rejects(bad_token, "vocabulary");
  ServeRequest bad_logprobs = request("hi", 4);
  bad_logprobs.top_logprobs = 21;
  rejects(bad_logprobs, "top_logprobs");
  ServeRequest bad_sampling = request("hi", 4);
  bad_sampling.sampling.top_p = 0;
  rejects(bad_sampling, "top-p");
  // The engine still serves what fits: 50 + 14 = 64 tokens = the whole pool.
  auto ok = engine.submit(request(std::string(49, 'x'), 14));
  const auto out = drain(*ok);
  EXPECT_EQ(out.finish_reason, "length");
  EXPECT_EQ(out.completion_tokens, 14);
}

TEST(ServingControl, ConfigErrorsAreReported) {
  FakeModel model(alphabet);
  ServingConfig c = fake_config();
  c.policy = "lottery";
  EXPECT_THROW(ServingEngine(model, c), InvalidArgument);
  c = fake_config();
  c.max_seqs = 0;
  EXPECT_THROW(ServingEngine(model, c), InvalidArgument);
  c = fake_config();
  c.step_token_budget = 0;
  EXPECT_THROW(ServingEngine(model, c), InvalidArgument);
  c.step_token_budget = 4;  // fewer than the 8 decode tokens of max_seqs streams
  EXPECT_THROW(ServingEngine(model, c), InvalidArgument);
}

TEST(ServingControl, TextStopStringsAndCountersReachTheStream) {
  FakeModel model(fake::says("hello world, more", 3));  // BOS + "hi"
  ServingEngine engine(model, fake_config());
  ServeRequest r = request("hi", 50);
  r.stop = {", m"};
  const auto out = drain(*engine.submit(r));
  EXPECT_EQ(out.text, "hello world");
  EXPECT_EQ(out.finish_reason, "stop");
  EXPECT_EQ(out.prompt_tokens, 3);
  EXPECT_EQ(out.completion_tokens, 14);  // up to the 'm' that completed the stop string
  const auto eos = drain(*engine.submit(request("hi", 50)));
  EXPECT_EQ(eos.text, "hello world, more");
  EXPECT_EQ(eos.finish_reason, "stop");
  const MetricsSnapshot m = engine.metrics();
  EXPECT_EQ(m.requests_finished_stop, 2u);
  EXPECT_EQ(m.prompt_tokens_total, 6u);
  EXPECT_EQ(m.generated_tokens_total, 14u + 17u);
  EXPECT_EQ(m.time_to_first_token.count, 2u);
  EXPECT_EQ(m.queue_time.count, 2u);
  // One output step per token after the first, EOS included: 13 + 17.
  EXPECT_EQ(m.time_per_output_token.count, 30u);
}

// The alphabet model, but the forward pass that would produce a sequence's
// third token waits until the test opens the gate: the request cannot finish
// before the test has acted, however fast the engine runs.
struct GatedAlphabet {
  explicit GatedAlphabet(size_t prompt_tokens)
      : gate(open.get_future().share()),
        model([this, prompt_tokens](const std::vector<TokenId>& h, float* logits, int64_t n_vocab) {
          if (h.size() == prompt_tokens + 2) gate.wait();
          alphabet(h, logits, n_vocab);
        }) {}
  std::promise<void> open;
  std::shared_future<void> gate;
  FakeModel model;
};

TEST(ServingControl, CancelReleasesTheSequenceAndItsBlocks) {
  GatedAlphabet gated(11);  // BOS + "a long one"
  ServingEngine engine(gated.model, fake_config());
  auto stream = engine.submit(request("a long one", 200));
  auto first = stream->next(std::chrono::seconds(120));
  ASSERT_TRUE(first.has_value());
  stream->cancel();
  gated.open.set_value();
  const auto out = drain(*stream);
  EXPECT_EQ(out.finish_reason, "cancelled");
  // Cancelled at the start of the first step after cancel(): before the
  // second token, or at the latest right after the gated third.
  EXPECT_GE(out.completion_tokens, 1);
  EXPECT_LE(out.completion_tokens, 3);
  EXPECT_FALSE(stream->next(std::chrono::milliseconds(0)).has_value()) << "nothing after the done event";
  const MetricsSnapshot m = engine.metrics();
  EXPECT_EQ(m.requests_cancelled, 1u);
  EXPECT_EQ(m.kv_blocks_used, 0);
  EXPECT_EQ(m.running, 0);
}

TEST(ServingControl, DroppingTheStreamCancels) {
  GatedAlphabet gated(16);  // BOS + "dropped at once"
  ServingEngine engine(gated.model, fake_config());
  engine.submit(request("dropped at once", 200)).reset();
  gated.open.set_value();
  // The engine drops cancelled requests at the start of every step, so once
  // a later request has run, the dropped one is gone.
  const auto later = drain(*engine.submit(request("x", 3)));
  EXPECT_EQ(later.finish_reason, "length");
  const MetricsSnapshot m = engine.metrics();
  EXPECT_EQ(m.requests_cancelled, 1u);
  EXPECT_EQ(m.requests_finished_length, 1u);
  EXPECT_EQ(m.kv_blocks_used, 0);
  EXPECT_EQ(m.running + m.waiting, 0);
}

TEST(ServingControl, ShutdownEndsEveryStreamWithCancelled) {
  // The running request is held at its third token until shutdown has begun,
  // so nothing can finish on its own first.
  GatedAlphabet gated(4);  // BOS + "one"
  ServingConfig c = fake_config();
  c.max_seqs = 1;
  ServingEngine engine(gated.model, c);
  std::vector<std::shared_ptr<RequestStream>> streams = {engine.submit(request("one", 200)),
                                                         engine.submit(request("two", 200))};
  std::thread closer([&] { engine.shutdown(); });
  // submit() refuses once shutdown has begun; what it queues before that is
  // cancelled like the rest.
  for (;;) {
    try {
      streams.push_back(engine.submit(request("late", 5)));
      std::this_thread::yield();
    } catch (const InvalidArgument&) {
      FAIL() << "a valid request was rejected as invalid";
    } catch (const Error& e) {
      EXPECT_NE(std::string(e.what()).find("shutting down"), std::string::npos) << e.what();
      break;
    }
  }
  gated.open.set_value();
  closer.join();
  for (auto& s : streams) EXPECT_EQ(drain(*s).finish_reason, "cancelled");
  engine.shutdown();  // again: no effect
  const MetricsSnapshot m = engine.metrics();
  EXPECT_EQ(m.requests_cancelled, streams.size());
  EXPECT_EQ(m.kv_blocks_used, 0);
}

TEST(ServingControl, StepsStayWithinTheTokenBudget) {
  FakeModel model(alphabet);
  ServingConfig c = fake_config();
  c.step_token_budget = 8;
  ServingEngine engine(model, c);
  auto a = engine.submit(request(std::string(30, 'p'), 20));
  auto b = engine.submit(request(std::string(45, 'q'), 20));
  EXPECT_EQ(drain(*a).completion_tokens, 20);
  EXPECT_EQ(drain(*b).completion_tokens, 20);
  ASSERT_FALSE(model.batches.empty());
  for (const auto& batch : model.batches) EXPECT_LE(batch.size(), 8);
  // 31 + 46 prompt tokens need at least 10 steps of 8.
  EXPECT_GE(model.batches.size(), 10u);
  // Whatever the arrival timing, some step carries a decode token of one
  // request next to a prefill chunk of the other: a prompt never freezes a stream.
  bool mixed = false;
  for (const auto& batch : model.batches) {
    bool decode = false, prefill = false;
    for (int64_t i = 0; i < batch.size(); ++i) {
      const int64_t prompt = batch.seq_ids[i] == 0 ? 31 : 46;
      (batch.positions[i] >= prompt ? decode : prefill) = true;
    }
    mixed = mixed || (decode && prefill);
  }
  EXPECT_TRUE(mixed);
}

TEST(ServingControl, LogprobsComeFromTheLogits) {
  // Every step: the chosen token at 30, everything else 0.
  FakeModel model(alphabet);
  ServingEngine engine(model, fake_config());
  ServeRequest r = request("ab", 5);
  r.top_logprobs = 3;
  const auto out = drain(*engine.submit(r));
  ASSERT_EQ(out.logprobs.size(), 5u);
  const int64_t n_vocab = model.hparams().n_vocab;
  const double log_z = std::log(std::exp(30.0) + static_cast<double>(n_vocab - 1));
  for (const auto& lp : out.logprobs) {
    EXPECT_NEAR(lp.logprob, 30.0 - log_z, 1e-5);
    ASSERT_EQ(lp.top.size(), 3u);
    EXPECT_EQ(lp.top[0].first, lp.token);
    EXPECT_NEAR(lp.top[1].second, -log_z, 1e-4);
    EXPECT_LT(lp.top[1].first, lp.top[2].first) << "ties listed by token id";
  }
  EXPECT_EQ(out.text, "defgh");  // history length 3 -> 'd'
}

// Admission order of the fair policy: round-robin over users. A gate request
// holds the engine in its first forward pass until every other request is
// queued, so the order does not depend on thread timing.
std::vector<int32_t> admission_order(const std::string& policy) {
  std::promise<void> open;
  std::shared_future<void> gate = open.get_future().share();
  std::atomic<bool> first{true};
  FakeModel model([&](const std::vector<TokenId>& h, float* logits, int64_t n_vocab) {
    if (first.exchange(false)) gate.wait();
    alphabet(h, logits, n_vocab);
  });
  ServingConfig c = fake_config();
  c.policy = policy;
  c.max_seqs = 1;
  ServingEngine engine(model, c);
  std::vector<std::shared_ptr<RequestStream>> streams;
  streams.push_back(engine.submit(request("gate", 2, "g")));  // sequence id 0
  for (const char* user : {"a", "a", "a", "a", "b", "b"}) {   // ids 1..6
    streams.push_back(engine.submit(request(std::string("from ") + user, 2, user)));
  }
  open.set_value();
  for (auto& s : streams) EXPECT_EQ(drain(*s).finish_reason, "length");
  std::vector<int32_t> order;
  for (const auto& batch : model.batches) {
    for (int32_t id : batch.seq_ids) {
      if (std::find(order.begin(), order.end(), id) == order.end()) order.push_back(id);
    }
  }
  return order;
}

TEST(ServingControl, FairPolicyInterleavesUsers) {
  EXPECT_EQ(admission_order("fcfs"), (std::vector<int32_t>{0, 1, 2, 3, 4, 5, 6}));
  // a1 b1 a2 b2 a3 a4
  EXPECT_EQ(admission_order("fair"), (std::vector<int32_t>{0, 1, 5, 2, 6, 3, 4}));
}

// One user's two long requests hold both sequence slots; a second user's
// short request arrives while they decode (the model holds its first logits
// row until both of a's are queued and its 6th until b is, so the state is the
// same whatever the thread timing).
struct SlotRun {
  int64_t b_last_batch = -1;       // index of the last batch with b's sequence
  int64_t a_first_finish = -1;     // index of the last batch of the first a to finish
  uint64_t fairness_preemptions = 0;
  std::string a1_text, a2_text;
};

SlotRun newcomer_against_a_burst(const std::string& policy) {
  std::promise<void> both_submitted, reached, open;
  std::shared_future<void> a2_queued = both_submitted.get_future().share();
  std::shared_future<void> gate = open.get_future().share();
  std::atomic<int> rows{0};
  FakeModel model([&](const std::vector<TokenId>& h, float* logits, int64_t n_vocab) {
    const int row = ++rows;
    // The engine may start a1 before a2 is submitted; holding its first row
    // until then puts both in the running set well before the 6th row
    // (otherwise a2 could still wait there, and b would just take the free slot).
    if (row == 1) a2_queued.wait();
    if (row == 6) {
      reached.set_value();
      gate.wait();
    }
    alphabet(h, logits, n_vocab);
  });
  ServingConfig c = fake_config();
  c.policy = policy;
  c.max_seqs = 2;
  ServingEngine engine(model, c);
  auto a1 = engine.submit(request("from a", 40, "a"));  // sequence id 0
  auto a2 = engine.submit(request("from a", 40, "a"));  // 1
  both_submitted.set_value();
  reached.get_future().wait();
  auto b = engine.submit(request("from b", 3, "b"));    // 2
  open.set_value();
  SlotRun run;
  EXPECT_EQ(drain(*b).text.size(), 3u);
  run.a1_text = drain(*a1).text;
  run.a2_text = drain(*a2).text;
  run.fairness_preemptions = engine.metrics().fairness_preemptions_total;
  std::vector<int64_t> last(3, -1);
  for (size_t i = 0; i < model.batches.size(); ++i) {
    for (int32_t id : model.batches[i].seq_ids) last[static_cast<size_t>(id)] = static_cast<int64_t>(i);
  }
  run.b_last_batch = last[2];
  run.a_first_finish = std::min(last[0], last[1]);
  return run;
}

TEST(ServingControl, FairPolicyPreemptsABurstForAUserWithNothingRunning) {
  const SlotRun fair = newcomer_against_a_burst("fair");
  EXPECT_EQ(fair.fairness_preemptions, 1u);
  EXPECT_LT(fair.b_last_batch, fair.a_first_finish) << "b finished while both of a's requests still ran";
  // The preempted request was recomputed: both of a's outputs are whole and equal.
  EXPECT_EQ(fair.a1_text.size(), 40u);
  EXPECT_EQ(fair.a2_text, fair.a1_text);

  const SlotRun fcfs = newcomer_against_a_burst("fcfs");
  EXPECT_EQ(fcfs.fairness_preemptions, 0u);
  EXPECT_GT(fcfs.b_last_batch, fcfs.a_first_finish) << "under fcfs b waits for a slot";
  EXPECT_EQ(fcfs.a2_text, fcfs.a1_text);
}

}  // namespace
}  // namespace tessera::serving
