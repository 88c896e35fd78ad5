// Activation quantizers: the rounding rules llama.cpp's x86 build uses.
#include "quant/quantize.h"

#include <gtest/gtest.h>

#include <cstring>
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
