#include "eval/log_probs.h"

#include <gtest/gtest.h>

#include <cmath>
#include <vector>

namespace tessera {
namespace {

TEST(LogProbs, LogSoftmaxMatchesTheFormulaAndIsShiftInvariant) {
  const std::vector<float> logits = {0.0f, static_cast<float>(std::log(3.0))};
  std::vector<float> out(2);
  log_softmax(logits.data(), 2, out.data());
  EXPECT_NEAR(out[0], std::log(0.25), 1e-6);
  EXPECT_NEAR(out[1], std::log(0.75), 1e-6);

  std::vector<float> shifted = {1000.0f, 1000.0f + static_cast<float>(std::log(3.0))};
  log_softmax(shifted.data(), 2, shifted.data());  // in place, no overflow
  EXPECT_NEAR(shifted[0], std::log(0.25), 1e-4);
  EXPECT_NEAR(shifted[1], std::log(0.75), 1e-4);
}

TEST(LogProbs, LogSoftmaxOfManyLogitsSumsToOne) {
  std::vector<float> logits(1000);
  for (size_t i = 0; i < logits.size(); ++i) logits[i] = std::sin(static_cast<float>(i)) * 7.0f;
  std::vector<float> out(logits.size());
  log_softmax(logits.data(), static_cast<int64_t>(logits.size()), out.data());
  double sum = 0;
  for (float l : out) sum += std::exp(static_cast<double>(l));
  EXPECT_NEAR(sum, 1.0, 1e-5);
}

TEST(LogProbs, KlOfIdenticalDistributionsIsZero) {
  std::vector<float> logits = {0.3f, -2.0f, 4.0f, 1.5f, 0.0f};
  log_softmax(logits.data(), 5, logits.data());
  EXPECT_EQ(kl_divergence(logits.data(), logits.data(), 5), 0.0);
}

TEST(LogProbs, KlOfKnownSmallCases) {
  // p = (1/2, 1/2), q = (1/4, 3/4): KL = 1/2 ln 2 + 1/2 ln(2/3) = 1/2 ln(4/3).
  const std::vector<float> p = {static_cast<float>(std::log(0.5)), static_cast<float>(std::log(0.5))};
  const std::vector<float> q = {static_cast<float>(std::log(0.25)), static_cast<float>(std::log(0.75))};
  EXPECT_NEAR(kl_divergence(p.data(), q.data(), 2), 0.5 * std::log(4.0 / 3.0), 1e-7);
  // KL is not symmetric: KL(q || p) = 1/4 ln(1/2) + 3/4 ln(3/2).
  EXPECT_NEAR(kl_divergence(q.data(), p.data(), 2), 0.25 * std::log(0.5) + 0.75 * std::log(1.5), 1e-7);
  // A zero-probability term of p contributes nothing, even against q = 0.
  const std::vector<float> certain = {0.0f, -INFINITY};
  const std::vector<float> other = {static_cast<float>(std::log(0.25)), -INFINITY};
  EXPECT_NEAR(kl_divergence(certain.data(), other.data(), 2), std::log(4.0), 1e-7);
}

TEST(LogProbs, ArgmaxTakesTheFirstMaximum) {
  const std::vector<float> v = {1.0f, 5.0f, 2.0f, 5.0f};
  EXPECT_EQ(argmax(v.data(), 4), 1);
}

TEST(NllStats, PerplexityAndItsErrorFollowLlamaPerplexity) {
  NllStats constant;
  for (int i = 0; i < 10; ++i) constant.add(2.0);
  EXPECT_NEAR(constant.perplexity(), std::exp(2.0), 1e-12);
  EXPECT_NEAR(constant.perplexity_error(), 0.0, 1e-12);

  NllStats s;
  for (double x : {1.0, 2.0, 3.0, 4.0}) s.add(x);
  // mean 2.5, population variance 1.25, error = ppl * sqrt(1.25 / 3)
  EXPECT_EQ(s.count(), 4);
  EXPECT_NEAR(s.mean(), 2.5, 1e-12);
  EXPECT_NEAR(s.perplexity(), std::exp(2.5), 1e-9);
  EXPECT_NEAR(s.perplexity_error(), std::exp(2.5) * std::sqrt(1.25 / 3.0), 1e-9);
}

TEST(Percentile, InterpolatesBetweenOrderStatistics) {
  std::vector<double> v = {5, 1, 4, 2, 3};
  EXPECT_DOUBLE_EQ(percentile(v, 0.0), 1.0);
  EXPECT_DOUBLE_EQ(percentile(v, 1.0), 5.0);
  EXPECT_DOUBLE_EQ(percentile(v, 0.5), 3.0);
  EXPECT_DOUBLE_EQ(percentile(v, 0.99), 4.96);
  std::vector<double> one = {7.0};
  EXPECT_DOUBLE_EQ(percentile(one, 0.99), 7.0);
}

}  // namespace
}  // namespace tessera
