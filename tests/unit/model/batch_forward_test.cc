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

namespace tessera {
namespace {

constexpr int kEmbd = 64, kHeads = 4, kKvHeads = 2, kHeadDim = 16, kFf = 128, kVocab = 300, kLayers = 2;

std::string write_tiny_llama(const std::string& arch) {
  std::mt19937 rng(5);
  std::normal_distribution<float> normal(0.0f, 1.0f);
  GgufWriter w;
  w.set_string("general.architecture", arch);
  w.set_u32(arch + ".context_length", 128);
  w.set_u32(arch + ".embedding_length", kEmbd);
  w.set_u32(arch + ".block_count", kLayers);
  w.set_u32(arch + ".feed_forward_length", kFf);
  w.set_u32(arch + ".attention.head_count", kHeads);
  w.set_u32(arch + ".attention.head_count_kv", kKvHeads);
  w.set_u32(arch + ".attention.key_length", kHeadDim);
  w.set_u32(arch + ".attention.value_length", kHeadDim);
  w.set_f32(arch + ".attention.layer_norm_rms_epsilon", 1e-5f);
  if (arch == "gemma3") w.set_u32("gemma3.attention.sliding_window", 8);
  std::vector<std::string> tokens = {"<unk>", "<s>", "</s>"};
  std::vector<int32_t> types = {3, 3, 3};
  while (tokens.size() < kVocab) {
    tokens.push_back("\xE2\x96\x81t" + std::to_string(tokens.size()));
    types.push_back(1);
  }
  w.set_string("tokenizer.ggml.model", "llama");
  w.set_string_array("tokenizer.ggml.tokens", tokens);
  w.set_i32_array("tokenizer.ggml.token_type", types);
  w.set_u32("tokenizer.ggml.bos_token_id", 1);
  w.set_u32("tokenizer.ggml.eos_token_id", 2);
  auto add = [&](const std::string& name, std::vector<int64_t> shape, float scale, float offset = 0.0f) {
    int64_t n = 1;
    for (int64_t d : shape) n *= d;
    std::vector<float> data(static_cast<size_t>(n));
    for (auto& v : data) v = offset + scale * normal(rng);
    w.add_tensor(name, shape, GgmlType::F32, data.data(), data.size() * sizeof(float));
  };
  add("token_embd.weight", {kEmbd, kVocab}, 1.0f);
  add("output_norm.weight", {kEmbd}, 0.1f, 1.0f);
  for (int l = 0; l < kLayers; ++l) {
    const std::string p = "blk." + std::to_string(l) + ".";
    add(p + "attn_norm.weight", {kEmbd}, 0.1f, 1.0f);
    add(p + "attn_q.weight", {kEmbd, kHeads * kHeadDim}, 0.2f);
    add(p + "attn_k.weight", {kEmbd, kKvHeads * kHeadDim}, 0.2f);
    add(p + "attn_v.weight", {kEmbd, kKvHeads * kHeadDim}, 0.2f);
    add(p + "attn_output.weight", {kHeads * kHeadDim, kEmbd}, 0.2f);
    add(p + "ffn_norm.weight", {kEmbd}, 0.1f, 1.0f);
    add(p + "ffn_gate.weight", {kEmbd, kFf}, 0.2f);
    add(p + "ffn_up.weight", {kEmbd, kFf}, 0.2f);
    add(p + "ffn_down.weight", {kFf, kEmbd}, 0.2f);
    if (arch == "gemma3") {
      add(p + "attn_q_norm.weight", {kHeadDim}, 0.1f, 1.0f);
      add(p + "attn_k_norm.weight", {kHeadDim}, 0.1f, 1.0f);
      add(p + "post_attention_norm.weight", {kEmbd}, 0.1f, 1.0f);
      add(p + "post_ffw_norm.weight", {kEmbd}, 0.1f, 1.0f);
    }
  }
  const std::string path =
      (std::filesystem::temp_directory_path() / ("tessera_tiny_" + arch + ".gguf")).string();
  w.write(path);
  return path;
}

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
