// Random weight matrices in any GGUF block format, for kernel tests and
// benchmarks: random bytes for the quantized fields (every bit pattern is a
// valid block) with small positive finite fp16 scales, so products stay finite.
#pragma once

#include <cmath>
#include <cstring>
#include <random>
#include <vector>

#include "gguf/ggml_type.h"
#include "quant/dequantize.h"

namespace tessera::testing {

// Byte offsets of the fp16 scale fields inside one block.
inline std::vector<int> fp16_scale_offsets(GgmlType t) {
  switch (t) {
    case GgmlType::Q4_0: case GgmlType::Q5_0: case GgmlType::Q8_0: return {0};
    case GgmlType::Q4_1: case GgmlType::Q5_1: case GgmlType::Q4_K: case GgmlType::Q5_K: return {0, 2};
    case GgmlType::Q2_K: return {80, 82};
    case GgmlType::Q3_K: return {108};
    case GgmlType::Q6_K: return {208};
    default: return {};
  }
}

inline std::vector<uint8_t> random_weights(GgmlType t, int64_t rows, int64_t cols, std::mt19937& rng) {
  const TypeTraits& tt = type_traits(t);
  const int64_t n_blocks = rows * cols / tt.block_size;
  std::vector<uint8_t> data(static_cast<size_t>(n_blocks * tt.block_bytes));
  std::normal_distribution<float> normal(0.0f, 1.0f);
  if (t == GgmlType::F32) {
    for (int64_t i = 0; i < rows * cols; ++i) {
      const float v = normal(rng);
      std::memcpy(data.data() + 4 * i, &v, 4);
    }
    return data;
  }
  if (t == GgmlType::F16 || t == GgmlType::BF16) {
    for (int64_t i = 0; i < rows * cols; ++i) {
      const uint16_t h = t == GgmlType::F16 ? fp32_to_fp16(normal(rng)) : fp32_to_bf16(normal(rng));
      std::memcpy(data.data() + 2 * i, &h, 2);
    }
    return data;
  }
  std::uniform_int_distribution<int> byte(0, 255);
  for (auto& b : data) b = static_cast<uint8_t>(byte(rng));
  for (int64_t b = 0; b < n_blocks; ++b) {
    for (int off : fp16_scale_offsets(t)) {
      const uint16_t h = fp32_to_fp16(0.01f + 0.02f * std::fabs(normal(rng)));
      std::memcpy(data.data() + b * tt.block_bytes + off, &h, 2);
    }
  }
  return data;
}

// n standard-normal floats (activations for kernel tests).
inline std::vector<float> random_floats(int64_t n, std::mt19937& rng) {
  std::normal_distribution<float> normal(0.0f, 1.0f);
  std::vector<float> x(static_cast<size_t>(n));
  for (auto& v : x) v = normal(rng);
  return x;
}

}  // namespace tessera::testing
