// Quantization biases ("<stem>.qbias", written by dabc): the forward pass adds
// each after its matmul. For q/k/v that is exactly what qwen2's attention
// biases do, which gives an exact reference; for the other matrices the bias
// must change the logits, an all-zero bias must not, and a bias of the wrong
// length is refused at load time.
#include <gtest/gtest.h>

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

std::vector<float> logits_of(const std::string& path) {
  auto m = Model::load(path);
  ThreadPool pool(2);
  const std::vector<int32_t> tokens = {1, 10, 20, 30, 40, 50, 60, 70};
  auto kv = m->make_kv_cache(16);
  EXPECT_TRUE(kv->reserve(0, static_cast<int64_t>(tokens.size())));
  Batch b;
  for (size_t i = 0; i < tokens.size(); ++i) b.add(tokens[i], static_cast<int32_t>(i), 0, true);
  std::vector<float> logits(tokens.size() * kVocab);
  m->forward(b, *kv, logits.data(), pool);
  std::filesystem::remove(path);
  return logits;
}

std::string blk(int l, const char* suffix) { return "blk." + std::to_string(l) + "." + suffix; }

TEST(QuantBias, QkvBiasesAreQwen2AttentionBiases) {
  // Same seeds: the qbias of one file is the attention bias of the other (whose
  // own attention biases are zero, so the sums are exact).
  const auto as_qbias = logits_of(write_model("qwen2", "tessera_qb_a.gguf", [](GgufWriter& w, int l) {
    add_vector(w, blk(l, "attn_q.bias"), kHeads * kHeadDim, 0.0f, 1);
    add_vector(w, blk(l, "attn_k.bias"), kKvHeads * kHeadDim, 0.0f, 1);
    add_vector(w, blk(l, "attn_v.bias"), kKvHeads * kHeadDim, 0.0f, 1);
    add_vector(w, blk(l, "attn_q.qbias"), kHeads * kHeadDim, 0.5f, 100 + l);
    add_vector(w, blk(l, "attn_k.qbias"), kKvHeads * kHeadDim, 0.5f, 200 + l);
    add_vector(w, blk(l, "attn_v.qbias"), kKvHeads * kHeadDim, 0.5f, 300 + l);
  }));
  const auto as_bias = logits_of(write_model("qwen2", "tessera_qb_b.gguf", [](GgufWriter& w, int l) {
    add_vector(w, blk(l, "attn_q.bias"), kHeads * kHeadDim, 0.5f, 100 + l);
    add_vector(w, blk(l, "attn_k.bias"), kKvHeads * kHeadDim, 0.5f, 200 + l);
    add_vector(w, blk(l, "attn_v.bias"), kKvHeads * kHeadDim, 0.5f, 300 + l);
  }));
  const auto plain = logits_of(write_model("qwen2", "tessera_qb_c.gguf", [](GgufWriter& w, int l) {
    add_vector(w, blk(l, "attn_q.bias"), kHeads * kHeadDim, 0.0f, 1);
    add_vector(w, blk(l, "attn_k.bias"), kKvHeads * kHeadDim, 0.0f, 1);
    add_vector(w, blk(l, "attn_v.bias"), kKvHeads * kHeadDim, 0.0f, 1);
  }));
  EXPECT_EQ(as_qbias, as_bias);
  EXPECT_NE(as_qbias, plain);
}

TEST(QuantBias, EveryOtherMatrixsBiasIsUsedAndZeroChangesNothing) {
  const auto plain = logits_of(write_model("llama", "tessera_qb_d.gguf", [](GgufWriter&, int) {}));
  const struct {
    const char* suffix;
    int64_t n;
  } cases[] = {{"attn_output.qbias", kEmbd}, {"ffn_gate.qbias", kFf}, {"ffn_up.qbias", kFf}, {"ffn_down.qbias", kEmbd}};
  for (const auto& c : cases) {
    const auto zero = logits_of(write_model("llama", "tessera_qb_e.gguf", [&](GgufWriter& w, int l) {
      add_vector(w, blk(l, c.suffix), c.n, 0.0f, 1);
    }));
    EXPECT_EQ(zero, plain) << c.suffix;
    const auto biased = logits_of(write_model("llama", "tessera_qb_f.gguf", [&](GgufWriter& w, int l) {
      add_vector(w, blk(l, c.suffix), c.n, 0.5f, 7 + l);
    }));
    EXPECT_NE(biased, plain) << c.suffix;
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
