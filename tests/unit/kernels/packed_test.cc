// Packed 16-row kernels (kernels/packed.h): the layout keeps every weight (the
// scalar reference, which reads the packed bytes, agrees with the GGUF row
// kernels within float rounding), the AVX-512 kernels equal the scalar
// reference bit for bit, and results do not depend on how many tokens or
// threads share a call.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <random>
#include <vector>

#include "core/error.h"
#include "kernels/cpu_features.h"
#include "kernels/matmul.h"
#include "kernels/packed.h"
#include "kernels/vec_dot.h"
#include "quant/dequantize.h"
#include "test_weights.h"

namespace tessera {
namespace {

using testing::random_floats;
using testing::random_weights;

constexpr GgmlType kPackedTypes[] = {GgmlType::Q4_0, GgmlType::Q5_0, GgmlType::Q8_0, GgmlType::Q4_K, GgmlType::Q6_K};

struct Case {
  std::vector<uint8_t> data;
  WeightMatrix w;
  PackedMatrix packed;
};

Case make_case(GgmlType type, int64_t rows, int64_t cols, std::mt19937& rng, ThreadPool& pool) {
  Case c;
  c.data = random_weights(type, rows, cols, rng);
  c.w = WeightMatrix{type, rows, cols, c.data.data(), row_bytes(type, cols)};
  c.packed = pack_matrix(*find_packed_kernel_scalar(type), c.w, pool);
  return c;
}

// y = packed W x through kernel k, token rows prepared by k.
std::vector<float> run_kernel(const PackedKernel& k, const Case& c, const std::vector<float>& x, int64_t n_tokens) {
  const int64_t xp_row = k.prepared_row_bytes(c.w.cols);
  std::vector<uint8_t> xp(static_cast<size_t>(xp_row * n_tokens));
  for (int64_t t = 0; t < n_tokens; ++t) k.prepare(x.data() + t * c.w.cols, xp.data() + t * xp_row, c.w.cols);
  std::vector<float> y(static_cast<size_t>(n_tokens * c.w.rows), NAN);
  const int64_t group_bytes = k.group_bytes(c.w.cols);
  for (int64_t g = 0; g * kPackRows < c.w.rows; ++g) {
    const int n_rows = static_cast<int>(std::min<int64_t>(kPackRows, c.w.rows - g * kPackRows));
    k.gemm(c.packed.data.get() + g * group_bytes, c.w.cols, xp.data(), xp_row, n_tokens, y.data() + g * kPackRows,
           c.w.rows, n_rows);
  }
  return y;
}

bool same_bits(const std::vector<float>& a, const std::vector<float>& b) {
  return a.size() == b.size() && std::memcmp(a.data(), b.data(), a.size() * sizeof(float)) == 0;
}

TEST(Packed, ScalarReferenceAgreesWithRowKernels) {
  std::mt19937 rng(3);
  ThreadPool pool(2);
  for (GgmlType type : kPackedTypes) {
    for (int64_t rows : {16, 37}) {  // 37: a padded last group
      const int64_t cols = 512;
      Case c = make_case(type, rows, cols, rng, pool);
      const int64_t n_tokens = 5;
      const auto x = random_floats(n_tokens * cols, rng);
      const auto packed = run_kernel(*find_packed_kernel_scalar(type), c, x, n_tokens);
      std::vector<float> row_kernels(packed.size());
      matmul(c.w, x.data(), n_tokens, row_kernels.data(), pool, IsaLevel::kScalar);
      // Same integer products, different float order: the two agree to float
      // rounding of the sum of |terms| (a layout error would be O(1) off).
      std::vector<float> deq(static_cast<size_t>(cols));
      for (int64_t r = 0; r < rows; ++r) {
        dequantize_row(type, c.w.data + r * c.w.row_stride, deq.data(), cols);
        for (int64_t t = 0; t < n_tokens; ++t) {
          double magnitude = 0;
          for (int64_t i = 0; i < cols; ++i) magnitude += std::fabs(deq[i] * x[t * cols + i]);
          const float a = packed[t * rows + r], b = row_kernels[t * rows + r];
          EXPECT_NEAR(a, b, 1e-5 * magnitude + 1e-6) << type_name(type) << " row " << r << " token " << t;
        }
      }
    }
  }
}

// The SIMD levels this CPU (and TESSERA_ISA) can run that have packed kernels.
std::vector<IsaLevel> simd_levels() {
  std::vector<IsaLevel> levels;
  for (IsaLevel l : {IsaLevel::kAvx2, IsaLevel::kAvx512}) {
    if (l <= cpu_features().level) levels.push_back(l);
  }
  return levels;
}

TEST(Packed, SimdKernelsEqualScalarReferenceBitForBit) {
  if (simd_levels().empty()) GTEST_SKIP() << "no AVX2 on this CPU: the packed kernels are not used here";
  std::mt19937 rng(5);
  ThreadPool pool(1);
  for (IsaLevel level : simd_levels()) {
    for (GgmlType type : kPackedTypes) {
      const PackedKernel* simd = find_packed_kernel(type, level);
      ASSERT_NE(simd, nullptr) << type_name(type);
      ASSERT_EQ(simd->isa, level);
      for (int64_t rows : {16, 45}) {
        for (int64_t cols : {256, 768}) {
          Case c = make_case(type, rows, cols, rng, pool);
          for (int64_t n_tokens : {1, 2, 3, 4, 5, 6, 7, 8, 9, 11}) {  // every tile width and remainder
            const auto x = random_floats(n_tokens * cols, rng);
            EXPECT_TRUE(same_bits(run_kernel(*simd, c, x, n_tokens),
                                  run_kernel(*find_packed_kernel_scalar(type), c, x, n_tokens)))
                << isa_level_name(level) << " " << type_name(type) << " " << rows << "x" << cols << ", " << n_tokens
                << " tokens";
          }
        }
      }
    }
  }
}

// The largest integer partial sums a kernel can meet: every quant byte 0xFF
// (the largest unsigned 4/5/6-bit weights; Q8_0's 0xFF is -1, so its bytes are
// 0x80 = -128 instead) against activations that all quantize to ±127 or -128
// with the weights' sign. The AVX2 kernels add maddubs pairs in int16 before
// widening; a saturated sum would show here as a difference from the scalar
// reference, which sums in int32.
TEST(Packed, SimdKernelsExactAtExtremeValues) {
  if (simd_levels().empty()) GTEST_SKIP() << "no AVX2 on this CPU";
  std::mt19937 rng(11);
  ThreadPool pool(1);
  const int64_t rows = 16, cols = 512;
  for (IsaLevel level : simd_levels()) {
    for (GgmlType type : kPackedTypes) {
      Case c = make_case(type, rows, cols, rng, pool);
      const TypeTraits& tt = type_traits(type);
      const uint8_t fill = type == GgmlType::Q8_0 ? 0x80 : 0xFF;
      std::vector<bool> is_scale(static_cast<size_t>(tt.block_bytes), false);
      for (int off : testing::fp16_scale_offsets(type)) is_scale[off] = is_scale[off + 1] = true;
      for (size_t i = 0; i < c.data.size(); ++i) {
        if (!is_scale[i % tt.block_bytes]) c.data[i] = fill;
      }
      c.packed = pack_matrix(*find_packed_kernel_scalar(type), c.w, pool);
      for (float sign : {1.0f, -1.0f}) {
        const std::vector<float> x(static_cast<size_t>(cols), sign);
        EXPECT_TRUE(same_bits(run_kernel(*find_packed_kernel(type, level), c, x, 1),
                              run_kernel(*find_packed_kernel_scalar(type), c, x, 1)))
            << isa_level_name(level) << " " << type_name(type) << " x = " << sign;
      }
    }
  }
}

// Through matmul(): a token's result is the same bits alone, in a batch, in
// any thread split (the serving engine's batch invariance), and shared-input
// calls equal separate ones.
TEST(Packed, MatmulIsBatchAndThreadInvariant) {
  if (simd_levels().empty()) GTEST_SKIP() << "no AVX2 on this CPU: the packed kernels are not used here";
  std::mt19937 rng(7);
  ThreadPool one(1);
  for (GgmlType type : kPackedTypes) {
    const int64_t rows = 72, cols = 512, n_tokens = 11;
    Case c = make_case(type, rows, cols, rng, one);
    c.w.packed = c.packed.data.get();
    c.w.packed_kernel = find_packed_kernel(type);
    const auto x = random_floats(n_tokens * cols, rng);
    std::vector<float> alone(static_cast<size_t>(n_tokens * rows));
    for (int64_t t = 0; t < n_tokens; ++t) {
      matmul(c.w, x.data() + t * cols, 1, alone.data() + t * rows, one, SumOrder::kLlamaCpp);
    }
    for (int threads : {1, 2, 3}) {
      ThreadPool pool(threads);
      std::vector<float> batched(alone.size(), NAN);
      matmul(c.w, x.data(), n_tokens, batched.data(), pool, SumOrder::kLlamaCpp);
      EXPECT_TRUE(same_bits(batched, alone)) << type_name(type) << ", " << threads << " threads";
      // Two matrices sharing the input in one job.
      std::vector<float> y0(alone.size(), NAN), y1(alone.size(), NAN);
      const WeightMatrix* ws[] = {&c.w, &c.w};
      float* ys[] = {y0.data(), y1.data()};
      matmul_shared_input(ws, x.data(), n_tokens, ys, pool);
      EXPECT_TRUE(same_bits(y0, alone) && same_bits(y1, alone)) << type_name(type) << " shared input";
    }
  }
}

// unpack_row is pack_group's inverse: every row of every group comes back as
// the GGUF bytes it was packed from, so a tied embedding table can be read
// from the packed copy (matrix_row_bytes) with the file's pages released.
TEST(Packed, UnpackRowRestoresTheGgufBytes) {
  std::mt19937 rng(13);
  ThreadPool pool(1);
  for (GgmlType type : kPackedTypes) {
    const int64_t rows = 45, cols = 512;
    Case c = make_case(type, rows, cols, rng, pool);
    c.w.packed = c.packed.data.get();
    c.w.packed_kernel = find_packed_kernel_scalar(type);
    std::vector<uint8_t> buf(static_cast<size_t>(c.w.row_stride));
    for (int64_t r = 0; r < rows; ++r) {
      const uint8_t* row = matrix_row_bytes(c.w, r, buf.data());
      ASSERT_EQ(row, buf.data());
      EXPECT_EQ(std::memcmp(row, c.data.data() + r * c.w.row_stride, buf.size()), 0) << type_name(type) << " row " << r;
    }
  }
}

TEST(Packed, RejectsMismatchedMatrices) {
  std::mt19937 rng(9);
  ThreadPool pool(1);
  auto data = random_weights(GgmlType::Q4_0, 16, 64, rng);
  const WeightMatrix w{GgmlType::Q4_0, 16, 64, data.data(), row_bytes(GgmlType::Q4_0, 64)};
  EXPECT_THROW(pack_matrix(*find_packed_kernel_scalar(GgmlType::Q8_0), w, pool), InvalidArgument);
  EXPECT_EQ(find_packed_kernel_scalar(GgmlType::F16), nullptr);
  EXPECT_EQ(find_packed_kernel(GgmlType::Q4_0, IsaLevel::kScalar), nullptr);  // below AVX2: row kernels
  EXPECT_EQ(find_packed_kernel(GgmlType::Q4_1, IsaLevel::kAvx2), nullptr);    // no packed layout
}

}  // namespace
}  // namespace tessera
