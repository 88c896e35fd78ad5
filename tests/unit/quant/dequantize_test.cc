// Dequantization of hand-built blocks: each format's layout, checked against
// values worked out by hand from the block definitions.
#include "quant/dequantize.h"

#include <gtest/gtest.h>

#include <cstring>
#include <limits>
#include <vector>

#include "quant/blocks.h"
#include "quant/half.h"

namespace tessera {
namespace {

std::vector<float> dequant(GgmlType t, const void* block, int64_t n) {
  std::vector<float> out(static_cast<size_t>(n), -999.0f);
  dequantize_row(t, block, out.data(), n);
  return out;
}

TEST(Dequantize, Q4_0LowNibblesFirstThenHighNibbles) {
  BlockQ4_0 b;
  b.d = fp32_to_fp16(0.5f);
  for (int j = 0; j < 16; ++j) b.qs[j] = static_cast<uint8_t>((j & 0xF) | ((15 - j) << 4));
  const auto y = dequant(GgmlType::Q4_0, &b, 32);
  for (int j = 0; j < 16; ++j) {
    EXPECT_EQ(y[j], (j - 8) * 0.5f) << j;            // low nibble j, offset -8
    EXPECT_EQ(y[j + 16], (15 - j - 8) * 0.5f) << j;  // high nibble
  }
}

TEST(Dequantize, Q4_1AddsTheMin) {
  BlockQ4_1 b;
  b.d = fp32_to_fp16(2.0f);
  b.m = fp32_to_fp16(-1.0f);
  std::memset(b.qs, 0x31, sizeof(b.qs));  // low nibble 1, high nibble 3
  const auto y = dequant(GgmlType::Q4_1, &b, 32);
  EXPECT_EQ(y[0], 1.0f);    // 1 * 2 - 1
  EXPECT_EQ(y[16], 5.0f);   // 3 * 2 - 1
}

TEST(Dequantize, Q5_0HighBitComesFromQh) {
  BlockQ5_0 b;
  b.d = fp32_to_fp16(1.0f);
  std::memset(b.qs, 0, sizeof(b.qs));
  const uint32_t qh = (1u << 3) | (1u << 20);  // element 3 and element 16 + 4
  std::memcpy(b.qh, &qh, 4);
  const auto y = dequant(GgmlType::Q5_0, &b, 32);
  EXPECT_EQ(y[0], -16.0f);
  EXPECT_EQ(y[3], 0.0f);    // 16 - 16
  EXPECT_EQ(y[20], 0.0f);
  EXPECT_EQ(y[19], -16.0f);
}

TEST(Dequantize, Q5_1UsesAllFiveBitsAndTheMin) {
  BlockQ5_1 b;
  b.d = fp32_to_fp16(1.0f);
  b.m = fp32_to_fp16(0.5f);
  std::memset(b.qs, 0xFF, sizeof(b.qs));
  const uint32_t qh = 0xFFFFFFFFu;
  std::memcpy(b.qh, &qh, 4);
  const auto y = dequant(GgmlType::Q5_1, &b, 32);
  for (float v : y) EXPECT_EQ(v, 31.5f);
}

TEST(Dequantize, Q8_0IsScaleTimesSignedByte) {
  BlockQ8_0 b;
  b.d = fp32_to_fp16(0.25f);
  for (int j = 0; j < 32; ++j) b.qs[j] = static_cast<int8_t>(j * 8 - 128);
  const auto y = dequant(GgmlType::Q8_0, &b, 32);
  for (int j = 0; j < 32; ++j) EXPECT_EQ(y[j], (j * 8 - 128) * 0.25f);
}

TEST(Dequantize, Q4_KSixBitScalesAndMins) {
  BlockQ4_K b{};
  b.d = fp32_to_fp16(1.0f);
  b.dmin = fp32_to_fp16(0.5f);
  // Sub-block 0: scale 3, min 2 (low 6 bits of bytes 0 and 4).
  b.scales[0] = 3;
  b.scales[4] = 2;
  // Sub-block 5: scale = low nibble of byte 9 | top 2 bits of byte 1 << 4 = 5 | 1 << 4 = 21;
  // min = high nibble of byte 9 | top 2 bits of byte 5 << 4 = 1 | 2 << 4 = 33.
  b.scales[9] = 0x15;
  b.scales[1] = 0x40;
  b.scales[5] = 0x80;
  for (int l = 0; l < 128; ++l) b.qs[l] = 0x97;  // low nibble 7, high nibble 9
  const auto y = dequant(GgmlType::Q4_K, &b, 256);
  EXPECT_EQ(y[0], 3.0f * 7 - 0.5f * 2);     // sub-block 0 uses low nibbles of qs[0..31]
  EXPECT_EQ(y[5 * 32], 21.0f * 9 - 0.5f * 33);  // sub-block 5: high nibbles of qs[64..95]
}

TEST(Dequantize, Q6_KSignedScalesAndOffset32) {
  BlockQ6_K b{};
  b.d = fp32_to_fp16(0.5f);
  for (int g = 0; g < 16; ++g) b.scales[g] = static_cast<int8_t>(g - 8);
  // Element 0: low 4 bits ql[0] & 0xF, high 2 bits qh[0] & 3 -> 0x3F = 63.
  b.ql[0] = 0x0F;
  b.qh[0] = 0x03;
  const auto y = dequant(GgmlType::Q6_K, &b, 256);
  EXPECT_EQ(y[0], 0.5f * -8 * (63 - 32));
  EXPECT_EQ(y[1], 0.5f * -8 * (0 - 32));
  EXPECT_EQ(y[16], 0.5f * -7 * (0 - 32));  // group 1
}

TEST(Dequantize, Q2_KScaleAndMinNibbles) {
  BlockQ2_K b{};
  b.d = fp32_to_fp16(1.0f);
  b.dmin = fp32_to_fp16(1.0f);
  b.scales[0] = 0x23;  // scale 3, min 2
  b.qs[0] = 0x02;      // element 0 = 2 (bits 0-1)
  const auto y = dequant(GgmlType::Q2_K, &b, 256);
  EXPECT_EQ(y[0], 3.0f * 2 - 2.0f);
  EXPECT_EQ(y[1], -2.0f);
}

TEST(Dequantize, Q3_KClearHighBitSubtractsFour) {
  BlockQ3_K b{};
  b.d = fp32_to_fp16(1.0f);
  // All scales 0 -> 0 - 32 = -32, except scale 0: low nibble 1, high bits 2 -> 33 - 32 = 1.
  b.scales[0] = 0x01;
  b.scales[8] = 0x02;
  b.qs[0] = 0x03;
  b.hmask[0] = 0x01;  // element 0: high bit set -> 3
  const auto y = dequant(GgmlType::Q3_K, &b, 256);
  EXPECT_EQ(y[0], 3.0f);
  EXPECT_EQ(y[1], -4.0f);         // q 0, high bit clear -> -4, scale 1
  EXPECT_EQ(y[16], -32.0f * -4);  // group 1: scale -32
}

TEST(Dequantize, Q5_KHighBitsFromQh) {
  BlockQ5_K b{};
  b.d = fp32_to_fp16(1.0f);
  b.dmin = fp32_to_fp16(0.0f);
  b.scales[0] = 1;  // sub-block 0 scale 1
  b.scales[1] = 1;  // sub-block 1 scale 1
  b.qs[0] = 0x21;
  b.qh[0] = 0x03;  // bit 0 -> +16 for sub-block 0, bit 1 -> +16 for sub-block 1
  const auto y = dequant(GgmlType::Q5_K, &b, 256);
  EXPECT_EQ(y[0], 17.0f);
  EXPECT_EQ(y[32], 18.0f);
}

TEST(Dequantize, FloatFormats) {
  const float f[2] = {1.5f, -2.0f};
  EXPECT_EQ(dequant(GgmlType::F32, f, 2), std::vector<float>({1.5f, -2.0f}));
  const uint16_t h[2] = {0x3C00, 0xC000};
  EXPECT_EQ(dequant(GgmlType::F16, h, 2), std::vector<float>({1.0f, -2.0f}));
  const uint16_t bf[2] = {0x3FC0, 0xC000};
  EXPECT_EQ(dequant(GgmlType::BF16, bf, 2), std::vector<float>({1.5f, -2.0f}));
}

TEST(Fp16, ConversionsRoundTripAndRoundToNearestEven) {
  EXPECT_EQ(fp16_to_fp32(0x7BFF), 65504.0f);
  EXPECT_EQ(fp32_to_fp16(65520.0f), 0x7C00);  // rounds to +inf
  EXPECT_EQ(fp32_to_bf16(1.0f + 1.0f / 256), 0x3F80);
  EXPECT_EQ(bf16_to_fp32(0x3F80), 1.0f);
  EXPECT_EQ(fp32_to_bf16(std::numeric_limits<float>::quiet_NaN()) & 0x7FC0, 0x7FC0);
  for (uint32_t h = 0; h < 0x7C00; h += 7) EXPECT_EQ(fp32_to_fp16(fp16_to_fp32(static_cast<uint16_t>(h))), h);
}

}  // namespace
}  // namespace tessera
