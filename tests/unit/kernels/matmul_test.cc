#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <random>
#include <vector>

#include "kernels/matmul.h"
#include "kernels/vec_dot.h"
#include "kernels/vec_dot_impl.h"
#include "quant/dequantize.h"

namespace tessera {
namespace {

// Byte offsets of fp16 scale fields per block (set to small finite values).
std::vector<int> fp16_fields(GgmlType t) {
  switch (t) {
    case GgmlType::Q4_0: case GgmlType::Q5_0: case GgmlType::Q8_0: return {0};
    case GgmlType::Q4_1: case GgmlType::Q5_1: case GgmlType::Q4_K: case GgmlType::Q5_K: return {0, 2};
    case GgmlType::Q2_K: return {80, 82};
    case GgmlType::Q3_K: return {108};
    case GgmlType::Q6_K: return {208};
    default: return {};
  }
}

std::vector<uint8_t> random_weights(GgmlType t, int64_t rows, int64_t cols, std::mt19937& rng) {
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
    for (int off : fp16_fields(t)) {
      const uint16_t h = fp32_to_fp16(0.01f + 0.02f * std::fabs(normal(rng)));
      std::memcpy(data.data() + b * tt.block_bytes + off, &h, 2);
    }
  }
  return data;
}

struct Case {
  GgmlType type;
  int64_t cols;
};

class MatmulTest : public ::testing::TestWithParam<Case> {};

TEST_P(MatmulTest, AgreesWithFloatReference) {
  const Case c = GetParam();
  std::mt19937 rng(7);
  const int64_t rows = 24;
  auto data = random_weights(c.type, rows, c.cols, rng);
  WeightMatrix w{c.type, rows, c.cols, data.data(), row_bytes(c.type, c.cols)};
  std::normal_distribution<float> normal(0.0f, 1.0f);
  ThreadPool pool(2);
  for (int64_t n_tokens : {1, 3, 17}) {
    std::vector<float> x(static_cast<size_t>(n_tokens * c.cols));
    for (auto& v : x) v = normal(rng);
    std::vector<float> ref(static_cast<size_t>(n_tokens * rows)), got(ref.size());
    matmul_reference(w, x.data(), n_tokens, ref.data());
    matmul(w, x.data(), n_tokens, got.data(), pool);
    double err = 0, norm = 0;
    for (size_t i = 0; i < ref.size(); ++i) {
      err = std::max(err, std::fabs(static_cast<double>(got[i]) - ref[i]));
      norm = std::max(norm, std::fabs(static_cast<double>(ref[i])));
    }
    // 8-bit activation quantization bounds the relative error at about 1%.
    EXPECT_LE(err, 0.02 * norm) << type_name(c.type) << " n_tokens=" << n_tokens;
  }
}

INSTANTIATE_TEST_SUITE_P(
    AllTypes, MatmulTest,
    ::testing::Values(Case{GgmlType::F32, 96}, Case{GgmlType::F16, 96}, Case{GgmlType::BF16, 96},
                      Case{GgmlType::Q4_0, 96}, Case{GgmlType::Q4_1, 96}, Case{GgmlType::Q5_0, 96},
                      Case{GgmlType::Q5_1, 96}, Case{GgmlType::Q8_0, 96}, Case{GgmlType::Q2_K, 512},
                      Case{GgmlType::Q3_K, 512}, Case{GgmlType::Q4_K, 512}, Case{GgmlType::Q5_K, 512},
                      Case{GgmlType::Q6_K, 512}),
    [](const auto& info) { return std::string(type_name(info.param.type)); });

TEST(VecDot, SimdKernelsMatchScalarReference) {
  std::mt19937 rng(3);
  std::normal_distribution<float> normal(0.0f, 1.0f);
  for (GgmlType t : {GgmlType::Q4_0, GgmlType::Q5_0, GgmlType::Q8_0, GgmlType::Q4_K, GgmlType::Q6_K}) {
    const VecDotKernel* fast = find_vec_dot(t);
    const VecDotKernel* ref = find_vec_dot_scalar(t);
    ASSERT_NE(fast, nullptr);
    ASSERT_NE(ref, nullptr);
    const int64_t n = 1024;
    auto w = random_weights(t, 1, n, rng);
    std::vector<float> x(n);
    for (auto& v : x) v = normal(rng);
    std::vector<uint8_t> xq(static_cast<size_t>(ref->activation_row_bytes(n)));
    ref->quantize_activation(x.data(), xq.data(), n);
    const float a = fast->dot(w.data(), xq.data(), n);
    const float b = ref->dot(w.data(), xq.data(), n);
    EXPECT_NEAR(a, b, 1e-4 * std::max(1.0f, std::fabs(b))) << type_name(t);
  }
}

TEST(VecDot, Q8KQuantizationMapsTheExtremeToMinus127) {
  std::vector<float> x(256, 0.5f);
  x[17] = -3.0f;
  std::vector<uint8_t> out(292);
  quantize_row_q8_k(x.data(), out.data(), 256);
  const auto* qs = reinterpret_cast<const int8_t*>(out.data() + 4);
  EXPECT_EQ(qs[17], -127);  // iscale = -127 / max, whatever the sign of max
  float d;
  std::memcpy(&d, out.data(), 4);
  EXPECT_NEAR(d * qs[0], 0.5f, 0.02f);
}

}  // namespace
}  // namespace tessera

