// Hadamard-rotated models (ModelQuantOptions::rotation_block, written by
// `tessera quantize --rotate B`): the file stores every layer matrix as W H and
// the engine rotates their inputs, so an unquantized rotated model computes the
// same function; with a loud input channel, 4-bit activation groups lose much
// less after the rotation; and impossible rotations are clear errors.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdio>
#include <map>
#include <vector>

#include "core/error.h"
#include "gguf/gguf_file.h"
#include "model/model.h"
#include "quant/hadamard.h"
#include "quant/model_quantizer.h"
#include "tiny_llama.h"

namespace tessera {
namespace {

double rms_diff(const std::vector<float>& a, const std::vector<float>& b) {
  double d = 0;
  for (size_t i = 0; i < a.size(); ++i) d += (a[i] - b[i]) * (a[i] - b[i]);
  return std::sqrt(d / static_cast<double>(a.size()));
}

double max_abs(const std::vector<float>& a) {
  double m = 0;
  for (float v : a) m = std::max(m, static_cast<double>(std::fabs(v)));
  return m;
}

// A copy of `in` whose norm weights make input channel 3 of every layer
// matrix that reads a norm 40x louder, as Gemma's and Llama's residual
// streams have a few channels far above the rest.
std::string with_loud_channel(const std::string& in) {
  const GgufFile src(in);
  GgufWriter w(src.alignment());
  for (const auto& [key, value] : src.metadata()) {
    if (key != "general.alignment") w.set(key, value);
  }
  for (const GgufTensorInfo& t : src.tensors()) {
    if (t.name.find("attn_norm") != std::string::npos || t.name.find("ffn_norm") != std::string::npos) {
      std::vector<float> g(reinterpret_cast<const float*>(t.data), reinterpret_cast<const float*>(t.data) + t.shape[0]);
      g[3] *= 40.0f;
      w.add_tensor(t.name, t.shape, t.type, g.data(), g.size() * sizeof(float));
    } else {
      w.add_tensor(t.name, t.shape, t.type, t.data, t.n_bytes);
    }
  }
  const std::string out = unique_temp_path("loud.gguf");
  w.write(out);
  return out;
}

std::string rotate(const std::string& in, const std::string& name, int64_t block) {
  ModelQuantOptions o;
  o.method = "none";
  o.spec = QuantSpec{GgmlType::F32, 16, 1, true};
  o.rotation_block = block;
  const std::string out = unique_temp_path(name);
  quantize_model(in, out, o, {});
  return out;
}

TEST(RotationModel, AnUnquantizedRotatedModelComputesTheSameLogits) {
  const std::string plain_path = tiny::write_tiny_llama("llama");
  const std::string rotated_path = rotate(plain_path, "rotated.gguf", 32);
  EXPECT_EQ(GgufFile(rotated_path).get_u64("tessera.rotation.block_size"), 32u);
  ThreadPool pool(2);
  auto plain = Model::load(plain_path);
  auto rotated = Model::load(rotated_path);
  const auto a = tiny::logits_of_fixed_prompt(*plain, pool), b = tiny::logits_of_fixed_prompt(*rotated, pool);
  // Only float rounding differs (the kernels' 8-bit activation blocks see other values).
  EXPECT_LT(rms_diff(a, b), 2e-2 * max_abs(a));
  EXPECT_GT(rms_diff(a, b), 0.0);  // the rotation did happen
}

// The input of the first layer matrix (layer 0's q/k/v), the one point where
// both models see the same values up to the rotation: later layers amplify
// any change chaotically in this random model.
struct FirstInput final : MatmulObserver {
  std::vector<float> x;
  void observe(const WeightMatrix& w, const float* in, int64_t n_tokens) override {
    if (x.empty()) x.assign(in, in + n_tokens * w.cols);
  }
};

std::vector<float> first_input(Model& m, const ActivationQuant& q, ThreadPool& pool) {
  FirstInput seen;
  m.set_activation_quant(q);
  m.set_matmul_observer(&seen);
  tiny::logits_of_fixed_prompt(m, pool);
  m.set_matmul_observer(nullptr);
  return seen.x;
}

TEST(RotationModel, SpreadsALoudChannelSoFourBitActivationsLoseLess) {
  const std::string loud = with_loud_channel(tiny::write_tiny_llama("llama"));
  const int64_t block = 64;
  const std::string rotated_path = rotate(loud, "loud_rotated.gguf", block);
  ThreadPool pool(2);
  auto plain = Model::load(loud);
  auto rotated = Model::load(rotated_path);
  const ActivationQuant a4 = make_activation_quant(4, "32");
  const auto exact = first_input(*plain, ActivationQuant{}, pool);
  const auto exact_rotated = first_input(*rotated, ActivationQuant{}, pool);
  // The engine rotates the input: H x, token by token.
  auto want = exact;
  for (size_t t = 0; t < want.size(); t += tiny::kEmbd) hadamard_rotate(want.data() + t, tiny::kEmbd, block);
  EXPECT_LT(rms_diff(exact_rotated, want), 1e-5 * max_abs(want));
  // H is orthogonal, so errors in the rotated basis are errors of x itself.
  const double unrotated_error = rms_diff(first_input(*plain, a4, pool), exact);
  const double rotated_error = rms_diff(first_input(*rotated, a4, pool), exact_rotated);
  std::printf("A4 g32 error of layer 0's input: unrotated %.4f, rotated %.4f (rms input %.3f)\n", unrotated_error,
              rotated_error, rms_diff(exact, std::vector<float>(exact.size(), 0.0f)));
  EXPECT_LT(rotated_error, 0.5 * unrotated_error);
}

TEST(RotationModel, ImpossibleRotationsAreClearErrors) {
  const std::string plain_path = tiny::write_tiny_llama("llama");
  // The tiny model's layer matrices read 64 or 128 inputs.
  for (int64_t block : {-4, 1, 48, 256}) {
    try {
      rotate(plain_path, "bad_rotation.gguf", block);
      ADD_FAILURE() << "block " << block << " accepted";
    } catch (const InvalidArgument& e) {
      EXPECT_NE(std::string(e.what()).find("--rotate"), std::string::npos) << e.what();
    }
    EXPECT_FALSE(std::filesystem::exists(unique_temp_path("bad_rotation.gguf")));
  }
  const std::string rotated_path = rotate(plain_path, "twice.gguf", 32);
  EXPECT_THROW(rotate(rotated_path, "twice_again.gguf", 32), InvalidArgument);
  // awq folds its scales into what feeds the rotation: refused on a rotated source.
  ModelQuantOptions awq;
  awq.method = "awq";
  awq.spec = QuantSpec{GgmlType::Q8_0, 8, 32, true};
  const std::map<std::string, QuantStats> no_stats;
  awq.stats = &no_stats;
  try {
    quantize_model(rotated_path, unique_temp_path("rotated_awq.gguf"), awq, {});
    ADD_FAILURE() << "awq re-quantized a rotated model";
  } catch (const InvalidArgument& e) {
    EXPECT_NE(std::string(e.what()).find("cannot re-quantize a rotated model"), std::string::npos) << e.what();
  }
}

TEST(RotationModel, AFileWithAnImpossibleBlockIsAFormatError) {
  const GgufFile src(tiny::write_tiny_llama("llama"));
  GgufWriter w(src.alignment());
  for (const auto& [key, value] : src.metadata()) {
    if (key != "general.alignment") w.set(key, value);
  }
  w.set_u32("tessera.rotation.block_size", 48);
  for (const GgufTensorInfo& t : src.tensors()) w.add_tensor(t.name, t.shape, t.type, t.data, t.n_bytes);
  const std::string path = unique_temp_path("bad_block.gguf");
  w.write(path);
  try {
    Model::load(path);
    FAIL() << "loaded";
  } catch (const FormatError& e) {
    EXPECT_NE(std::string(e.what()).find("tessera.rotation.block_size 48"), std::string::npos) << e.what();
  }
}

}  // namespace
}  // namespace tessera
