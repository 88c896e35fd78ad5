// Quantization biases ("<stem>.qbias", written by dabc): the forward pass adds
// each after its matmul at every position but a sequence's first. For q/k/v
// that is exactly what qwen2's attention biases do from the second position on,
// which gives an exact reference; for the other matrices the bias must change
// the logits after the first position and not at it, an all-zero bias must not
// change them, and a bias of the wrong length is refused at load time.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "core/error.h"
#include "gguf/gguf_file.h"
#include "model/model.h"
#include "tiny_llama.h"

namespace tessera {
namespace {

using tiny::kFf, tiny::kEmbd, tiny::kHeadDim, tiny::kHeads, tiny::kKvHeads, tiny::kVocab;

// The tests' tiny model of `arch` (tiny_llama.h; same weights every time) under
// `file`, with `extra`'s tensors added to every layer.
std::string write_model(const std::string& arch, const std::string& file, const tiny::ExtraTensors& extra) {
  return tiny::write_tiny_llama(arch, 128, GgmlType::F32, extra, file);
}

void add_vector(GgufWriter& w, const std::string& name, int64_t n, float value_scale, uint32_t seed) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> normal(0.0f, value_scale);
  std::vector<float> v(static_cast<size_t>(n));
  for (auto& x : v) x = value_scale == 0.0f ? 0.0f : normal(rng);
  w.add_tensor(name, {n}, GgmlType::F32, v.data(), v.size() * sizeof(float));
}

const std::vector<int32_t> kTokens = {1, 10, 20, 30, 40, 50, 60, 70};

std::unique_ptr<Model> load_and_remove(const std::string& path) {
  auto m = Model::load(path);
  std::filesystem::remove(path);
  return m;
}

// Logits of kTokens through one KV cache in two forwards: position 0 by
// `first`, positions 1.. by `rest` (models of the same shape, so the cache
// `first` fills is the one `rest` attends to).
std::vector<float> two_step_logits(Model& first, Model& rest) {
  ThreadPool pool(2);
  auto kv = first.make_kv_cache(16);
  EXPECT_TRUE(kv->reserve(0, static_cast<int64_t>(kTokens.size())));
  std::vector<float> logits(kTokens.size() * kVocab);
  Batch head;
  head.add(kTokens[0], 0, 0, true);
  first.forward(head, *kv, logits.data(), pool);
  Batch tail;
  for (size_t i = 1; i < kTokens.size(); ++i) tail.add(kTokens[i], static_cast<int32_t>(i), 0, true);
  rest.forward(tail, *kv, logits.data() + kVocab, pool);
  return logits;
}

// Logits of kTokens in one forward.
std::vector<float> one_step_logits(Model& m) {
  ThreadPool pool(2);
  auto kv = m.make_kv_cache(16);
  EXPECT_TRUE(kv->reserve(0, static_cast<int64_t>(kTokens.size())));
  Batch b;
  for (size_t i = 0; i < kTokens.size(); ++i) b.add(kTokens[i], static_cast<int32_t>(i), 0, true);
  std::vector<float> logits(kTokens.size() * kVocab);
  m.forward(b, *kv, logits.data(), pool);
  return logits;
}

std::vector<float> first_row(const std::vector<float>& logits) {
  return {logits.begin(), logits.begin() + kVocab};
}

float max_abs_diff(const std::vector<float>& a, const std::vector<float>& b) {
  float m = 0.0f;
  for (size_t i = 0; i < a.size(); ++i) m = std::max(m, std::fabs(a[i] - b[i]));
  return m;
}

std::string blk(int l, const char* suffix) { return "blk." + std::to_string(l) + "." + suffix; }

TEST(QuantBias, QkvBiasesAreQwen2AttentionBiasesFromTheSecondPosition) {
  // Same seeds: the qbias of one file is the attention bias of the other (whose
  // own attention biases are zero, so the sums are exact). The qbias skips a
  // sequence's first position, so the reference runs position 0 through the
  // unbiased model and the rest through the biased one, over one KV cache.
  auto as_qbias = load_and_remove(write_model("qwen2", "tessera_qb_a.gguf", [](GgufWriter& w, int l) {
    add_vector(w, blk(l, "attn_q.bias"), kHeads * kHeadDim, 0.0f, 1);
    add_vector(w, blk(l, "attn_k.bias"), kKvHeads * kHeadDim, 0.0f, 1);
    add_vector(w, blk(l, "attn_v.bias"), kKvHeads * kHeadDim, 0.0f, 1);
    add_vector(w, blk(l, "attn_q.qbias"), kHeads * kHeadDim, 0.5f, 100 + l);
    add_vector(w, blk(l, "attn_k.qbias"), kKvHeads * kHeadDim, 0.5f, 200 + l);
    add_vector(w, blk(l, "attn_v.qbias"), kKvHeads * kHeadDim, 0.5f, 300 + l);
  }));
  auto as_bias = load_and_remove(write_model("qwen2", "tessera_qb_b.gguf", [](GgufWriter& w, int l) {
    add_vector(w, blk(l, "attn_q.bias"), kHeads * kHeadDim, 0.5f, 100 + l);
    add_vector(w, blk(l, "attn_k.bias"), kKvHeads * kHeadDim, 0.5f, 200 + l);
    add_vector(w, blk(l, "attn_v.bias"), kKvHeads * kHeadDim, 0.5f, 300 + l);
  }));
  auto plain = load_and_remove(write_model("qwen2", "tessera_qb_c.gguf", [](GgufWriter& w, int l) {
    add_vector(w, blk(l, "attn_q.bias"), kHeads * kHeadDim, 0.0f, 1);
    add_vector(w, blk(l, "attn_k.bias"), kKvHeads * kHeadDim, 0.0f, 1);
    add_vector(w, blk(l, "attn_v.bias"), kKvHeads * kHeadDim, 0.0f, 1);
  }));
  const auto qbiased = two_step_logits(*as_qbias, *as_qbias);
  EXPECT_EQ(qbiased, two_step_logits(*plain, *as_bias));
  EXPECT_NE(qbiased, two_step_logits(*plain, *plain));
  // Biased everywhere (position 0 too) is a different model: the rule is real.
  EXPECT_NE(qbiased, two_step_logits(*as_bias, *as_bias));
  // One forward over all positions applies the same per-position rule.
  EXPECT_LT(max_abs_diff(one_step_logits(*as_qbias), qbiased), 1e-4f);
}

TEST(QuantBias, EveryOtherMatrixsBiasIsUsedAfterTheFirstPositionAndZeroChangesNothing) {
  auto plain_model = load_and_remove(write_model("llama", "tessera_qb_d.gguf", [](GgufWriter&, int) {}));
  const auto plain = one_step_logits(*plain_model);
  const struct {
    const char* suffix;
    int64_t n;
  } cases[] = {{"attn_output.qbias", kEmbd}, {"ffn_gate.qbias", kFf}, {"ffn_up.qbias", kFf}, {"ffn_down.qbias", kEmbd}};
  for (const auto& c : cases) {
    auto zero = load_and_remove(write_model("llama", "tessera_qb_e.gguf", [&](GgufWriter& w, int l) {
      add_vector(w, blk(l, c.suffix), c.n, 0.0f, 1);
    }));
    EXPECT_EQ(one_step_logits(*zero), plain) << c.suffix;
    auto biased_model = load_and_remove(write_model("llama", "tessera_qb_f.gguf", [&](GgufWriter& w, int l) {
      add_vector(w, blk(l, c.suffix), c.n, 0.5f, 7 + l);
    }));
    const auto biased = one_step_logits(*biased_model);
    EXPECT_NE(biased, plain) << c.suffix;
    EXPECT_EQ(first_row(biased), first_row(plain)) << c.suffix << ": the first position takes no bias";
  }
}

TEST(QuantBias, WrongLengthIsAFormatErrorNamingTheTensor) {
  const std::string path = write_model("llama", "tessera_qb_g.gguf", [](GgufWriter& w, int l) {
    add_vector(w, blk(l, "ffn_down.qbias"), kFf, 0.5f, 1);  // down's output has kEmbd rows
  });
  try {
    Model::load(path);
    ADD_FAILURE() << "loaded a bias of the wrong length";
  } catch (const FormatError& e) {
    EXPECT_NE(std::string(e.what()).find("blk.0.ffn_down.qbias"), std::string::npos) << e.what();
  }
  std::filesystem::remove(path);
}

}  // namespace
}  // namespace tessera
