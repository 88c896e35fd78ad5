// Activation grids (W8A8 / W4A4 quality model): values already on a group's
// grid come back exactly, everything else moves by at most half a step, the
// group's extreme keeps its value, and impossible settings are refused.
#include "kernels/activation_quant.h"

#include <gtest/gtest.h>

#include <cmath>
#include <random>
#include <vector>

#include "core/error.h"
#include "test_weights.h"

namespace tessera {
namespace {

std::vector<float> gaussian(int64_t n, uint32_t seed) {
  std::mt19937 rng(seed);
  return testing::random_floats(n, rng);
}

TEST(ActivationQuant, ParsesAndRefusesSettings) {
  EXPECT_FALSE(make_activation_quant(0, "32").enabled());
  EXPECT_EQ(make_activation_quant(4, "token").group, 0);
  EXPECT_EQ(make_activation_quant(8, "64").group, 64);
  EXPECT_EQ(make_activation_quant(4, "token").describe(), "A4 per-token");
  EXPECT_EQ(make_activation_quant(8, "32").describe(), "A8 g32");
  EXPECT_THROW(make_activation_quant(1, "32"), InvalidArgument);
  EXPECT_THROW(make_activation_quant(9, "32"), InvalidArgument);
  EXPECT_THROW(make_activation_quant(4, "0"), InvalidArgument);
  EXPECT_THROW(make_activation_quant(4, "-32"), InvalidArgument);
  EXPECT_THROW(make_activation_quant(4, "32x"), InvalidArgument);
  EXPECT_THROW(make_activation_quant(4, ""), InvalidArgument);
  EXPECT_EQ(make_activation_quant(4, "32", 0.9).describe(), "A4 g32 clip 0.90");
  EXPECT_THROW(make_activation_quant(4, "32", 0.0), InvalidArgument);
  EXPECT_THROW(make_activation_quant(4, "32", 1.5), InvalidArgument);
  EXPECT_THROW(make_activation_quant(4, "32", std::nan("")), InvalidArgument);
  std::vector<float> x(96, 1.0f);
  EXPECT_THROW(fake_quantize_activations(x.data(), x.data(), 1, 96, make_activation_quant(4, "64")), InvalidArgument);
}

TEST(ActivationQuant, RoundsEachGroupToItsOwnSymmetricGrid) {
  const int64_t tokens = 3, cols = 128;
  const auto x = gaussian(tokens * cols, 1);
  for (int bits : {2, 4, 8}) {
    for (const char* group : {"32", "64", "token"}) {
      const ActivationQuant q = make_activation_quant(bits, group);
      std::vector<float> y(x.size());
      fake_quantize_activations(x.data(), y.data(), tokens, cols, q);
      const int64_t g = q.group == 0 ? cols : q.group;
      const float qmax = static_cast<float>((1 << (bits - 1)) - 1);
      for (int64_t i = 0; i < tokens * cols; i += g) {
        float amax = 0.0f;
        for (int64_t j = 0; j < g; ++j) amax = std::max(amax, std::fabs(x[i + j]));
        const float d = amax / qmax;
        for (int64_t j = 0; j < g; ++j) {
          const float code = y[i + j] / d;
          EXPECT_NEAR(code, std::nearbyint(code), 1e-4) << bits << " " << group;  // on the grid
          EXPECT_LE(std::fabs(y[i + j] - x[i + j]), 0.5f * d * (1 + 1e-5f)) << bits << " " << group;
          if (std::fabs(x[i + j]) == amax) {
            EXPECT_NEAR(std::fabs(y[i + j]), amax, 1e-6f * amax);
          }
        }
      }
      // Quantizing the result again changes nothing (and in place works).
      std::vector<float> again = y;
      fake_quantize_activations(again.data(), again.data(), tokens, cols, q);
      for (size_t i = 0; i < y.size(); ++i) EXPECT_NEAR(again[i], y[i], 1e-6f * std::fabs(y[i]) + 1e-7f);
    }
  }
}

// A clipped grid spans clip x the group's largest |x|: values beyond it are
// clamped to the outermost code, and on Gaussian groups a 4-bit grid clipped
// at 0.9 loses less in total than the full-range one (the many values gain
// resolution, the few extremes are clamped).
TEST(ActivationQuant, ClippingClampsTheExtremesAndHelpsGaussianGroups) {
  const int64_t tokens = 64, cols = 128;
  const auto x = gaussian(tokens * cols, 3);
  const ActivationQuant full = make_activation_quant(4, "32"), clipped = make_activation_quant(4, "32", 0.9);
  std::vector<float> yf(x.size()), yc(x.size());
  fake_quantize_activations(x.data(), yf.data(), tokens, cols, full);
  fake_quantize_activations(x.data(), yc.data(), tokens, cols, clipped);
  double ef = 0, ec = 0;
  for (int64_t i = 0; i < tokens * cols; i += 32) {
    float amax = 0.0f;
    for (int64_t j = 0; j < 32; ++j) amax = std::max(amax, std::fabs(x[i + j]));
    const float d = 0.9f * amax / 7.0f;
    for (int64_t j = 0; j < 32; ++j) {
      const float code = yc[i + j] / d;
      EXPECT_NEAR(code, std::nearbyint(code), 1e-4);
      EXPECT_LE(std::fabs(code), 7.0f + 1e-4f);
      if (std::fabs(x[i + j]) == amax) {
        EXPECT_NEAR(std::fabs(yc[i + j]), 7.0f * d, 1e-5f * amax);  // clamped to the outermost code
      }
      ef += (yf[i + j] - x[i + j]) * (yf[i + j] - x[i + j]);
      ec += (yc[i + j] - x[i + j]) * (yc[i + j] - x[i + j]);
    }
  }
  EXPECT_LT(ec, ef);
}

TEST(ActivationQuant, SmallerGroupsAndMoreBitsLoseLess) {
  const int64_t cols = 256;
  auto x = gaussian(cols, 2);
  x[5] = 40.0f;  // one massive channel, as Gemma's residual stream has
  auto error = [&](int bits, const char* group) {
    std::vector<float> y(x.size());
    fake_quantize_activations(x.data(), y.data(), 1, cols, make_activation_quant(bits, group));
    double e = 0;
    for (size_t i = 0; i < x.size(); ++i) e += (x[i] - y[i]) * (x[i] - y[i]);
    return e;
  };
  EXPECT_LT(error(4, "32"), error(4, "token"));
  EXPECT_LT(error(8, "token"), error(4, "token"));
  EXPECT_LT(error(8, "32"), error(8, "token"));
  std::vector<float> zeros(64, 0.0f), out(64, 1.0f);
  fake_quantize_activations(zeros.data(), out.data(), 1, 64, make_activation_quant(4, "32"));
  for (float v : out) EXPECT_EQ(v, 0.0f);
}

}  // namespace
}  // namespace tessera
