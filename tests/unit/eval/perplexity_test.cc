#include "eval/perplexity.h"

#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>
#include <string>

#include "../engine/fake_model.h"
#include "../temp_file.h"
#include "core/error.h"

namespace tessera {
namespace {

using fake::ByteTokenizer;
using fake::FakeModel;

std::string text(size_t n) {
  std::string t;
  for (size_t i = 0; i < n; ++i) t += static_cast<char>('a' + (i * 7) % 26);
  return t;
}

void uniform(const std::vector<TokenId>&, float* logits, int64_t n_vocab) {
  for (int64_t i = 0; i < n_vocab; ++i) logits[i] = 0.25f;
}

// Knows the text: the true next byte gets logit `peak`, every other token 0,
// so p(true) = e^peak / (e^peak + n_vocab - 1).
FakeModel::LogitsFn oracle(std::string t, float peak) {
  return [t = std::move(t), peak](const std::vector<TokenId>& history, float* logits, int64_t n_vocab) {
    // Each byte occurs once in t, so the last byte alone names its successor.
    const TokenId last = history.back();
    const auto byte = static_cast<unsigned char>(last - ByteTokenizer::kFirstByte);
    const size_t at = t.find(static_cast<char>(byte));
    const TokenId next = ByteTokenizer::byte_token(static_cast<unsigned char>(t[(at + 1) % t.size()]));
    FakeModel::one_hot(logits, n_vocab, next, peak);
  };
}

PerplexityOptions options(int64_t n_ctx, int64_t chunks) {
  PerplexityOptions o;
  o.n_ctx = n_ctx;
  o.max_chunks = chunks;
  return o;
}

TEST(Perplexity, AUniformModelHasThePerplexityOfItsVocabulary) {
  FakeModel model(uniform);
  ThreadPool pool(2);
  const PerplexityResult r = compute_perplexity(model, text(100), options(16, -1), pool);
  // 101 tokens with BOS: 6 whole windows of 16, positions 8..14 scored in each.
  EXPECT_EQ(r.n_tokens, 101);
  EXPECT_EQ(r.n_chunks, 6);
  EXPECT_EQ(r.n_scored, 6 * 7);
  EXPECT_NEAR(r.perplexity, 259.0, 1e-3);
  EXPECT_NEAR(r.perplexity_error, 0.0, 1e-6);
  EXPECT_FALSE(r.has_kl);
}

TEST(Perplexity, WindowsStartWithBosFromAnEmptyCacheAndScoreTheSecondHalf) {
  FakeModel model(uniform);
  ThreadPool pool(1);
  PerplexityOptions o = options(16, 2);
  o.batch = 5;  // windows span several forward passes
  const std::string t = text(100);
  compute_perplexity(model, t, o, pool);
  ASSERT_EQ(model.batches.size(), 8u);  // 4 passes (5+5+5+1) per window
  for (int w = 0; w < 2; ++w) {
    std::vector<TokenId> tokens;
    std::vector<int32_t> positions;
    std::vector<uint8_t> wanted;
    for (int b = 0; b < 4; ++b) {
      const Batch& batch = model.batches[static_cast<size_t>(w * 4 + b)];
      tokens.insert(tokens.end(), batch.tokens.begin(), batch.tokens.end());
      positions.insert(positions.end(), batch.positions.begin(), batch.positions.end());
      wanted.insert(wanted.end(), batch.want_logits.begin(), batch.want_logits.end());
    }
    ASSERT_EQ(tokens.size(), 16u);
    EXPECT_EQ(tokens[0], ByteTokenizer::kBos);
    for (int i = 1; i < 16; ++i) {
      // Token stream: BOS then the bytes; window w covers stream[16w, 16w+16).
      EXPECT_EQ(tokens[i], ByteTokenizer::byte_token(static_cast<unsigned char>(t[16 * w + i - 1])));
    }
    for (int i = 0; i < 16; ++i) {
      EXPECT_EQ(positions[i], i);
      EXPECT_EQ(wanted[i], i >= 8 && i <= 14) << i;
    }
  }
}

TEST(Perplexity, APredictableTextHasTheExpectedPerplexity) {
  const std::string t = "abcdefghijklmnopqrstuvwxyz";  // each byte's successor is unique
  std::string long_text;
  for (int i = 0; i < 4; ++i) long_text += t;
  FakeModel model(oracle(t, 5.0f));
  ThreadPool pool(2);
  const PerplexityResult r = compute_perplexity(model, long_text, options(32, 3), pool);
  const double p_true = std::exp(5.0) / (std::exp(5.0) + 258.0);
  EXPECT_NEAR(r.perplexity, 1.0 / p_true, 1e-4);
  EXPECT_NEAR(r.mean_nll, -std::log(p_true), 1e-6);
  // Scoring pass by pass gives the same figures for any batch size.
  PerplexityOptions small = options(32, 3);
  small.batch = 3;
  const PerplexityResult s = compute_perplexity(model, long_text, small, pool);
  EXPECT_EQ(s.n_scored, r.n_scored);
  EXPECT_DOUBLE_EQ(s.perplexity, r.perplexity);
}

TEST(Perplexity, SavedLogitsAgainstTheSameModelGiveZeroKl) {
  const std::string t = "abcdefghijklmnopqrstuvwxyz";
  const std::string path = unique_temp_path("ppl_self.tslp");
  FakeModel model(oracle(t, 5.0f));
  ThreadPool pool(2);
  PerplexityOptions o = options(32, 3);
  o.save_logits_path = path;
  const PerplexityResult saved = compute_perplexity(model, t + t + t + t, o, pool);
  o.save_logits_path.clear();
  o.kl_baseline_path = path;
  const PerplexityResult again = compute_perplexity(model, t + t + t + t, o, pool);
  ASSERT_TRUE(again.has_kl);
  EXPECT_LT(std::abs(again.kl_mean), 1e-6);
  EXPECT_LT(again.kl_p99, 1e-6);
  EXPECT_EQ(again.top1_agreement, 1.0);
  EXPECT_NEAR(again.baseline_perplexity / saved.perplexity, 1.0, 1e-3);
  EXPECT_EQ(again.perplexity, saved.perplexity);
  std::filesystem::remove(path);
}

TEST(Perplexity, KlAgainstAnotherModelIsTheKnownDivergence) {
  const std::string t = "abcdefghijklmnopqrstuvwxyz";
  const std::string path = unique_temp_path("ppl_other.tslp");
  FakeModel sharp(oracle(t, 5.0f));
  FakeModel flat(uniform);
  ThreadPool pool(2);
  PerplexityOptions o = options(32, 2);
  o.save_logits_path = path;
  compute_perplexity(sharp, t + t + t, o, pool);
  o.save_logits_path.clear();
  o.kl_baseline_path = path;
  const PerplexityResult r = compute_perplexity(flat, t + t + t, o, pool);
  // KL(p || uniform) = log n + sum p log p, p = (e^5, 1, ..., 1) / (e^5 + 258).
  const double z = std::exp(5.0) + 258.0;
  const double p1 = std::exp(5.0) / z, p0 = 1.0 / z;
  const double expected = std::log(259.0) + p1 * std::log(p1) + 258.0 * p0 * std::log(p0);
  EXPECT_NEAR(r.kl_mean, expected, 2e-3);
  EXPECT_NEAR(r.kl_p99, expected, 2e-3);
  EXPECT_EQ(r.top1_agreement, 0.0);  // the flat model's argmax is token 0
  EXPECT_NEAR(r.baseline_perplexity, z / std::exp(5.0), 1e-2);
  EXPECT_NEAR(r.perplexity, 259.0, 1e-3);
  std::filesystem::remove(path);
}

TEST(Perplexity, AMismatchedBaselineIsRejected) {
  const std::string path = unique_temp_path("ppl_mismatch.tslp");
  FakeModel model(uniform);
  ThreadPool pool(1);
  PerplexityOptions o = options(16, 2);
  o.save_logits_path = path;
  compute_perplexity(model, text(100), o, pool);
  o.save_logits_path.clear();
  o.kl_baseline_path = path;
  o.n_ctx = 32;
  EXPECT_THROW(compute_perplexity(model, text(100), o, pool), InvalidArgument);
  o.n_ctx = 16;
  o.max_chunks = 3;
  EXPECT_THROW(compute_perplexity(model, text(100), o, pool), InvalidArgument);
  o.max_chunks = 2;
  try {
    compute_perplexity(model, "z" + text(100), o, pool);
    FAIL() << "accepted a baseline of another text";
  } catch (const InvalidArgument& e) {
    EXPECT_NE(std::string(e.what()).find("other tokens"), std::string::npos) << e.what();
  }
  EXPECT_NO_THROW(compute_perplexity(model, text(100), o, pool));
  std::filesystem::remove(path);
}

TEST(Perplexity, BadOptionsAndShortTextsAreRejected) {
  FakeModel model(uniform);
  ThreadPool pool(1);
  EXPECT_THROW(compute_perplexity(model, text(100), options(3, -1), pool), InvalidArgument);
  EXPECT_THROW(compute_perplexity(model, text(100), options(16, 0), pool), InvalidArgument);
  PerplexityOptions o = options(16, -1);
  o.batch = 0;
  EXPECT_THROW(compute_perplexity(model, text(100), o, pool), InvalidArgument);
  EXPECT_THROW(compute_perplexity(model, text(10), options(16, -1), pool), InvalidArgument);
  EXPECT_TRUE(model.batches.empty());
}

}  // namespace
}  // namespace tessera
