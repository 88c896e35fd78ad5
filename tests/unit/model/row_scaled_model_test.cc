// Per-channel files that ask for per-token activation scales
// (ModelQuantOptions::per_token_activations, kActivationScalesKey): the engine
// runs their layer matrices on the row-scaled integer kernels (kernels/packed.h)
// and everything else as before; the key is checked and not inherited.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdio>
#include <filesystem>
#include <string>
#include <vector>

#include "core/error.h"
#include "gguf/gguf_file.h"
#include "kernels/packed.h"
#include "model/model.h"
#include "quant/model_quantizer.h"
#include "tiny_llama.h"

namespace tessera {
namespace {

std::string quantize_per_channel(const std::string& in, const std::string& name, GgmlType type, bool per_token) {
  ModelQuantOptions o;
  o.method = "rtn";
  o.spec = QuantSpec{type, type == GgmlType::Q8_0 ? 8 : 4, 32, true};
  o.per_channel = true;
  o.per_token_activations = per_token;
  const std::string out = unique_temp_path(name);
  quantize_model(in, out, o, {});
  return out;
}

// The scales each multiplied matrix's kernel uses, in call order.
struct KernelScales final : MatmulObserver {
  std::vector<PackedScales> layer, head;
  int64_t n_vocab = 0;
  void observe(const WeightMatrix& w, const float*, int64_t) override {
    const PackedScales s = w.packed_kernel != nullptr ? w.packed_kernel->scales : PackedScales::kBlock;
    (w.rows == n_vocab ? head : layer).push_back(s);
  }
};

KernelScales kernel_scales(Model& m, ThreadPool& pool) {
  KernelScales seen;
  seen.n_vocab = m.hparams().n_vocab;
  m.set_matmul_observer(&seen);
  tiny::logits_of_fixed_prompt(m, pool);
  m.set_matmul_observer(nullptr);
  return seen;
}

double rms_diff(const std::vector<float>& a, const std::vector<float>& b) {
  double d = 0, n = 0;
  for (size_t i = 0; i < a.size(); ++i) {
    d += (a[i] - b[i]) * (a[i] - b[i]);
    n += a[i] * a[i];
  }
  return std::sqrt(d / n);  // relative to the logits' rms
}

TEST(RowScaledModel, LayerMatricesRunRowScaledKernelsOnlyWhenTheFileAsks) {
  if (!repack_enabled()) GTEST_SKIP() << "no packed kernels on this CPU (or TESSERA_REPACK=0)";
  const std::string source = tiny::write_tiny_llama("llama");
  ThreadPool pool(2);
  for (GgmlType type : {GgmlType::Q4_0, GgmlType::Q8_0}) {
    const std::string name = std::string(type_name(type));
    const std::string token_path = quantize_per_channel(source, "row_token_" + name + ".gguf", type, true);
    const std::string block_path = quantize_per_channel(source, "row_block_" + name + ".gguf", type, false);
    EXPECT_EQ(GgufFile(token_path).get_string(kActivationScalesKey), "token");
    EXPECT_FALSE(GgufFile(block_path).get_string_opt(kActivationScalesKey).has_value());
    auto token = Model::load(token_path);
    auto block = Model::load(block_path);
    const KernelScales token_scales = kernel_scales(*token, pool), block_scales = kernel_scales(*block, pool);
    ASSERT_EQ(token_scales.layer.size(), 7u * tiny::kLayers) << name;
    for (PackedScales s : token_scales.layer) EXPECT_EQ(s, PackedScales::kRowToken) << name;
    for (PackedScales s : block_scales.layer) EXPECT_EQ(s, PackedScales::kBlock) << name;
    // The output head (the embeddings, Q8_0 per block) keeps its kernel.
    ASSERT_FALSE(token_scales.head.empty());
    for (PackedScales s : token_scales.head) EXPECT_EQ(s, PackedScales::kBlock) << name;
    // The row-scaled groups hold each row's scale once instead of once per block.
    EXPECT_LT(token->weight_bytes_per_token(), block->weight_bytes_per_token()) << name;
    // Same weights, other activation rounding: close logits, not equal ones.
    const auto a = tiny::logits_of_fixed_prompt(*token, pool), b = tiny::logits_of_fixed_prompt(*block, pool);
    const double diff = rms_diff(a, b);
    std::printf("%s per channel: per-token against per-block activations, relative rms logit difference %.4f\n",
                name.c_str(), diff);
    EXPECT_GT(diff, 0.0) << name;
    EXPECT_LT(diff, 0.1) << name;
  }
}

TEST(RowScaledModel, RequantizingWithoutPerTokenDropsTheKey) {
  const std::string token_path =
      quantize_per_channel(tiny::write_tiny_llama("llama"), "row_token_src.gguf", GgmlType::Q8_0, true);
  ModelQuantOptions o;
  o.method = "rtn";
  o.spec = QuantSpec{GgmlType::Q4_0, 4, 32, true};
  const std::string out = unique_temp_path("row_token_requantized.gguf");
  quantize_model(token_path, out, o, {});
  EXPECT_FALSE(GgufFile(out).get_string_opt(kActivationScalesKey).has_value());
}

TEST(RowScaledModel, PerTokenNeedsPerChannel) {
  ModelQuantOptions o;
  o.method = "rtn";
  o.per_token_activations = true;
  const std::string out = unique_temp_path("per_token_alone.gguf");
  try {
    quantize_model(tiny::write_tiny_llama("llama"), out, o, {});
    FAIL() << "accepted";
  } catch (const InvalidArgument& e) {
    EXPECT_NE(std::string(e.what()).find("per_channel"), std::string::npos) << e.what();
  }
  EXPECT_FALSE(std::filesystem::exists(out));
}

TEST(RowScaledModel, AnUnknownActivationScaleIsAFormatError) {
  const GgufFile src(tiny::write_tiny_llama("llama"));
  GgufWriter w(src.alignment());
  for (const auto& [key, value] : src.metadata()) {
    if (key != "general.alignment") w.set(key, value);
  }
  w.set_string(kActivationScalesKey, "channel");
  for (const GgufTensorInfo& t : src.tensors()) w.add_tensor(t.name, t.shape, t.type, t.data, t.n_bytes);
  const std::string path = unique_temp_path("bad_activation_scales.gguf");
  w.write(path);
  try {
    Model::load(path);
    FAIL() << "loaded";
  } catch (const FormatError& e) {
    EXPECT_NE(std::string(e.what()).find("\"channel\""), std::string::npos) << e.what();
  }
}

}  // namespace
}  // namespace tessera
