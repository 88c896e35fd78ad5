#include "sampling/sampler.h"

#include <gtest/gtest.h>

#include <set>
#include <string>
#include <vector>

#include "core/error.h"

namespace tessera {
namespace {

std::vector<float> logits() { return {1.0f, 3.0f, 2.0f, 0.5f, 2.9f, -1.0f}; }

int32_t sample_once(Sampler& s) {
  auto l = logits();
  return s.sample(l.data(), static_cast<int64_t>(l.size()));
}

SamplingParams plain(float temperature) {
  SamplingParams p;
  p.temperature = temperature;
  p.top_k = 0;
  p.top_p = 1.0f;
  p.min_p = 0.0f;
  return p;
}

TEST(Sampler, GreedyTakesTheArgmax) {
  Sampler s(plain(0.0f));
  EXPECT_EQ(sample_once(s), 1);
  Sampler negative(plain(-1.0f));
  EXPECT_EQ(sample_once(negative), 1);
}

TEST(Sampler, SameSeedSameTokensDifferentSeedDifferentTokens) {
  auto run = [](uint32_t seed) {
    SamplingParams p = plain(1.5f);
    p.seed = seed;
    Sampler s(p);
    std::vector<int32_t> out;
    for (int i = 0; i < 64; ++i) out.push_back(sample_once(s));
    return out;
  };
  EXPECT_EQ(run(7), run(7));
  EXPECT_NE(run(7), run(8));
}

TEST(Sampler, ResetReplaysTheSameTokens) {
  SamplingParams p = plain(1.5f);
  p.repeat_penalty = 1.3f;
  Sampler s(p);
  std::vector<int32_t> first, second;
  for (int i = 0; i < 32; ++i) {
    first.push_back(sample_once(s));
    s.accept(first.back());
  }
  s.reset();
  for (int i = 0; i < 32; ++i) {
    second.push_back(sample_once(s));
    s.accept(second.back());
  }
  EXPECT_EQ(first, second);
}

TEST(Sampler, TopKOneIsGreedyAtAnyTemperature) {
  SamplingParams p = plain(5.0f);
  p.top_k = 1;
  Sampler s(p);
  for (int i = 0; i < 20; ++i) EXPECT_EQ(sample_once(s), 1);
}

TEST(Sampler, TheCutsComposeTopKThenTopPThenMinP) {
  SamplingParams p = plain(10.0f);  // hot: every survivor gets drawn
  p.top_k = 3;
  std::set<int32_t> seen;
  Sampler k(p);
  for (int i = 0; i < 300; ++i) seen.insert(sample_once(k));
  EXPECT_EQ(seen, (std::set<int32_t>{1, 2, 4}));

  p.top_k = 0;
  p.min_p = 0.5f;
  Sampler m(p);
  seen.clear();
  for (int i = 0; i < 300; ++i) seen.insert(sample_once(m));
  EXPECT_EQ(seen, (std::set<int32_t>{1, 4}));

  p.min_p = 0.0f;
  p.top_p = 0.3f;  // token 1 alone has p ~0.40 at temperature 1
  Sampler t(p);
  seen.clear();
  for (int i = 0; i < 50; ++i) seen.insert(sample_once(t));
  EXPECT_EQ(seen, (std::set<int32_t>{1}));
}

TEST(Sampler, RepeatPenaltyDividesPositiveAndMultipliesNegativeLogits) {
  SamplingParams p = plain(0.0f);
  p.repeat_penalty = 2.0f;
  Sampler s(p);
  s.accept(1);
  s.accept(5);
  auto l = logits();
  EXPECT_EQ(s.sample(l.data(), static_cast<int64_t>(l.size())), 4);  // 3/2 < 2.9
  EXPECT_FLOAT_EQ(l[1], 1.5f);
  EXPECT_FLOAT_EQ(l[5], -2.0f);
  EXPECT_FLOAT_EQ(l[4], 2.9f);  // unseen: untouched
}

TEST(Sampler, FrequencyAndPresencePenaltiesSubtractPerCount) {
  SamplingParams f = plain(0.0f);
  f.frequency_penalty = 1.0f;
  f.presence_penalty = 0.5f;
  Sampler g(f);
  g.accept(1);
  g.accept(1);
  g.accept(0);
  auto l = logits();
  g.sample(l.data(), static_cast<int64_t>(l.size()));
  EXPECT_FLOAT_EQ(l[1], 3.0f - 2.0f - 0.5f);
  EXPECT_FLOAT_EQ(l[0], 1.0f - 1.0f - 0.5f);
  EXPECT_FLOAT_EQ(l[2], 2.0f);
}

TEST(Sampler, PenaltiesOnlySeeTheLastNTokens) {
  SamplingParams p = plain(0.0f);
  p.repeat_penalty = 2.0f;
  p.repeat_last_n = 2;
  Sampler s(p);
  s.accept(1);  // pushed out by the next two
  s.accept(0);
  s.accept(3);
  auto l = logits();
  EXPECT_EQ(s.sample(l.data(), static_cast<int64_t>(l.size())), 1);
  EXPECT_FLOAT_EQ(l[1], 3.0f);
  EXPECT_FLOAT_EQ(l[0], 0.5f);

  p.repeat_last_n = 0;  // off
  Sampler off(p);
  off.accept(1);
  auto l2 = logits();
  off.sample(l2.data(), static_cast<int64_t>(l2.size()));
  EXPECT_FLOAT_EQ(l2[1], 3.0f);
}

void expect_rejected(const SamplingParams& p, const std::string& flag) {
  try {
    Sampler s(p);
    FAIL() << "accepted invalid " << flag;
  } catch (const InvalidArgument& e) {
    EXPECT_NE(std::string(e.what()).find(flag), std::string::npos) << e.what();
  }
}

TEST(Sampler, ImpossibleParametersAreRejectedNamingTheFlag) {
  SamplingParams p;
  p.top_p = 0.0f;
  expect_rejected(p, "--top-p");
  p = SamplingParams{};
  p.top_p = 1.5f;
  expect_rejected(p, "--top-p");
  p = SamplingParams{};
  p.top_k = -1;
  expect_rejected(p, "--top-k");
  p = SamplingParams{};
  p.min_p = 2.0f;
  expect_rejected(p, "--min-p");
  p = SamplingParams{};
  p.repeat_penalty = 0.0f;
  expect_rejected(p, "--repeat-penalty");
  p = SamplingParams{};
  p.repeat_last_n = -3;
  expect_rejected(p, "--repeat-last-n");
  p = SamplingParams{};
  p.temperature = std::numeric_limits<float>::infinity();
  expect_rejected(p, "--temp");
  p = SamplingParams{};
  p.frequency_penalty = std::numeric_limits<float>::quiet_NaN();
  expect_rejected(p, "--frequency-penalty");
  EXPECT_NO_THROW(Sampler{SamplingParams{}});
}

}  // namespace
}  // namespace tessera
