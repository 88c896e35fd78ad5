// The forward pass over a batch that mixes sequences must give each sequence
// the logits it gets alone (the serving scheduler relies on this).
#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>
#include <random>
#include <string>
#include <vector>

#include "core/error.h"
#include "gguf/gguf_file.h"
#include "model/model.h"
#include "tiny_llama.h"

namespace tessera {
namespace {

using tiny::kVocab;
using tiny::write_tiny_llama;

std::vector<float> run_alone(Model& m, const std::vector<int32_t>& tokens, ThreadPool& pool) {
  auto kv = m.make_kv_cache(64);
  EXPECT_TRUE(kv->reserve(0, static_cast<int64_t>(tokens.size())));
  Batch b;
  for (size_t i = 0; i < tokens.size(); ++i) b.add(tokens[i], static_cast<int32_t>(i), 0, true);
  std::vector<float> logits(tokens.size() * kVocab);
  m.forward(b, *kv, logits.data(), pool);
  return logits;
}

class BatchForward : public ::testing::TestWithParam<std::string> {};

TEST_P(BatchForward, InterleavedSequencesMatchSeparateRuns) {
  auto model = Model::load(write_tiny_llama(GetParam()));
  ThreadPool pool(2);
  const std::vector<int32_t> a = {1, 10, 20, 30, 40, 50, 60, 70, 80, 90, 100, 110};
  const std::vector<int32_t> b = {1, 200, 210, 220, 230, 240, 250};
  const auto alone_a = run_alone(*model, a, pool);
  const auto alone_b = run_alone(*model, b, pool);

  // Prefill both prompts' first halves in one batch, then decode the rest of
  // both one token per step, sequences interleaved (as continuous batching does).
  auto kv = model->make_kv_cache(64);
  ASSERT_TRUE(kv->reserve(3, static_cast<int64_t>(a.size())));
  ASSERT_TRUE(kv->reserve(7, static_cast<int64_t>(b.size())));
  std::vector<float> got_a(alone_a.size()), got_b(alone_b.size());
  Batch batch;
  for (int i = 0; i < 6; ++i) batch.add(a[i], i, 3, true);
  for (int i = 0; i < 3; ++i) batch.add(b[i], i, 7, true);
  std::vector<float> logits(9 * kVocab);
  model->forward(batch, *kv, logits.data(), pool);
  std::copy(logits.begin(), logits.begin() + 6 * kVocab, got_a.begin());
  std::copy(logits.begin() + 6 * kVocab, logits.end(), got_b.begin());
  size_t ia = 6, ib = 3;
  while (ia < a.size() || ib < b.size()) {
    batch.clear();
    if (ib < b.size()) batch.add(b[ib], static_cast<int32_t>(ib), 7, true);
    if (ia < a.size()) batch.add(a[ia], static_cast<int32_t>(ia), 3, true);
    model->forward(batch, *kv, logits.data(), pool);
    size_t row = 0;
    if (ib < b.size()) std::copy_n(logits.begin() + kVocab * row++, kVocab, got_b.begin() + kVocab * ib++);
    if (ia < a.size()) std::copy_n(logits.begin() + kVocab * row++, kVocab, got_a.begin() + kVocab * ia++);
  }
  for (size_t i = 0; i < alone_a.size(); ++i) ASSERT_NEAR(got_a[i], alone_a[i], 1e-4) << "a " << i;
  for (size_t i = 0; i < alone_b.size(); ++i) ASSERT_NEAR(got_b[i], alone_b[i], 1e-4) << "b " << i;
}

TEST_P(BatchForward, RejectsTokensOutsideTheVocabularyAndPositionsWithoutCache) {
  auto model = Model::load(write_tiny_llama(GetParam()));
  ThreadPool pool(1);
  auto kv = model->make_kv_cache(8);
  ASSERT_TRUE(kv->reserve(0, 4));
  std::vector<float> logits(kVocab);
  Batch bad_token;
  bad_token.add(kVocab + 5, 0, 0, true);
  EXPECT_THROW(model->forward(bad_token, *kv, logits.data(), pool), InvalidArgument);
  Batch bad_pos;
  bad_pos.add(5, 40, 0, true);
  EXPECT_THROW(model->forward(bad_pos, *kv, logits.data(), pool), InvalidArgument);
}

INSTANTIATE_TEST_SUITE_P(Architectures, BatchForward, ::testing::Values("llama", "gemma3"));

}  // namespace
}  // namespace tessera