namespace tessera {
namespace {

// The integer kernels must compute exactly the dot product of the dequantized
// weights with the dequantized (8-bit) activations: only float rounding may differ.
TEST(VecDot, EqualsFloatDotOfDequantizedOperands) {
  std::mt19937 rng(11);
  std::normal_distribution<float> normal(0.0f, 1.0f);
  for (GgmlType t : {GgmlType::Q4_0, GgmlType::Q4_1, GgmlType::Q5_0, GgmlType::Q5_1, GgmlType::Q8_0,
                     GgmlType::Q4_K, GgmlType::Q5_K, GgmlType::Q6_K}) {
    for (const VecDotKernel* k : {find_vec_dot(t), find_vec_dot_scalar(t)}) {
      ASSERT_NE(k, nullptr);
      const int64_t n = 512;
      auto w = random_weights(t, 1, n, rng);
      std::vector<float> x(n), wf(n), xf(n);
      for (auto& v : x) v = normal(rng) * (1.0f + 20.0f * (normal(rng) > 2.0f));
      std::vector<uint8_t> xq(static_cast<size_t>(k->activation_row_bytes(n)));
      k->quantize_activation(x.data(), xq.data(), n);
      dequantize_row(t, w.data(), wf.data(), n);
      if (k->activation_type == GgmlType::Q8_0) {
        dequantize_row(GgmlType::Q8_0, xq.data(), xf.data(), n);
      } else {
        for (int64_t b = 0; b < n / 256; ++b) {
          float d;
          std::memcpy(&d, xq.data() + b * 292, 4);
          const auto* qs = reinterpret_cast<const int8_t*>(xq.data() + b * 292 + 4);
          for (int j = 0; j < 256; ++j) xf[b * 256 + j] = d * qs[j];
        }
      }
      double ref = 0, mag = 0;
      for (int64_t i = 0; i < n; ++i) {
        ref += static_cast<double>(wf[i]) * xf[i];
        mag += std::fabs(static_cast<double>(wf[i]) * xf[i]);
      }
      EXPECT_NEAR(k->dot(w.data(), xq.data(), n), ref, 1e-5 * mag) << type_name(t);
    }
  }
}

}  // namespace
}  // namespace tessera

namespace tessera {
namespace {

TEST(VecDot, FourRowKernelsEqualSingleRowKernelsBitForBit) {
  std::mt19937 rng(13);
  std::normal_distribution<float> normal(0.0f, 1.0f);
  for (GgmlType t : {GgmlType::Q4_0, GgmlType::Q5_0, GgmlType::Q8_0, GgmlType::Q4_K, GgmlType::Q6_K}) {
    const VecDotKernel* k = find_vec_dot(t);
    ASSERT_NE(k, nullptr);
    if (k->dot4 == nullptr) continue;  // e.g. TESSERA_ISA=scalar
    const int64_t n = 768;
    auto w = random_weights(t, 1, n, rng);
    const int64_t stride = k->activation_row_bytes(n);
    std::vector<uint8_t> xq(static_cast<size_t>(4 * stride));
    std::vector<float> x(n);
    for (int r = 0; r < 4; ++r) {
      for (auto& v : x) v = normal(rng);
      k->quantize_activation(x.data(), xq.data() + r * stride, n);
    }
    float four[4];
    k->dot4(w.data(), xq.data(), stride, n, four);
    for (int r = 0; r < 4; ++r) {
      const float one = k->dot(w.data(), xq.data() + r * stride, n);
      EXPECT_EQ(std::memcmp(&one, &four[r], sizeof(float)), 0) << type_name(t) << " row " << r;
    }
  }
}

}  // namespace
}  // namespace tessera

namespace tessera {
namespace {

TEST(VecDot, FourWeightRowKernelsEqualSingleRowKernelsBitForBit) {
  std::mt19937 rng(17);
  std::normal_distribution<float> normal(0.0f, 1.0f);
  for (GgmlType t : {GgmlType::Q4_0, GgmlType::Q5_0, GgmlType::Q8_0}) {
    const VecDotKernel* k = find_vec_dot(t);
    ASSERT_NE(k, nullptr);
    if (k->rows4 == nullptr) continue;  // e.g. TESSERA_ISA=scalar
    const int64_t n = 640;
    auto w = random_weights(t, 4, n, rng);
    const int64_t stride = row_bytes(t, n);
    std::vector<float> x(n);
    for (auto& v : x) v = normal(rng);
    std::vector<uint8_t> xq(static_cast<size_t>(k->activation_row_bytes(n)));
    k->quantize_activation(x.data(), xq.data(), n);
    float four[4];
    k->rows4(w.data(), stride, xq.data(), n, four);
    for (int r = 0; r < 4; ++r) {
      const float one = k->dot(w.data() + r * stride, xq.data(), n);
      EXPECT_EQ(std::memcmp(&one, &four[r], sizeof(float)), 0) << type_name(t) << " row " << r;
    }
  }
}

}  // namespace
}  // namespace tessera
