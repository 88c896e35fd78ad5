#include "kernels/ops.h"

#include <gtest/gtest.h>
#include <immintrin.h>

#include <cmath>
#include <cstring>
#include <random>
#include <vector>

namespace tessera {
namespace {

std::vector<float> random_vector(int64_t n, uint32_t seed) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> dist(0.0f, 1.0f);
  std::vector<float> v(n);
  for (auto& x : v) x = dist(rng);
  return v;
}

TEST(Ops, RmsNormMatchesDefinition) {
  auto x = random_vector(37, 1);
  auto w = random_vector(37, 2);
  std::vector<float> out(37);
  rms_norm(x.data(), w.data(), out.data(), 37, 1e-6f);
  double ss = 0;
  for (float v : x) ss += double(v) * v;
  const double scale = 1.0 / std::sqrt(ss / 37 + 1e-6);
  for (int i = 0; i < 37; ++i) EXPECT_NEAR(out[i], x[i] * scale * w[i], 1e-5);
}

TEST(Ops, RopeNormalAndNeoxRotatePairsByTheRightAngles) {
  const int64_t d = 8;
  auto x = random_vector(d, 3);
  for (bool neox : {false, true}) {
    auto y = x;
    rope_inplace(y.data(), d, d, 5, 10000.0f, 1.0f, nullptr, neox);
    for (int64_t i = 0; i < d / 2; ++i) {
      const double theta = 5.0 * std::pow(10000.0, -2.0 * i / d);
      const int64_t a = neox ? i : 2 * i;
      const int64_t b = neox ? i + d / 2 : 2 * i + 1;
      EXPECT_NEAR(y[a], x[a] * std::cos(theta) - x[b] * std::sin(theta), 1e-4);
      EXPECT_NEAR(y[b], x[a] * std::sin(theta) + x[b] * std::cos(theta), 1e-4);
    }
  }
}

TEST(Ops, RopePreservesNormAndPositionZeroIsIdentity) {
  auto x = random_vector(64, 4);
  auto y = x;
  rope_inplace(y.data(), 64, 64, 0, 10000.0f, 1.0f, nullptr, true);
  for (int i = 0; i < 64; ++i) EXPECT_FLOAT_EQ(y[i], x[i]);
  rope_inplace(y.data(), 64, 64, 1234, 1e6f, 0.5f, nullptr, false);
  double nx = 0, ny = 0;
  for (int i = 0; i < 64; ++i) nx += x[i] * x[i], ny += y[i] * y[i];
  EXPECT_NEAR(nx, ny, 1e-3 * nx);
}

TEST(Ops, RopeFrequencyFactorsDivideTheAngle) {
  auto x = random_vector(4, 5);
  auto a = x, b = x;
  const float factors[2] = {2.0f, 4.0f};
  rope_inplace(a.data(), 4, 4, 6, 100.0f, 1.0f, factors, false);
  rope_inplace(b.data(), 4, 4, 3, 100.0f, 1.0f, nullptr, false);  // same angle for pair 0
  EXPECT_NEAR(a[0], b[0], 1e-5);
  EXPECT_NEAR(a[1], b[1], 1e-5);
}

TEST(Ops, GatedActivations) {
  const float g[3] = {-2.0f, 0.0f, 1.5f};
  const float u[3] = {1.0f, 3.0f, -2.0f};
  float out[3];
  geglu_tanh(g, u, out, 3);
  for (int i = 0; i < 3; ++i) {
    const double gelu = 0.5 * g[i] * (1 + std::tanh(std::sqrt(2 / M_PI) * (g[i] + 0.044715 * g[i] * g[i] * g[i])));
    // GELU goes through fp16 (as ggml's table does): about 3 significant digits.
    EXPECT_NEAR(out[i], gelu * u[i], 2e-3 * std::fabs(gelu * u[i]) + 1e-6);
  }
}

// geglu_tanh looks GELU up in a table of fp16 inputs: for every fp16 value
// (NaN, infinities and subnormals included) the result is the formula's on the
// rounded input, rounded to fp16, and the identity / zero beyond ±10.
TEST(Ops, GegluTableIsTheRoundedFormula) {
  std::vector<float> gate;
  for (uint32_t h = 0; h < (1u << 16); ++h) gate.push_back(_cvtsh_ss(static_cast<uint16_t>(h)));
  gate.push_back(9.99999f);  // rounds to fp16 10.0 inside the table's range
  const std::vector<float> up(gate.size(), 1.0f);
  std::vector<float> out(gate.size());
  geglu_tanh(gate.data(), up.data(), out.data(), static_cast<int64_t>(gate.size()));
  for (size_t i = 0; i < gate.size(); ++i) {
    const float g = gate[i];
    const float want = g <= -10.0f  ? 0.0f
                       : g >= 10.0f ? g
                                    : _cvtsh_ss(_cvtss_sh(gelu_tanh(_cvtsh_ss(_cvtss_sh(g, 0))), 0));
    if (std::isnan(want)) {
      EXPECT_TRUE(std::isnan(out[i])) << "gate " << g;
    } else {
      ASSERT_EQ(std::memcmp(&out[i], &want, 4), 0) << "gate " << g << ": " << out[i] << " vs " << want;
    }
  }
}

TEST(Ops, HalfPrecisionDotAndAxpyMatchScalar) {
  for (int64_t n : {1, 7, 16, 33, 256}) {
    auto x = random_vector(n, 6);
    auto y = random_vector(n, 7);
    std::vector<uint16_t> yh(n);
    f32_to_f16(y.data(), yh.data(), n);
    double ref = 0;
    std::vector<float> acc(n, 1.0f);
    for (int64_t i = 0; i < n; ++i) {
      ref += double(x[i]) * y[i];
    }
    EXPECT_NEAR(dot_f32_f16(x.data(), yh.data(), n), ref, 1e-2 * std::sqrt(double(n)));
    axpy_f16(0.5f, yh.data(), acc.data(), n);
    for (int64_t i = 0; i < n; ++i) EXPECT_NEAR(acc[i], 1.0f + 0.5f * y[i], 2e-3);
  }
}

}  // namespace
}  // namespace tessera
