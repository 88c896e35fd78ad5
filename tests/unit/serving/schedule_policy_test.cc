// The policies' decisions in isolation: prefill budgets from a step-time
// model, admission order.
#include "serving/schedule_policy.h"

#include <gtest/gtest.h>

#include "core/error.h"
#include "serving/step_time_model.h"

namespace tessera::serving {
namespace {

TEST(StepTimeModel, FitsFixedAndPerTokenCost) {
  StepTimeModel m;
  EXPECT_FALSE(m.ready());
  // 10 ms per step + 1 ms per token.
  for (int64_t n : {1, 8, 64, 3, 120, 16}) m.observe(n, 0.010 + 0.001 * static_cast<double>(n));
  ASSERT_TRUE(m.ready());
  EXPECT_NEAR(m.fixed_s(), 0.010, 1e-9);
  EXPECT_NEAR(m.per_token_s(), 0.001, 1e-9);
  EXPECT_NEAR(m.predict(50), 0.060, 1e-9);
  m.observe(0, 1.0);   // ignored: an empty step
  m.observe(4, -1.0);  // ignored: a clock that went backwards
  EXPECT_NEAR(m.predict(50), 0.060, 1e-9);
}

std::vector<WaitingRequest> waiting_of(const std::vector<std::string>& users) {
  std::vector<WaitingRequest> w;
  for (size_t i = 0; i < users.size(); ++i) w.push_back({i + 1, &users[i], 10});
  return w;
}

TEST(FcfsPolicy, OldestFirstAndTheWholeBudget) {
  ServingConfig c;
  c.step_token_budget = 100;
  auto p = make_schedule_policy(c);
  EXPECT_STREQ(p->name(), "fcfs");
  const std::vector<std::string> users = {"a", "a", "b"};
  EXPECT_EQ(p->pick_next(waiting_of(users)), 0u);
  EXPECT_EQ(p->prefill_budget(7), 93);
}

TEST(FairPolicy, PrefillBudgetKeepsStepsWithinTheTpotTarget) {
  ServingConfig c;
  c.policy = "fair";
  c.step_token_budget = 512;
  c.target_tpot_ms = 50;
  auto p = make_schedule_policy(c);
  EXPECT_EQ(p->prefill_budget(0), 512) << "no stream to protect";
  EXPECT_EQ(p->prefill_budget(4), 16) << "a small chunk until step times are known";
  for (int64_t n : {1, 8, 64, 3, 120, 16}) p->on_step(n, 1, 0.010 + 0.001 * static_cast<double>(n));
  // 50 ms allow 40 tokens in all: 8 decode + 32 prefill.
  EXPECT_EQ(p->prefill_budget(8), 32);
  // Over the target already: the minimum chunk still lets prompts progress.
  EXPECT_EQ(p->prefill_budget(60), 1);

  c.target_tpot_ms = 0;  // derived: 1.25 x the decode-only step
  auto derived = make_schedule_policy(c);
  for (int64_t n : {1, 8, 64, 3, 120, 16}) derived->on_step(n, 1, 0.010 + 0.001 * static_cast<double>(n));
  // 16 decode tokens: 26 ms; x1.25 = 32.5 ms -> 22 tokens in all -> 6 of prefill.
  EXPECT_EQ(derived->prefill_budget(16), 6);
  // 3 decode tokens: 13 ms; x1.25 = 16.25 ms -> 6 tokens in all -> 3 of prefill.
  EXPECT_EQ(derived->prefill_budget(3), 3);
  // 200 decode tokens: 210 ms x 1.25 = 262.5 ms -> 252 tokens in all -> 52 of prefill.
  EXPECT_EQ(derived->prefill_budget(200), 52);
}

// On a CPU a decode-only step is bound by reading the weights (flat in the
// number of streams) while each prefill token adds its compute: one linear
// model over all steps would take the flat decode slope for the prefill cost.
TEST(FairPolicy, PrefillCostIsMeasuredApartFromDecodeSteps) {
  ServingConfig c;
  c.policy = "fair";
  c.step_token_budget = 512;
  c.target_tpot_ms = 0;  // derived: 1.25 x the decode-only step
  auto p = make_schedule_policy(c);
  for (int64_t n : {6, 7, 8, 5, 7}) p->on_step(n, n, 0.070 + 0.0005 * static_cast<double>(n));
  // Mixed steps: 7 decode tokens (73.5 ms) plus prefill tokens at 10 ms each.
  for (int64_t prefill : {16, 4, 8}) p->on_step(7 + prefill, 7, 0.0735 + 0.010 * static_cast<double>(prefill));
  // Target 1.25 x 73.5 ms = 91.9 ms leaves 18.4 ms: one prefill token.
  EXPECT_EQ(p->prefill_budget(7), 1);
  c.target_tpot_ms = 200;  // 200 - 73.5 = 126.5 ms -> 12 prefill tokens
  auto fixed = make_schedule_policy(c);
  for (int64_t n : {6, 7, 8, 5, 7}) fixed->on_step(n, n, 0.070 + 0.0005 * static_cast<double>(n));
  for (int64_t prefill : {16, 4, 8}) fixed->on_step(7 + prefill, 7, 0.0735 + 0.010 * static_cast<double>(prefill));
  EXPECT_EQ(fixed->prefill_budget(7), 12);
}

TEST(FairPolicy, AdmitsRoundRobinOverUsers) {
  ServingConfig c;
  c.policy = "fair";
  auto p = make_schedule_policy(c);
  std::vector<std::string> users = {"a", "a", "a", "b", "c", "b"};
  std::vector<WaitingRequest> w = waiting_of(users);
  std::vector<std::string> order;
  while (!w.empty()) {
    const size_t i = p->pick_next(w);
    order.push_back(*w[i].user);
    p->on_admit(w[i]);
    w.erase(w.begin() + static_cast<std::ptrdiff_t>(i));
  }
  EXPECT_EQ(order, (std::vector<std::string>{"a", "b", "c", "a", "b", "a"}));
}

TEST(FairPolicy, FairnessVictimIsTheNewestOfTheUserHoldingMostSlots) {
  ServingConfig c;
  c.policy = "fair";
  auto fair = make_schedule_policy(c);
  const std::string a = "a", b = "b", x = "x";
  auto running = [](std::vector<std::pair<uint64_t, const std::string*>> v) {
    std::vector<RunningRequest> out;
    for (const auto& [admission, user] : v) out.push_back({admission, user});
    return out;
  };
  const std::vector<WaitingRequest> x_waits = {{9, &x, 10}};
  // a holds three slots, b one: a's newest (admission 7) yields to x.
  EXPECT_EQ(fair->fairness_victim(running({{1, &a}, {2, &b}, {7, &a}, {4, &a}}), x_waits), 2);
  // Nobody holds two slots: nobody is preempted.
  EXPECT_EQ(fair->fairness_victim(running({{1, &a}, {2, &b}}), x_waits), -1);
  // The waiting user already runs something: no preemption.
  const std::vector<WaitingRequest> a_waits = {{9, &a, 10}};
  EXPECT_EQ(fair->fairness_victim(running({{1, &a}, {2, &a}}), a_waits), -1);
  // fcfs never preempts for fairness.
  c.policy = "fcfs";
  EXPECT_EQ(make_schedule_policy(c)->fairness_victim(running({{1, &a}, {2, &a}}), x_waits), -1);
}

TEST(SchedulePolicy, UnknownNamesListTheKnownOnes) {
  ServingConfig c;
  c.policy = "sjf";
  try {
    make_schedule_policy(c);
    FAIL() << "accepted an unknown policy";
  } catch (const InvalidArgument& e) {
    EXPECT_NE(std::string(e.what()).find("fcfs, fair"), std::string::npos) << e.what();
  }
}

}  // namespace
}  // namespace tessera::serving
