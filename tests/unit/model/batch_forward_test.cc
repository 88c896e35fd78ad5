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

// The last layer's FFN runs only for the rows that want logits (as in
// llama.cpp's graph): the rows asked for keep their logits, and a batch that
// wants none still fills the cache the next step reads.
TEST_P(BatchForward, RowsWithoutLogitsChangeNeitherTheOthersNorTheCache) {
  auto model = Model::load(write_tiny_llama(GetParam()));
  ThreadPool pool(2);
  const std::vector<int32_t> a = {1, 10, 20, 30, 40, 50, 60, 70};
  const std::vector<int32_t> b = {1, 200, 210, 220, 230};
  const auto alone_a = run_alone(*model, a, pool);
  const auto alone_b = run_alone(*model, b, pool);

  auto kv = model->make_kv_cache(64);
  ASSERT_TRUE(kv->reserve(0, static_cast<int64_t>(a.size())));
  ASSERT_TRUE(kv->reserve(1, static_cast<int64_t>(b.size())));
  // Step 1: no row wants logits (a prompt chunk in the middle of a prompt).
  Batch batch;
  for (int i = 0; i < 3; ++i) batch.add(a[i], i, 0, false);
  for (int i = 0; i < 2; ++i) batch.add(b[i], i, 1, false);
  std::vector<float> logits(8 * kVocab, -1.0f);
  model->forward(batch, *kv, logits.data(), pool);
  // Step 2: rows 1 and 4 of 7 want logits; they come back in batch order.
  batch.clear();
  for (int i = 3; i < 7; ++i) batch.add(a[i], i, 0, i == 4);
  for (int i = 2; i < 5; ++i) batch.add(b[i], i, 1, i == 4);
  model->forward(batch, *kv, logits.data(), pool);
  for (int j = 0; j < kVocab; ++j) {
    ASSERT_NEAR(logits[j], alone_a[4 * kVocab + j], 1e-4) << "a, position 4, logit " << j;
    ASSERT_NEAR(logits[kVocab + j], alone_b[4 * kVocab + j], 1e-4) << "b, position 4, logit " << j;
  }
  // Step 3: the cache written by both steps (every row's K / V, in every
  // layer) serves a's last token.
  batch.clear();
  batch.add(a[7], 7, 0, true);
  model->forward(batch, *kv, logits.data(), pool);
  for (int j = 0; j < kVocab; ++j) ASSERT_NEAR(logits[j], alone_a[7 * kVocab + j], 1e-4) << "a, position 7, logit " << j;
}

// A matmul observer (calibration statistics) sees every row's input to every
// layer matrix, the last layer's FFN included, whether or not the row wants
// logits.
TEST_P(BatchForward, AMatmulObserverSeesEveryRowOfTheLastLayer) {
  struct RowCounter : MatmulObserver {
    std::vector<int64_t> rows;
    void observe(const WeightMatrix&, const float*, int64_t n_tokens) override { rows.push_back(n_tokens); }
  };
  auto model = Model::load(write_tiny_llama(GetParam()));
  ThreadPool pool(1);
  auto kv = model->make_kv_cache(16);
  ASSERT_TRUE(kv->reserve(0, 5));
  RowCounter counter;
  model->set_matmul_observer(&counter);
  Batch batch;
  for (int i = 0; i < 5; ++i) batch.add(10 + i, i, 0, i == 4);
  std::vector<float> logits(kVocab);
  model->forward(batch, *kv, logits.data(), pool);
  model->set_matmul_observer(nullptr);
  // Every layer matrix saw the 5 rows; the output head, last, the one row.
  ASSERT_GT(counter.rows.size(), 1u);
  for (size_t i = 0; i + 1 < counter.rows.size(); ++i) EXPECT_EQ(counter.rows[i], 5) << "matmul " << i;
  EXPECT_EQ(counter.rows.back(), 1);
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
