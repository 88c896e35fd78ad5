#include "quant/hadamard.h"

#include <gtest/gtest.h>

#include <bit>
#include <cmath>
#include <random>
#include <vector>

namespace tessera {
namespace {

// Entry (i, j) of the Sylvester Hadamard matrix: (-1)^popcount(i & j).
float sylvester(int64_t i, int64_t j) { return std::popcount(static_cast<uint64_t>(i & j)) % 2 ? -1.0f : 1.0f; }

std::vector<float> random_vector(int64_t n, unsigned seed) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> d;
  std::vector<float> v(static_cast<size_t>(n));
  for (float& x : v) x = d(rng);
  return v;
}

TEST(Hadamard, EqualsTheExplicitBlockDiagonalMatrix) {
  for (int64_t block : {2, 8, 32, 128}) {
    const int64_t n = 3 * block;
    const auto x = random_vector(n, static_cast<unsigned>(block));
    auto y = x;
    hadamard_rotate(y.data(), n, block);
    for (int64_t i = 0; i < n; ++i) {
      double want = 0.0;
      const int64_t b = i / block * block;
      for (int64_t j = 0; j < block; ++j) want += sylvester(i - b, j) * x[b + j];
      want /= std::sqrt(static_cast<double>(block));
      EXPECT_NEAR(y[i], want, 1e-4) << "block " << block << " index " << i;
    }
  }
}

TEST(Hadamard, IsItsOwnInverseAndKeepsTheNorm) {
  const int64_t n = 640, block = 128;
  const auto x = random_vector(n, 7);
  auto y = x;
  hadamard_rotate(y.data(), n, block);
  double nx = 0, ny = 0;
  for (int64_t i = 0; i < n; ++i) nx += x[i] * x[i], ny += y[i] * y[i];
  EXPECT_NEAR(ny, nx, 1e-3 * nx);
  hadamard_rotate(y.data(), n, block);
  for (int64_t i = 0; i < n; ++i) EXPECT_NEAR(y[i], x[i], 1e-5);
}

TEST(Hadamard, SpreadsOneLoudChannelOverItsBlock) {
  std::vector<float> x(64, 0.0f);
  x[5] = 100.0f;
  hadamard_rotate(x.data(), 64, 32);
  for (int i = 0; i < 32; ++i) EXPECT_NEAR(std::fabs(x[i]), 100.0f / std::sqrt(32.0f), 1e-3);
  for (int i = 32; i < 64; ++i) EXPECT_EQ(x[i], 0.0f);
}

TEST(Hadamard, BlockRule) {
  EXPECT_TRUE(is_rotation_block(128, 640));
  EXPECT_FALSE(is_rotation_block(256, 640));  // does not divide
  EXPECT_FALSE(is_rotation_block(96, 192));   // not a power of two
  EXPECT_FALSE(is_rotation_block(1, 64));
  EXPECT_FALSE(is_rotation_block(0, 64));
  EXPECT_FALSE(is_rotation_block(-2, 64));
}

}  // namespace
}  // namespace tessera
