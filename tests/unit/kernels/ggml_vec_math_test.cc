#include "kernels/ggml_vec_math.h"

#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <random>
#include <vector>

#include "kernels/ops.h"
#include "quant/dequantize.h"

namespace tessera {
namespace {

float lane_exp(float x) { return ggml_lanes() == 16 ? ggml_expf_lane_avx512(x) : ggml_expf_lane_avx2(x); }

std::vector<float> random_vector(int64_t n, uint32_t seed, float scale) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> dist(0.0f, scale);
  std::vector<float> v(n);
  for (auto& x : v) x = dist(rng);
  return v;
}

TEST(GgmlVecMath, LaneExpIsAccurateAndSaturates) {
  for (auto f : {ggml_expf_lane_avx512, ggml_expf_lane_avx2}) {
    int differ = 0;
    for (float x = -87.0f; x < 88.0f; x += 0.0137f) {
      const double ref = std::exp(static_cast<double>(x));
      EXPECT_NEAR(f(x), ref, 4e-7 * ref) << x;  // ggml's bound: 1.5 ulp
      differ += f(x) != std::exp(x);
    }
    EXPECT_GT(differ, 0) << "the polynomial is not libm's expf; some inputs must differ";
    EXPECT_EQ(f(-std::numeric_limits<float>::infinity()), 0.0f);
    EXPECT_EQ(f(-200.0f), 0.0f);
    EXPECT_EQ(f(200.0f), std::numeric_limits<float>::infinity());
    EXPECT_EQ(f(0.0f), 1.0f);
  }
}

TEST(GgmlVecMath, HsumPairsHalvesThenEvenOdd) {
  // Values whose sum depends on the grouping: only ggml's order gives 2.
  std::vector<float> v(16, 0.0f);
  v[0] = 1e8f;
  v[2] = -1e8f;
  v[1] = 1.0f;
  v[3] = 1.0f;
  EXPECT_EQ(ggml_hsum(v.data(), 16), 2.0f);  // (1e8 + -1e8) + (1 + 1)
  EXPECT_EQ(ggml_hsum(v.data(), 8), 2.0f);
  v[4] = 3.0f;  // pairs with lane 0 first: 1e8 + 3 rounds to 1e8
  EXPECT_EQ(ggml_hsum(v.data(), 8), 2.0f);
  v[0] = 0.0f;
  v[8] = 1e8f;  // with 16 lanes lane 8 joins lane 0
  EXPECT_EQ(ggml_hsum(v.data(), 16), 2.0f);
}

TEST(GgmlVecMath, SoftmaxExpIsLaneExpWithVectorSums) {
  const int lanes = ggml_lanes();
  for (int64_t n : {int64_t{lanes}, int64_t{4} * lanes, int64_t{4} * lanes + 3}) {
    auto x = random_vector(n, 3, 4.0f);
    x[1] = -std::numeric_limits<float>::infinity();  // a masked cell
    const float max = 9.0f;
    std::vector<float> y(n);
    const double sum = ggml_softmax_exp(x.data(), y.data(), n, max);
    double expect_sum = 0.0;
    const int64_t whole = n - n % lanes;
    for (int64_t i = 0; i < n; ++i) {
      const float e = i < whole ? lane_exp(x[i] - max) : std::exp(x[i] - max);
      ASSERT_EQ(y[i], e) << "n " << n << " i " << i;
    }
    for (int64_t i = 0; i < whole; i += lanes) expect_sum += ggml_hsum(y.data() + i, lanes);
    for (int64_t i = whole; i < n; ++i) expect_sum += y[i];
    EXPECT_EQ(y[1], 0.0f);
    EXPECT_EQ(sum, expect_sum);
  }
}

TEST(GgmlVecMath, SwigluIsSiluOfLaneExp) {
  const int lanes = ggml_lanes();
  const int64_t n = 5 * lanes + 5;
  auto g = random_vector(n, 4, 3.0f);
  auto u = random_vector(n, 5, 1.0f);
  g[0] = 0.0f;
  g[2] = -120.0f;  // exp(120) overflows: silu is -0
  std::vector<float> out(n);
  ggml_swiglu(g.data(), u.data(), out.data(), n);
  const int64_t whole = n - n % lanes;
  for (int64_t i = 0; i < n; ++i) {
    const float e = i < whole ? lane_exp(0.0f - g[i]) : std::exp(-g[i]);
    ASSERT_EQ(out[i], g[i] / (1.0f + e) * u[i]) << i;
    EXPECT_NEAR(out[i], g[i] / (1.0 + std::exp(-double(g[i]))) * u[i], 1e-5 * (1 + std::fabs(g[i] * u[i])));
  }
}

TEST(GgmlVecMath, DotF16SumsLanesInOrder) {
  for (int lanes : {8, 16}) {
    for (int64_t n : {int64_t{16}, int64_t{64}, int64_t{256}}) {
      auto x = random_vector(n, 6, 1.0f);
      auto y = random_vector(n, 7, 1.0f);
      std::vector<uint16_t> yh(n);
      f32_to_f16(y.data(), yh.data(), n);
      for (auto& v : x) v = fp16_to_fp32(fp32_to_fp16(v));  // Q is fp16 when it meets K
      float acc[16] = {};
      double ref = 0.0;
      for (int64_t i = 0; i < n; ++i) {
        acc[i % lanes] = std::fma(x[i], fp16_to_fp32(yh[i]), acc[i % lanes]);
        ref += double(x[i]) * fp16_to_fp32(yh[i]);
      }
      const float got = ggml_dot_f16(x.data(), yh.data(), n, lanes);
      EXPECT_EQ(got, ggml_hsum(acc, lanes)) << lanes << " " << n;
      EXPECT_NEAR(got, ref, 1e-5 * n);
    }
  }
}

}  // namespace
}  // namespace tessera
