#include "sampling/candidates.h"

#include <gtest/gtest.h>

#include <cmath>
#include <vector>

namespace tessera {
namespace {

// ids:            0     1     2     3     4      5
const std::vector<float> kLogits = {1.0f, 3.0f, 2.0f, 0.5f, 2.9f, -1.0f};

Candidates make() {
  Candidates c;
  c.fill(kLogits.data(), static_cast<int64_t>(kLogits.size()));
  return c;
}

std::vector<int32_t> alive_ids(const Candidates& c) {
  std::vector<int32_t> ids;
  for (size_t i = 0; i < c.size; ++i) ids.push_back(c.items[i].id);
  return ids;
}

TEST(Candidates, TopKKeepsTheKHighestInOrder) {
  Candidates c = make();
  keep_top_k(c, 3);
  EXPECT_EQ(alive_ids(c), (std::vector<int32_t>{1, 4, 2}));
  Candidates all = make();
  keep_top_k(all, 0);  // off, but sorted
  EXPECT_EQ(alive_ids(all), (std::vector<int32_t>{1, 4, 2, 0, 3, 5}));
  Candidates more = make();
  keep_top_k(more, 100);
  EXPECT_EQ(more.size, 6u);
}

TEST(Candidates, TiesAreOrderedById) {
  const std::vector<float> tied = {1.0f, 2.0f, 2.0f, 2.0f};
  Candidates c;
  c.fill(tied.data(), 4);
  keep_top_k(c, 2);
  EXPECT_EQ(alive_ids(c), (std::vector<int32_t>{1, 2}));
}

TEST(Candidates, SoftmaxSumsToOneAndMatchesTheFormula) {
  Candidates c = make();
  softmax(c);
  EXPECT_FALSE(c.sorted);  // no sort needed
  double sum = 0, denom = 0;
  for (float l : kLogits) denom += std::exp(static_cast<double>(l));
  for (size_t i = 0; i < c.size; ++i) {
    sum += c.probs[i];
    EXPECT_NEAR(c.probs[i], std::exp(static_cast<double>(kLogits[c.items[i].id])) / denom, 1e-12);
  }
  EXPECT_NEAR(sum, 1.0, 1e-12);
}

TEST(Candidates, TopPKeepsTheSmallestPrefixReachingP) {
  // Probabilities at temperature 1: token 1 ~0.399, token 4 ~0.361, token 2 ~0.147.
  Candidates c = make();
  keep_top_p(c, 0.3f);
  EXPECT_EQ(alive_ids(c), (std::vector<int32_t>{1}));
  c = make();
  keep_top_p(c, 0.5f);
  EXPECT_EQ(alive_ids(c), (std::vector<int32_t>{1, 4}));
  c = make();
  keep_top_p(c, 0.8f);
  EXPECT_EQ(alive_ids(c), (std::vector<int32_t>{1, 4, 2}));
  c = make();
  keep_top_p(c, 1.0f);
  EXPECT_EQ(c.size, 6u);
}

TEST(Candidates, TopPBeyondTheFirstSortedBlockFallsBackToAFullSort) {
  // 3000 equal-ish logits: p = 0.9 needs ~2700 tokens, past the 1024 sorted first.
  std::vector<float> flat(3000);
  for (size_t i = 0; i < flat.size(); ++i) flat[i] = 1.0f + 1e-4f * static_cast<float>(i % 7);
  Candidates c;
  c.fill(flat.data(), static_cast<int64_t>(flat.size()));
  keep_top_p(c, 0.9f);
  EXPECT_TRUE(c.sorted);
  EXPECT_GT(c.size, 2600u);
  EXPECT_LT(c.size, 2800u);
  for (size_t i = 1; i < c.size; ++i) EXPECT_GE(c.items[i - 1].logit, c.items[i].logit);
  // Every survivor is at least as likely as every token cut.
  float lowest_kept = c.items[c.size - 1].logit;
  for (size_t i = c.size; i < flat.size(); ++i) EXPECT_LE(c.items[i].logit, lowest_kept);
}

TEST(Candidates, MinPKeepsTokensWithinAFactorOfTheBest) {
  Candidates c = make();
  keep_min_p(c, 0.5f);  // within ln 2 = 0.69 of the max logit 3.0
  EXPECT_EQ(alive_ids(c), (std::vector<int32_t>{1, 4}));
  c = make();
  keep_min_p(c, 0.2f);  // within ln 5 = 1.61; an unsorted list keeps id order
  EXPECT_EQ(alive_ids(c), (std::vector<int32_t>{1, 2, 4}));
  EXPECT_FALSE(c.sorted);
  c = make();
  keep_top_k(c, 0);  // sorted first: survivors stay in logit order
  keep_min_p(c, 0.2f);
  EXPECT_EQ(alive_ids(c), (std::vector<int32_t>{1, 4, 2}));
  c = make();
  keep_min_p(c, 1.0f);  // only the best survives
  EXPECT_EQ(alive_ids(c), (std::vector<int32_t>{1}));
  c = make();
  keep_min_p(c, 0.0f);
  EXPECT_EQ(c.size, 6u);
}

TEST(Candidates, TemperatureScalesTheLogits) {
  Candidates c = make();
  apply_temperature(c, 0.5f);
  for (size_t i = 0; i < c.size; ++i) EXPECT_FLOAT_EQ(c.items[i].logit, kLogits[c.items[i].id] * 2.0f);
  // A lower temperature sharpens the distribution.
  Candidates cold = make(), hot = make();
  apply_temperature(cold, 0.5f);
  apply_temperature(hot, 2.0f);
  softmax(cold);
  softmax(hot);
  EXPECT_GT(cold.probs[1], hot.probs[1]);  // unsorted: index 1 is token 1, the most likely
}

TEST(Candidates, DrawFollowsTheProbabilities) {
  std::mt19937 rng(42);
  const std::vector<float> two = {0.0f, static_cast<float>(std::log(3.0))};  // p = 0.25, 0.75
  int ones = 0;
  const int n = 20000;
  Candidates c;
  for (int i = 0; i < n; ++i) {
    c.fill(two.data(), 2);
    ones += draw(c, rng) == 1;
  }
  // Fixed seed: deterministic; 0.75 within ~7 standard deviations (0.003).
  EXPECT_NEAR(static_cast<double>(ones) / n, 0.75, 0.02);
}

TEST(Candidates, DrawOnlyPicksAliveCandidates) {
  std::mt19937 rng(1);
  for (int i = 0; i < 200; ++i) {
    Candidates c = make();
    keep_top_k(c, 2);
    apply_temperature(c, 100.0f);
    const int32_t id = draw(c, rng);
    EXPECT_TRUE(id == 1 || id == 4) << id;
  }
}

}  // namespace
}  // namespace tessera
