// Activation quantizers: the rounding rules llama.cpp's x86 build uses.
#include "quant/quantize.h"

#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <random>
#include <vector>

#include "quant/blocks.h"
#include "quant/dequantize.h"

namespace tessera {
namespace {

TEST(QuantizeQ8_0, ScalesByAmaxAndRoundsHalfToEven) {
  std::vector<float> x(32, 0.0f);
  x[0] = 127.0f;  // amax: d = 1, id = 1
  x[1] = 2.5f;    // tie: rounds to 2 (half to even), not 3
  x[2] = -3.5f;   // tie: rounds to -4
  x[3] = 0.49f;
  x[4] = -127.0f;
  BlockQ8_0 b;
  quantize_row_q8_0(x.data(), reinterpret_cast<uint8_t*>(&b), 32);
  EXPECT_EQ(fp16_to_fp32(b.d), 1.0f);
  EXPECT_EQ(b.qs[0], 127);
  EXPECT_EQ(b.qs[1], 2);
  EXPECT_EQ(b.qs[2], -4);
  EXPECT_EQ(b.qs[3], 0);
  EXPECT_EQ(b.qs[4], -127);
}

TEST(QuantizeQ8_0, ZeroBlockHasZeroScale) {
  std::vector<float> x(64, 0.0f);
  BlockQ8_0 b[2];
  quantize_row_q8_0(x.data(), reinterpret_cast<uint8_t*>(b), 64);
  EXPECT_EQ(b[1].d, 0);
  for (int j = 0; j < 32; ++j) EXPECT_EQ(b[1].qs[j], 0);
}

TEST(QuantizeQ8_1, StoresScaledSumOfQuants) {
  std::vector<float> x(32);
  for (int j = 0; j < 32; ++j) x[j] = static_cast<float>(j - 10) * 0.1f;
  BlockQ8_1 b;
  quantize_row_q8_1(x.data(), reinterpret_cast<uint8_t*>(&b), 32);
  int sum = 0;
  for (int j = 0; j < 32; ++j) sum += b.qs[j];
  const float d = 2.1f / 127.0f;  // amax = 21 * 0.1
  EXPECT_EQ(b.s, fp32_to_fp16(d * static_cast<float>(sum)));
  EXPECT_EQ(b.qs[31], 127);
}

TEST(QuantizeQ8_K, MapsTheSignedExtremeToMinus127AndFillsBlockSums) {
  std::vector<float> x(256, 0.5f);
  x[17] = -3.0f;
  BlockQ8_K b;
  quantize_row_q8_k(x.data(), reinterpret_cast<uint8_t*>(&b), 256);
  EXPECT_EQ(b.qs[17], -127);  // iscale = -127 / max, whatever the sign of max
  EXPECT_NEAR(b.d * b.qs[0], 0.5f, 0.02f);
  for (int g = 0; g < 16; ++g) {
    int s = 0;
    for (int j = 0; j < 16; ++j) s += b.qs[16 * g + j];
    EXPECT_EQ(b.bsums[g], s);
  }
}

// The rules written out element by element (the SIMD quantizers must agree
// bit for bit): Q8_0 / Q8_1 blocks of 32 and Q8_K blocks of 256.
void reference_block_32(const float* x, int8_t* qs, float* d, int* sum) {
  float amax = 0.0f;
  for (int j = 0; j < 32; ++j) amax = std::max(amax, std::fabs(x[j]));
  const float id = amax != 0.0f ? 127.0f / amax : 0.0f;
  *sum = 0;
  for (int j = 0; j < 32; ++j) {
    qs[j] = static_cast<int8_t>(std::nearbyint(x[j] * id));
    *sum += qs[j];
  }
  *d = amax / 127.0f;
}

BlockQ8_K reference_block_q8_k(const float* x) {
  BlockQ8_K b{};
  float max = 0.0f, amax = 0.0f;
  for (int j = 0; j < 256; ++j) {
    if (std::fabs(x[j]) > amax) {
      amax = std::fabs(x[j]);
      max = x[j];
    }
  }
  if (amax == 0.0f) return b;
  const float iscale = -127.0f / max;
  for (int j = 0; j < 256; ++j) b.qs[j] = static_cast<int8_t>(std::min(127, static_cast<int>(std::nearbyint(iscale * x[j]))));
  for (int g = 0; g < 16; ++g) {
    int sum = 0;
    for (int j = 0; j < 16; ++j) sum += b.qs[16 * g + j];
    b.bsums[g] = static_cast<int16_t>(sum);
  }
  b.d = 1.0f / iscale;
  return b;
}

// Rows that exercise the rules' corners: halves that tie after scaling, a
// largest magnitude present with both signs (the first one decides Q8_K's
// sign), all-zero blocks, and plain random values.
std::vector<float> corner_rows(int64_t n, std::mt19937& rng) {
  std::vector<float> x(static_cast<size_t>(n));
  std::uniform_real_distribution<float> u(-4.0f, 4.0f);
  std::uniform_int_distribution<int> k(-127, 127);
  for (int64_t b = 0; b < n / 256; ++b) {
    float* blk = x.data() + 256 * b;
    switch (b % 4) {
      case 0:
        for (int j = 0; j < 256; ++j) blk[j] = u(rng);
        break;
      case 1:  // amax 127: every k + 0.5 is a tie
        for (int j = 0; j < 256; ++j) blk[j] = static_cast<float>(k(rng)) + (j % 3 == 0 ? 0.5f : 0.0f);
        blk[40] = 127.0f;
        blk[7] = -127.0f;
        break;
      case 2:  // zero blocks of 32, and a maximum at both signs
        for (int j = 0; j < 256; ++j) blk[j] = j < 64 ? 0.0f : u(rng);
        blk[200] = 9.0f;
        blk[100] = -9.0f;
        break;
      default:
        break;  // an all-zero Q8_K block
    }
  }
  return x;
}

TEST(QuantizeQ8_0, MatchesTheRuleElementByElement) {
  std::mt19937 rng(7);
  const std::vector<float> x = corner_rows(4096, rng);
  std::vector<BlockQ8_0> q0(4096 / 32);
  std::vector<BlockQ8_1> q1(4096 / 32);
  quantize_row_q8_0(x.data(), reinterpret_cast<uint8_t*>(q0.data()), 4096);
  quantize_row_q8_1(x.data(), reinterpret_cast<uint8_t*>(q1.data()), 4096);
  for (int b = 0; b < 4096 / 32; ++b) {
    int8_t qs[32];
    float d;
    int sum;
    reference_block_32(x.data() + 32 * b, qs, &d, &sum);
    ASSERT_EQ(q0[b].d, fp32_to_fp16(d)) << b;
    ASSERT_EQ(q1[b].d, fp32_to_fp16(d)) << b;
    ASSERT_EQ(q1[b].s, fp32_to_fp16(d * static_cast<float>(sum))) << b;
    ASSERT_EQ(std::memcmp(q0[b].qs, qs, 32), 0) << b;
    ASSERT_EQ(std::memcmp(q1[b].qs, qs, 32), 0) << b;
  }
}

TEST(QuantizeQ8_K, MatchesTheRuleElementByElement) {
  std::mt19937 rng(8);
  const std::vector<float> x = corner_rows(4096, rng);
  std::vector<BlockQ8_K> q(4096 / 256);
  quantize_row_q8_k(x.data(), reinterpret_cast<uint8_t*>(q.data()), 4096);
  for (int b = 0; b < 4096 / 256; ++b) {
    const BlockQ8_K r = reference_block_q8_k(x.data() + 256 * b);
    ASSERT_EQ(q[b].d, r.d) << b;
    ASSERT_EQ(std::memcmp(q[b].qs, r.qs, 256), 0) << b;
    ASSERT_EQ(std::memcmp(q[b].bsums, r.bsums, sizeof(r.bsums)), 0) << b;
  }
  EXPECT_EQ(q[1].qs[7], -127);  // the first of ±127 decides the sign
  EXPECT_EQ(q[1].qs[40], 127);
  EXPECT_EQ(q[2].qs[100], -127);
  EXPECT_EQ(q[3].d, 0.0f);
}

TEST(QuantizeHalf, F16AndBf16RoundToNearestEven) {
  const std::vector<float> x = {1.0f, 1.0f + 1.0f / 2048, 1.0f + 3.0f / 2048, -2.5f, 0.0f, 65504.0f, 1e-8f, 3.0f,
                                1.0f + 1.0f / 256, 1.0f + 3.0f / 256, 7.0f, 8.0f, 9.0f, 10.0f, 11.0f, 12.0f};
  std::vector<uint16_t> h(x.size()), bf(x.size());
  quantize_row_f16(x.data(), reinterpret_cast<uint8_t*>(h.data()), static_cast<int64_t>(x.size()));
  quantize_row_bf16(x.data(), reinterpret_cast<uint8_t*>(bf.data()), static_cast<int64_t>(x.size()));
  EXPECT_EQ(h[0], 0x3C00);
  EXPECT_EQ(h[1], 0x3C00);  // halfway between 1 and the next fp16: even is 1
  EXPECT_EQ(h[2], 0x3C02);  // halfway, rounds up to the even mantissa
  EXPECT_EQ(fp16_to_fp32(h[3]), -2.5f);
  EXPECT_EQ(bf[0], 0x3F80);
  EXPECT_EQ(bf[8], 0x3F80);  // 1 + 2^-8 is halfway in bf16: even is 1
  EXPECT_EQ(bf[9], 0x3F82);
  for (size_t i = 0; i < x.size(); ++i) EXPECT_EQ(h[i], fp32_to_fp16(x[i])) << i;
}

}  // namespace
}  // namespace tessera
