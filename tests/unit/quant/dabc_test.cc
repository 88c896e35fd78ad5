// dabc / mdqfo on matrices with planted outliers: the output error, after the
// bias the method writes, against rtn and mse at equal bits, measured on
// inputs drawn apart from the calibration statistics.
#include <gtest/gtest.h>

#include <cmath>
#include <random>
#include <vector>

#include "core/error.h"
#include "core/thread_pool.h"
#include "quant/dequantize.h"
#include "quant/grid.h"
#include "quant/quant_method.h"
#include "synthetic_matrix.h"

namespace tessera {
namespace {

using namespace quant_test;  // kRows, kCols, gaussian_weights, dequantized

// Gaussian weights; every 61st weight of the flattened matrix x8 (a long tail).
std::vector<float> planted(uint32_t seed) { return gaussian_weights(seed, 61, 8.0f); }

// Inputs with a per-channel mean (1.0 +- 0.5) and spread 0.4: what a constant bias can partly absorb.
struct Inputs {
  std::vector<float> mu, sd;
  std::vector<float> draw(int tokens, uint32_t seed) const {
    std::mt19937 rng(seed);
    std::normal_distribution<float> normal;
    std::vector<float> x(static_cast<size_t>(tokens * kCols));
    for (int t = 0; t < tokens; ++t) {
      for (int64_t j = 0; j < kCols; ++j) x[t * kCols + j] = mu[j] + sd[j] * normal(rng);
    }
    return x;
  }
};

Inputs make_inputs() {
  std::mt19937 rng(11);
  std::uniform_real_distribution<float> u(0.5f, 1.5f);
  Inputs in;
  for (int64_t j = 0; j < kCols; ++j) {
    in.mu.push_back(u(rng) * (j % 2 ? 1.0f : -1.0f));
    in.sd.push_back(0.4f);
  }
  return in;
}

QuantStats stats_of(const std::vector<float>& x, int tokens) {
  QuantStats s;
  s.importance.assign(kCols, 0.0f);
  s.mean.assign(kCols, 0.0f);
  for (int t = 0; t < tokens; ++t) {
    for (int64_t j = 0; j < kCols; ++j) {
      const float v = x[t * kCols + j];
      s.importance[j] += v * v / tokens;
      s.mean[j] += v / tokens;
    }
  }
  return s;
}

const ExtraTensor* find_bias(const QuantizedMatrix& q) {
  for (const ExtraTensor& e : q.extras) {
    if (e.suffix == "qbias") return &e;
  }
  return nullptr;
}

// sum over tokens of |W x - (Q x + b)|^2, b the method's bias (0 without one).
double output_error(const std::vector<float>& w, const QuantizedMatrix& q, const std::vector<float>& x, int tokens) {
  const std::vector<float> back = dequantized(q);
  const ExtraTensor* bias = find_bias(q);
  double e = 0.0;
  for (int t = 0; t < tokens; ++t) {
    for (int64_t r = 0; r < kRows; ++r) {
      double y = bias != nullptr ? -bias->values[r] : 0.0;
      for (int64_t j = 0; j < kCols; ++j) y += (w[r * kCols + j] - back[r * kCols + j]) * x[t * kCols + j];
      e += y * y;
    }
  }
  return e;
}

double weight_error(const std::vector<float>& w, const QuantizedMatrix& q) {
  const std::vector<float> back = dequantized(q);
  double e = 0.0;
  for (size_t i = 0; i < w.size(); ++i) e += (w[i] - back[i]) * (w[i] - back[i]);
  return e;
}

QuantSpec spec_of(GgmlType type, int bits) {
  const GridLayout l = *grid_layout(type);
  return QuantSpec{type, bits, l.sub_block, !l.offset};
}

TEST(QuantDabc, LowerOutputErrorThanRtnAndMseWithPlantedOutliers) {
  const std::vector<float> w = planted(21);
  const Inputs in = make_inputs();
  const int tokens = 256;
  const QuantStats stats = stats_of(in.draw(tokens, 1), tokens);
  const std::vector<float> held_out = in.draw(tokens, 2);
  ThreadPool pool(2);
  for (GgmlType type : {GgmlType::Q4_0, GgmlType::Q4_1, GgmlType::Q4_K}) {
    for (int bits : {3, 4}) {
      const QuantSpec spec = spec_of(type, bits);
      const MatrixRef m{w.data(), kRows, kCols};
      auto err = [&](const char* method, const QuantStats& s) {
        const QuantizedMatrix q = make_quant_method(method)->quantize(m, spec, s, pool);
        EXPECT_EQ(q.type, type);
        return output_error(w, q, held_out, tokens);
      };
      const double rtn = err("rtn", {}), mse = err("mse", stats);
      const double dabc = err("dabc", stats), mdqfo = err("mdqfo", stats);
      EXPECT_LT(dabc, 0.8 * rtn) << type_name(type) << " " << bits;
      EXPECT_LT(dabc, mse) << type_name(type) << " " << bits;
      EXPECT_LT(mdqfo, rtn) << type_name(type) << " " << bits;
      EXPECT_LE(mdqfo, 1.02 * dabc) << type_name(type) << " " << bits;
    }
  }
}

TEST(QuantDabc, BiasIsTheExpectedErrorOverCalibrationInputs) {
  const std::vector<float> w = planted(22);
  const Inputs in = make_inputs();
  const QuantStats stats = stats_of(in.draw(64, 3), 64);
  ThreadPool pool(1);
  const QuantizedMatrix q = make_quant_method("dabc")->quantize(MatrixRef{w.data(), kRows, kCols},
                                                                 spec_of(GgmlType::Q4_0, 4), stats, pool);
  const ExtraTensor* bias = find_bias(q);
  ASSERT_NE(bias, nullptr);
  EXPECT_EQ(bias->shape, std::vector<int64_t>{kRows});
  const std::vector<float> back = dequantized(q);
  for (int64_t r = 0; r < kRows; ++r) {
    double want = 0.0;
    for (int64_t j = 0; j < kCols; ++j) want += (w[r * kCols + j] - back[r * kCols + j]) * stats.mean[j];
    EXPECT_NEAR(bias->values[r], want, 1e-5 + 1e-4 * std::fabs(want)) << r;
  }
  // A mean of the wrong length is refused.
  QuantStats bad = stats;
  bad.mean.resize(kCols - 1);
  EXPECT_THROW(make_quant_method("dabc")->quantize(MatrixRef{w.data(), kRows, kCols}, spec_of(GgmlType::Q4_0, 4),
                                                   bad, pool),
               InvalidArgument);
}

TEST(QuantDabc, WithoutCalibrationNoBiasAndWeightErrorAtMostMse) {
  const std::vector<float> w = planted(23);
  ThreadPool pool(2);
  for (const char* method : {"dabc", "mdqfo"}) {
    const QuantSpec spec = spec_of(GgmlType::Q4_0, 4);
    const MatrixRef m{w.data(), kRows, kCols};
    const QuantizedMatrix q = make_quant_method(method)->quantize(m, spec, {}, pool);
    EXPECT_TRUE(q.extras.empty()) << method;
    const double own = weight_error(w, q);
    const double rtn = weight_error(w, make_quant_method("rtn")->quantize(m, spec, {}, pool));
    const double mse = weight_error(w, make_quant_method("mse")->quantize(m, spec, {}, pool));
    EXPECT_LT(own, rtn) << method;
    EXPECT_LE(own, mse * (1.0 + 1e-9)) << method;
  }
}

}  // namespace
}  // namespace tessera
