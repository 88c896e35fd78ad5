// collect_calibration on the tests' tiny model: the second moment E[x x^T]
// (and its diagonal, the importance) is over every position of every window;
// the mean E[x] (dabc's bias) skips each window's first position, the
// attention sink whose activations dwarf the others on real models.
#include <gtest/gtest.h>

#include <cmath>
#include <string>
#include <vector>

#include "eval/calibration.h"
#include "model/model.h"
#include "../model/tiny_llama.h"

namespace tessera {
namespace {

// Records the inputs of one matrix, one vector per forward pass.
class Recorder final : public MatmulObserver {
 public:
  explicit Recorder(const uint8_t* data) : data_(data) {}
  void observe(const WeightMatrix& w, const float* x, int64_t n_tokens) override {
    if (w.data != data_) return;
    passes.emplace_back(x, x + n_tokens * w.cols);
    cols = w.cols;
  }
  std::vector<std::vector<float>> passes;
  int64_t cols = 0;

 private:
  const uint8_t* data_;
};

TEST(Calibration, MeanSkipsEachWindowsFirstPositionSecondMomentDoesNot) {
  // The tiny vocabulary has no single characters: with an unknown-token id,
  // the text becomes unknown tokens (positions still make the inputs differ).
  auto model = Model::load(tiny::write_tiny_llama(
      "llama", 128, GgmlType::F32,
      [](GgufWriter& w, int layer) {
        if (layer == 0) w.set_u32("tokenizer.ggml.unknown_token_id", 0);
      },
      "tessera_tiny_calibration.gguf"));
  std::string text;
  for (int i = 0; i < 80; ++i) text += (i > 0 ? " t" : "t") + std::to_string(3 + (i * 7) % 250);
  const CalibrationOptions options{16, 3};
  ThreadPool pool(2);
  const CalibrationStats stats = collect_calibration(*model, text, options, pool, {});
  const std::string name = "blk.1.attn_q.weight";
  ASSERT_EQ(stats.by_tensor.count(name), 1u);
  const QuantStats& s = stats.by_tensor.at(name);

  // The same windows, run again with a recorder on that matrix.
  const uint8_t* data = nullptr;
  for (const auto& t : model->file().tensors()) {
    if (t.name == name) data = t.data;
  }
  Recorder rec(data);
  model->set_matmul_observer(&rec);
  const Tokenizer& tok = model->tokenizer();
  const std::vector<TokenId> tokens = tok.encode(text, true, false);
  ASSERT_GE(tokens.size(), 48u);
  for (int64_t w = 0; w < options.windows; ++w) {
    auto kv = model->make_kv_cache(options.n_ctx);
    ASSERT_TRUE(kv->reserve(0, options.n_ctx));
    Batch b;
    for (int64_t i = 0; i < options.n_ctx; ++i) {
      TokenId t = tokens[static_cast<size_t>(w * options.n_ctx + i)];
      if (i == 0 && tok.add_bos() && tok.bos() >= 0) t = tok.bos();
      b.add(t, static_cast<int32_t>(i), 0, false);
    }
    model->forward(b, *kv, nullptr, pool);
  }
  model->set_matmul_observer(nullptr);
  ASSERT_EQ(rec.passes.size(), static_cast<size_t>(options.windows));
  const int64_t n = rec.cols;
  ASSERT_EQ(s.mean.size(), static_cast<size_t>(n));
  ASSERT_EQ(s.importance.size(), static_cast<size_t>(n));
  bool first_differs = false;
  for (int64_t j = 0; j < n; ++j) {
    double sum = 0, sum_sq = 0, sum_first = 0;
    int64_t count = 0;
    for (const auto& x : rec.passes) {
      for (int64_t t = 0; t < options.n_ctx; ++t) {
        const double v = x[t * n + j];
        sum_sq += v * v;
        if (t == 0) {
          sum_first += v;
        } else {
          sum += v;
          ++count;
        }
      }
    }
    const double mean = sum / count;
    EXPECT_NEAR(s.mean[j], mean, 1e-4 * (1.0 + std::fabs(mean))) << j;
    EXPECT_NEAR(s.importance[j], sum_sq / (options.windows * options.n_ctx), 1e-4 * (1.0 + sum_sq)) << j;
    // The first positions are not a typical sample, so leaving them out matters.
    const double with_first = (sum + sum_first) / (count + options.windows);
    first_differs = first_differs || std::fabs(with_first - mean) > 1e-3 * (1.0 + std::fabs(mean));
  }
  EXPECT_TRUE(first_differs);
}

}  // namespace
}  // namespace tessera
