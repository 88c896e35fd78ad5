// A tiny random-weight transformer written as a GGUF by the tests that need
// real forward passes (model, serving). Deterministic: same weights each time.
#pragma once

#include <filesystem>
#include <functional>
#include <random>
#include <string>
#include <vector>

#include <stdexcept>

#include "core/thread_pool.h"
#include "gguf/gguf_file.h"
#include "model/model.h"
#include "gguf/ggml_type.h"
#include "quant/quantize.h"
#include "../kernels/test_weights.h"
#include "../temp_file.h"

namespace tessera::tiny {

constexpr int kEmbd = 64, kHeads = 4, kKvHeads = 2, kHeadDim = 16, kFf = 128, kVocab = 300, kLayers = 2;

// Writes (atomically, to a temp-dir file named by arch and context) a random-weight model of `arch`
// ("llama" or "gemma3") with a 300-token SentencePiece-style vocabulary.
// With matrix_type Q8_0 the weight matrices (not the embeddings or norms) are
// quantized, so forward passes take the integer dot-product kernels. With
// Q4_K the model is 4x wider (K-quant rows are 256 long) and, like a Q4_K_M
// file, holds Q6_K attn_v / ffn_down: random blocks, not quantized floats,
// which exercises the K-quant kernels with their batch-dependent orders.
//
// `extra`, when given, is called at the end of every layer to add tensors of
// its own (e.g. biases); it must not draw from the model's generator, so the
// weights stay the same with or without it. Models with extras are written
// under `file` (a name in the temp dir; required with extras), so they never
// replace the plain model another test may be loading.
using ExtraTensors = std::function<void(GgufWriter&, int layer)>;

inline std::string write_tiny_llama(const std::string& arch, int n_ctx = 128, GgmlType matrix_type = GgmlType::F32,
                                    const ExtraTensors& extra = {}, const std::string& file = {}) {
  if (extra && file.empty()) throw std::invalid_argument("tiny model: extra tensors need their own file name");
  const bool k_quant = matrix_type == GgmlType::Q4_K;
  const int kEmbd = k_quant ? 256 : tiny::kEmbd, kHeadDim = k_quant ? 64 : tiny::kHeadDim;
  const int kFf = k_quant ? 512 : tiny::kFf;
  std::mt19937 rng(5);
  std::normal_distribution<float> normal(0.0f, 1.0f);
  GgufWriter w;
  w.set_string("general.architecture", arch);
  w.set_u32(arch + ".context_length", static_cast<uint32_t>(n_ctx));
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
    const bool matrix = shape.size() == 2 && name != "token_embd.weight";
    if (!matrix || matrix_type == GgmlType::F32) {
      w.add_tensor(name, shape, GgmlType::F32, data.data(), data.size() * sizeof(float));
      return;
    }
    if (k_quant) {
      const bool q6 = name.find("attn_v") != std::string::npos || name.find("ffn_down") != std::string::npos;
      const GgmlType t = q6 ? GgmlType::Q6_K : GgmlType::Q4_K;
      const auto q = testing::random_weights(t, n / shape[0], shape[0], rng);
      w.add_tensor(name, shape, t, q.data(), q.size());
      return;
    }
    if (matrix_type != GgmlType::Q8_0) throw std::invalid_argument("tiny model: F32, Q8_0 or Q4_K matrices only");
    const int64_t rows = n / shape[0];
    const int64_t stride = row_bytes(GgmlType::Q8_0, shape[0]);
    std::vector<uint8_t> q(static_cast<size_t>(rows * stride));
    for (int64_t r = 0; r < rows; ++r) quantize_row_q8_0(data.data() + r * shape[0], q.data() + r * stride, shape[0]);
    w.add_tensor(name, shape, GgmlType::Q8_0, q.data(), q.size());
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
    if (extra) extra(w, l);
  }
  const std::string name = !file.empty() ? file
                                         : "tiny_" + arch + "_" + std::to_string(n_ctx) + "_" +
                                               type_name(matrix_type) + ".gguf";
  const std::string path = unique_temp_path(name);
  w.write(path);
  return path;
}

// Logits of every position of a fixed 8-token prompt, one forward pass from an
// empty cache: the common probe of tests that compare two models or settings.
inline std::vector<float> logits_of_fixed_prompt(Model& m, ThreadPool& pool) {
  const std::vector<int32_t> tokens = {1, 10, 20, 30, 40, 50, 60, 70};
  auto kv = m.make_kv_cache(16);
  if (!kv->reserve(0, static_cast<int64_t>(tokens.size()))) throw std::runtime_error("tiny model: no KV space");
  Batch b;
  for (size_t i = 0; i < tokens.size(); ++i) b.add(tokens[i], static_cast<int32_t>(i), 0, true);
  std::vector<float> logits(tokens.size() * static_cast<size_t>(m.hparams().n_vocab));
  m.forward(b, *kv, logits.data(), pool);
  return logits;
}

}  // namespace tessera::tiny
