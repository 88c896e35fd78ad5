// Quantization biases ("<stem>.qbias", written by dabc): the forward pass adds
// each after its matmul. For q/k/v that is exactly what qwen2's attention
// biases do, which gives an exact reference; for the other matrices the bias
// must change the logits, an all-zero bias must not, and a bias of the wrong
// length is refused at load time.
#include <gtest/gtest.h>

#include <filesystem>
#include <functional>
#include <random>
#include <string>
#include <vector>

#include "core/error.h"
#include "gguf/gguf_file.h"
#include "model/model.h"

namespace tessera {
namespace {

constexpr int kEmbd = 64, kHeads = 4, kKvHeads = 2, kHeadDim = 16, kFf = 128, kVocab = 300, kLayers = 2;

using Extra = std::function<void(GgufWriter&, int layer)>;

// A tiny random model of `arch`; `extra` adds tensors to every layer.
std::string write_model(const std::string& arch, const std::string& file, const Extra& extra) {
  std::mt19937 rng(7);
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
    extra(w, l);
  }
  const std::string path = (std::filesystem::temp_directory_path() / file).string();
  w.write(path);
  return path;
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
