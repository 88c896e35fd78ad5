#include "sampling/sampler.h"

#include <gtest/gtest.h>

#include <set>
#include <vector>

#include "core/error.h"

namespace tessera {
namespace {

std::vector<float> logits() { return {1.0f, 3.0f, 2.0f, 0.5f, 2.9f, -1.0f}; }

TEST(Sampler, GreedyTakesTheArgmax) {
  SamplingParams p;
  p.temperature = 0.0f;
  Sampler s(p);
  auto l = logits();
  EXPECT_EQ(s.sample(l.data(), static_cast<int64_t>(l.size())), 1);
}

TEST(Sampler, SameSeedSameTokensDifferentSeedDifferentTokens) {
  SamplingParams p;
  p.temperature = 1.5f;
  p.top_k = 0;
  p.top_p = 1.0f;
  p.min_p = 0.0f;
  auto run = [&](uint64_t seed) {
    p.seed = seed;
    Sampler s(p);
    std::vector<int32_t> out;
    for (int i = 0; i < 64; ++i) {
      auto l = logits();
      out.push_back(s.sample(l.data(), static_cast<int64_t>(l.size())));
    }
    return out;
  };
  EXPECT_EQ(run(7), run(7));
  EXPECT_NE(run(7), run(8));
}

TEST(Sampler, TopKOneIsGreedy) {
  SamplingParams p;
  p.temperature = 5.0f;
  p.top_k = 1;
  Sampler s(p);
  for (int i = 0; i < 20; ++i) {
    auto l = logits();
    EXPECT_EQ(s.sample(l.data(), static_cast<int64_t>(l.size())), 1);
  }
}

TEST(Sampler, TopKAndMinPLimitTheCandidates) {
  SamplingParams p;
  p.temperature = 10.0f;
  p.top_k = 3;
  p.top_p = 1.0f;
  p.min_p = 0.0f;
  Sampler s(p);
  std::set<int32_t> seen;
  for (int i = 0; i < 300; ++i) {
    auto l = logits();
    seen.insert(s.sample(l.data(), static_cast<int64_t>(l.size())));
  }
  EXPECT_EQ(seen, (std::set<int32_t>{1, 2, 4}));

  p.top_k = 0;
  p.min_p = 0.5f;  // keeps tokens with p >= 0.5 * p_max: logits within ln 2 of the max
  Sampler m(p);
  seen.clear();
  for (int i = 0; i < 300; ++i) {
    auto l = logits();
    seen.insert(m.sample(l.data(), static_cast<int64_t>(l.size())));
  }
  EXPECT_EQ(seen, (std::set<int32_t>{1, 4}));
}

TEST(Sampler, TopPKeepsTheSmallestSetReachingP) {
  SamplingParams p;
  p.temperature = 10.0f;
  p.top_k = 0;
  p.min_p = 0.0f;
  p.top_p = 0.3f;  // token 1 alone has p ~0.36 at temperature 1
  Sampler s(p);
  for (int i = 0; i < 50; ++i) {
    auto l = logits();
    EXPECT_EQ(s.sample(l.data(), static_cast<int64_t>(l.size())), 1);
  }
}

TEST(Sampler, PenaltiesPushRecentTokensDown) {
  SamplingParams p;
  p.temperature = 0.0f;
  p.repeat_penalty = 2.0f;
  Sampler s(p);
  s.accept(1);
  auto l = logits();
  EXPECT_EQ(s.sample(l.data(), static_cast<int64_t>(l.size())), 4);  // 3/2 < 2.9
  EXPECT_FLOAT_EQ(l[1], 1.5f);

  SamplingParams f;
  f.temperature = 0.0f;
  f.frequency_penalty = 1.0f;
  f.presence_penalty = 0.5f;
  Sampler g(f);
  g.accept(1);
  g.accept(1);
  auto l2 = logits();
  g.sample(l2.data(), static_cast<int64_t>(l2.size()));
  EXPECT_FLOAT_EQ(l2[1], 3.0f - 2.0f - 0.5f);
}

TEST(Sampler, ImpossibleParametersAreRejected) {
  SamplingParams p;
  p.top_p = 0.0f;
  EXPECT_THROW(Sampler{p}, InvalidArgument);
  p = SamplingParams{};
  p.top_k = -1;
  EXPECT_THROW(Sampler{p}, InvalidArgument);
  p = SamplingParams{};
  p.min_p = 2.0f;
  EXPECT_THROW(Sampler{p}, InvalidArgument);
  p = SamplingParams{};
  p.repeat_penalty = 0.0f;
  EXPECT_THROW(Sampler{p}, InvalidArgument);
}

}  // namespace
}  // namespace tessera
