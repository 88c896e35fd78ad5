#include "sampling/logprobs.h"

#include <gtest/gtest.h>

#include <cmath>
#include <vector>

#include "core/error.h"

namespace tessera {
namespace {

TEST(TokenLogprob, IsALogSoftmaxWithTheBestAlternativesFirst) {
  const std::vector<float> logits = {1.0f, 3.0f, -2.0f, 3.0f, 0.5f};
  double z = 0;
  for (float l : logits) z += std::exp(static_cast<double>(l));
  const TokenLogprob lp = token_logprob(logits.data(), 5, 4, 3);
  EXPECT_EQ(lp.token, 4);
  EXPECT_NEAR(lp.logprob, 0.5 - std::log(z), 1e-6);
  ASSERT_EQ(lp.top.size(), 3u);
  EXPECT_EQ(lp.top[0].first, 1);  // tie with 3: lower id first
  EXPECT_EQ(lp.top[1].first, 3);
  EXPECT_EQ(lp.top[2].first, 0);
  EXPECT_NEAR(lp.top[2].second, 1.0 - std::log(z), 1e-6);
  double total = 0;
  for (size_t i = 0; i < logits.size(); ++i) total += std::exp(token_logprob(logits.data(), 5, int32_t(i), 0).logprob);
  EXPECT_NEAR(total, 1.0, 1e-6);
}

TEST(TokenLogprob, HugeLogitsStayFiniteAndBadArgumentsAreRejected) {
  const std::vector<float> logits = {1000.0f, 990.0f, -1000.0f};
  const TokenLogprob lp = token_logprob(logits.data(), 3, 2, 20);  // more alternatives than tokens
  EXPECT_TRUE(std::isfinite(lp.logprob));
  EXPECT_NEAR(lp.logprob, -2000.0f, 1e-2);
  EXPECT_EQ(lp.top.size(), 3u);
  EXPECT_NEAR(token_logprob(logits.data(), 3, 0, 0).logprob, 0.0f, 1e-4);
  EXPECT_THROW(token_logprob(logits.data(), 3, 0, 21), InvalidArgument);
  EXPECT_THROW(token_logprob(logits.data(), 3, 5, 1), InvalidArgument);
}

}  // namespace
}  // namespace tessera
