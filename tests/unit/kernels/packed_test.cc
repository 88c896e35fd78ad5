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
#include "kernels/packed_impl.h"
#include "kernels/vec_dot.h"
#include "quant/dequantize.h"
#include "test_weights.h"

namespace tessera {
namespace {

using testing::random_floats;
using testing::random_weights;

constexpr GgmlType kPackedTypes[] = {GgmlType::Q4_0, GgmlType::Q5_0, GgmlType::Q8_0, GgmlType::Q4_K, GgmlType::Q5_K,
                                     GgmlType::Q6_K, GgmlType::Q3_K, GgmlType::Q4_1, GgmlType::Q5_1,
                                     GgmlType::Q2_K, GgmlType::F16, GgmlType::BF16};

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

// The K types' two ways of adding a super-block's scaled sub-block sums
// (KSums, packed.h) give the same bits while the partial sums stay below 2^24,
// as they do for random weights and activations; both references pack alike.
TEST(Packed, KSumOrdersAgreeBelowTwoToTheTwentyFour) {
  std::mt19937 rng(13);
  ThreadPool pool(1);
  for (GgmlType type : {GgmlType::Q4_K, GgmlType::Q5_K, GgmlType::Q6_K, GgmlType::Q3_K, GgmlType::Q2_K}) {
    const PackedKernel* int_sums = find_packed_kernel_scalar(type, KSums::kInt32);
    const PackedKernel* float_sums = find_packed_kernel_scalar(type, KSums::kFloat);
    ASSERT_NE(int_sums, nullptr);
    ASSERT_NE(float_sums, nullptr);
    EXPECT_EQ(float_sums->k_sums, KSums::kFloat);
    EXPECT_EQ(&packed_reference(*float_sums), float_sums);
    Case c = make_case(type, 45, 768, rng, pool);
    const auto x = random_floats(7 * 768, rng);
    EXPECT_TRUE(same_bits(run_kernel(*int_sums, c, x, 7), run_kernel(*float_sums, c, x, 7))) << type_name(type);
  }
  EXPECT_EQ(find_packed_kernel_scalar(GgmlType::Q4_0, KSums::kFloat), nullptr);  // legacy types have one order
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
          // Every tile width, streaming, walking the group or reading its
          // unpacked lanes (9 tokens and more: 5 + 4, ..., 6 + 6 + 5, ...).
          for (int64_t n_tokens : {1, 2, 3, 4, 5, 6, 7, 8, 9, 11, 16, 17, 29}) {
            const auto x = random_floats(n_tokens * cols, rng);
            EXPECT_TRUE(same_bits(run_kernel(*simd, c, x, n_tokens), run_kernel(packed_reference(*simd), c, x, n_tokens)))
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
      // Integer saturation only: all-ones float weights would be NaNs.
      if (type == GgmlType::F16 || type == GgmlType::BF16) continue;
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
        const PackedKernel& simd = *find_packed_kernel(type, level);
        EXPECT_TRUE(same_bits(run_kernel(simd, c, x, 1), run_kernel(packed_reference(simd), c, x, 1)))
            << isa_level_name(level) << " " << type_name(type) << " x = " << sign;
      }
    }
  }
}

// Near the largest sums (every quant byte one of 0xEE, 0xEF, 0xFE, 0xFF, all
// scales at their largest, activations all 1) the K types' partial sums pass
// 2^24 with arbitrary low bits: the two KSums orders then round differently,
// and each SIMD kernel must still equal the reference of its own order.
// (Q3_K and Q2_K cannot get there: their |S| stays below 2^23.)
TEST(Packed, KSumOrdersDifferOnlyByRoundingAtTheExtremes) {
  std::mt19937 rng(17);
  ThreadPool pool(1);
  const int64_t rows = 32, cols = 2048;
  for (GgmlType type : {GgmlType::Q4_K, GgmlType::Q5_K, GgmlType::Q6_K}) {
    Case c = make_case(type, rows, cols, rng, pool);
    const TypeTraits& tt = type_traits(type);
    std::vector<bool> is_scale(static_cast<size_t>(tt.block_bytes), false);
    for (int off : testing::fp16_scale_offsets(type)) is_scale[off] = is_scale[off + 1] = true;
    const uint8_t near_max[] = {0xEE, 0xEF, 0xFE, 0xFF};
    for (size_t i = 0; i < c.data.size(); ++i) {
      // Q6_K's int8 scales: 0x7F, the largest positive one.
      const bool q6k_scale = type == GgmlType::Q6_K && i % tt.block_bytes >= 192 && i % tt.block_bytes < 208;
      if (q6k_scale) {
        c.data[i] = 0x7F;
      } else if (!is_scale[i % tt.block_bytes]) {
        c.data[i] = near_max[rng() % 4];
      }
    }
    c.packed = pack_matrix(*find_packed_kernel_scalar(type), c.w, pool);
    const std::vector<float> x(static_cast<size_t>(cols), 1.0f);
    const auto int_sums = run_kernel(*find_packed_kernel_scalar(type, KSums::kInt32), c, x, 1);
    const auto float_sums = run_kernel(*find_packed_kernel_scalar(type, KSums::kFloat), c, x, 1);
    EXPECT_FALSE(same_bits(int_sums, float_sums)) << type_name(type) << ": the orders should differ here";
    for (int64_t r = 0; r < rows; ++r) {
      EXPECT_NEAR(float_sums[r], int_sums[r], 1e-6 * std::fabs(int_sums[r])) << type_name(type) << " row " << r;
    }
    for (IsaLevel level : simd_levels()) {
      const PackedKernel& simd = *find_packed_kernel(type, level);
      EXPECT_TRUE(same_bits(run_kernel(simd, c, x, 1), run_kernel(packed_reference(simd), c, x, 1)))
          << isa_level_name(level) << " " << type_name(type);
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
  EXPECT_EQ(find_packed_kernel_scalar(GgmlType::F32), nullptr);
  EXPECT_EQ(find_packed_kernel(GgmlType::Q4_0, IsaLevel::kScalar), nullptr);  // below AVX2: row kernels
  EXPECT_EQ(find_packed_kernel(GgmlType::F32, IsaLevel::kAvx2), nullptr);     // no packed layout
}

// ---- row-scaled kernels (one scale per weight row and per token) ---------

constexpr GgmlType kRowScaledTypes[] = {GgmlType::Q4_0, GgmlType::Q8_0};

// Random Q4_0 / Q8_0 rows whose blocks all carry their row's first scale
// (what `quantize --per-channel` writes).
Case make_row_scaled_case(GgmlType type, int64_t rows, int64_t cols, std::mt19937& rng, ThreadPool& pool) {
  Case c;
  c.data = random_weights(type, rows, cols, rng);
  const int64_t stride = row_bytes(type, cols), block = type_traits(type).block_bytes;
  for (int64_t r = 0; r < rows; ++r) {
    for (int64_t b = 1; b < cols / 32; ++b) std::memcpy(c.data.data() + r * stride + b * block, c.data.data() + r * stride, 2);
  }
  c.w = WeightMatrix{type, rows, cols, c.data.data(), stride};
  c.packed = pack_matrix(*find_row_scaled_kernel_scalar(type), c.w, pool);
  return c;
}

TEST(RowScaled, PreparedTokenIsOneScaleAndRoundToNearestEven) {
  std::mt19937 rng(17);
  const PackedKernel& k = *find_row_scaled_kernel_scalar(GgmlType::Q4_0);
  for (int64_t cols : {32, 512, 2080}) {
    const auto x = random_floats(cols, rng);
    std::vector<uint8_t> out(static_cast<size_t>(k.prepared_row_bytes(cols)), 0xAA);
    k.prepare(x.data(), out.data(), cols);
    float amax = 0.0f;
    for (float v : x) amax = std::max(amax, std::fabs(v));
    const float d = amax / 127.0f, id = 1.0f / d;
    int32_t sum = 0;
    for (int64_t i = 0; i < cols; ++i) {
      const int expected = static_cast<int>(std::nearbyint(x[i] * id));
      EXPECT_EQ(static_cast<int8_t>(out[i]), expected) << "column " << i << " of " << cols;
      sum += expected;
    }
    float got_d;
    int32_t got_sum;
    std::memcpy(&got_d, out.data() + cols, 4);
    std::memcpy(&got_sum, out.data() + cols + 4, 4);
    EXPECT_EQ(got_d, d);
    EXPECT_EQ(got_sum, sum);
  }
  // A zero row: scale 0 and zero quants, no division by zero.
  std::vector<float> zeros(64, 0.0f);
  std::vector<uint8_t> out(static_cast<size_t>(k.prepared_row_bytes(64)), 0xAA);
  k.prepare(zeros.data(), out.data(), 64);
  for (int i = 0; i < 72; ++i) EXPECT_EQ(out[i], 0) << i;
}

// The scalar reference is the exact integer dot of the stored quants, scaled
// once: against a double-precision sum of the dequantized row times the
// prepared (rounded) activations it differs only by float rounding.
TEST(RowScaled, ScalarReferenceIsTheRowDotOfTheRoundedValues) {
  std::mt19937 rng(19);
  ThreadPool pool(1);
  for (GgmlType type : kRowScaledTypes) {
    const int64_t rows = 37, cols = 512, n_tokens = 3;
    Case c = make_row_scaled_case(type, rows, cols, rng, pool);
    const PackedKernel& k = *find_row_scaled_kernel_scalar(type);
    const auto x = random_floats(n_tokens * cols, rng);
    const auto y = run_kernel(k, c, x, n_tokens);
    std::vector<uint8_t> xp(static_cast<size_t>(k.prepared_row_bytes(cols)));
    std::vector<float> deq(static_cast<size_t>(cols));
    for (int64_t t = 0; t < n_tokens; ++t) {
      k.prepare(x.data() + t * cols, xp.data(), cols);
      float dx;
      std::memcpy(&dx, xp.data() + cols, 4);
      for (int64_t r = 0; r < rows; ++r) {
        dequantize_row(type, c.w.data + r * c.w.row_stride, deq.data(), cols);
        double exact = 0, magnitude = 0;
        for (int64_t i = 0; i < cols; ++i) {
          const double term = static_cast<double>(deq[i]) * static_cast<int8_t>(xp[i]) * dx;
          exact += term;
          magnitude += std::fabs(term);
        }
        EXPECT_NEAR(y[t * rows + r], exact, 1e-6 * magnitude + 1e-9) << type_name(type) << " row " << r;
      }
    }
  }
}

TEST(RowScaled, SimdKernelsEqualScalarReferenceBitForBit) {
  if (simd_levels().empty()) GTEST_SKIP() << "no AVX2 on this CPU: the packed kernels are not used here";
  std::mt19937 rng(23);
  ThreadPool pool(1);
  for (IsaLevel level : simd_levels()) {
    for (GgmlType type : kRowScaledTypes) {
      const PackedKernel* simd = find_row_scaled_kernel(type, level);
      ASSERT_NE(simd, nullptr) << type_name(type);
      ASSERT_EQ(simd->isa, level);
      EXPECT_EQ(simd->scales, PackedScales::kRowToken);
      for (int64_t rows : {16, 45}) {
        for (int64_t cols : {256, 800}) {
          Case c = make_row_scaled_case(type, rows, cols, rng, pool);
          for (int64_t n_tokens : {1, 2, 3, 4, 5, 7, 8, 10, 16}) {  // every tile width, streaming or not
            const auto x = random_floats(n_tokens * cols, rng);
            EXPECT_TRUE(same_bits(run_kernel(*simd, c, x, n_tokens),
                                  run_kernel(*find_row_scaled_kernel_scalar(type), c, x, n_tokens)))
                << isa_level_name(level) << " " << type_name(type) << " " << rows << "x" << cols << ", " << n_tokens
                << " tokens";
          }
        }
      }
    }
  }
}

// The largest sums a row can reach (every weight at its grid's end, every
// activation at +-127 with the weights' sign) over the widest row the kernels
// take: no int16 pair saturates and the int32 row sum does not wrap.
TEST(RowScaled, SimdKernelsExactAtExtremeValues) {
  if (simd_levels().empty()) GTEST_SKIP() << "no AVX2 on this CPU";
  std::mt19937 rng(29);
  ThreadPool pool(1);
  for (GgmlType type : kRowScaledTypes) {
    for (int64_t cols : {int64_t{512}, packed::kRowScaledMaxCols}) {
      Case c = make_row_scaled_case(type, 16, cols, rng, pool);
      const int64_t block = type_traits(type).block_bytes;
      const uint8_t fill = type == GgmlType::Q8_0 ? 0x80 : 0xFF;
      for (size_t i = 0; i < c.data.size(); ++i) {
        if (i % block >= 2) c.data[i] = fill;
      }
      c.packed = pack_matrix(*find_row_scaled_kernel_scalar(type), c.w, pool);
      for (IsaLevel level : simd_levels()) {
        for (float sign : {1.0f, -1.0f}) {
          const std::vector<float> x(static_cast<size_t>(cols), sign);
          const auto simd = run_kernel(*find_row_scaled_kernel(type, level), c, x, 1);
          EXPECT_TRUE(same_bits(simd, run_kernel(*find_row_scaled_kernel_scalar(type), c, x, 1)))
              << isa_level_name(level) << " " << type_name(type) << " " << cols << " columns, x = " << sign;
          // And the value itself: every product is (q_max or -128) · 127 · sign.
          float d;
          std::memcpy(&d, c.packed.data.get(), 4);
          const double q = type == GgmlType::Q8_0 ? -128.0 : 7.0;
          EXPECT_NEAR(simd[0], q * 127.0 * sign * static_cast<double>(cols) * d * (1.0 / 127.0),
                      1e-5 * std::fabs(q * cols * d));
        }
      }
    }
  }
}

TEST(RowScaled, MatmulIsBatchAndThreadInvariant) {
  if (simd_levels().empty()) GTEST_SKIP() << "no AVX2 on this CPU";
  std::mt19937 rng(31);
  ThreadPool one(1);
  for (GgmlType type : kRowScaledTypes) {
    const int64_t rows = 72, cols = 512, n_tokens = 11;
    Case c = make_row_scaled_case(type, rows, cols, rng, one);
    c.w.packed_kernel = find_row_scaled_kernel(type, cpu_features().level);
    c.packed = pack_matrix(*c.w.packed_kernel, c.w, one);
    c.w.packed = c.packed.data.get();
    const auto x = random_floats(n_tokens * cols, rng);
    std::vector<float> alone(static_cast<size_t>(n_tokens * rows));
    for (int64_t t = 0; t < n_tokens; ++t) matmul(c.w, x.data() + t * cols, 1, alone.data() + t * rows, one);
    for (int threads : {1, 2, 3}) {
      ThreadPool pool(threads);
      std::vector<float> batched(alone.size(), NAN);
      matmul(c.w, x.data(), n_tokens, batched.data(), pool);
      EXPECT_TRUE(same_bits(batched, alone)) << type_name(type) << ", " << threads << " threads";
    }
    // Next to a per-block matrix on the same input: the activation formats
    // differ, so each keeps its own preparation (same bits as alone).
    Case block = make_case(type, rows, cols, rng, one);
    block.w.packed = block.packed.data.get();
    block.w.packed_kernel = find_packed_kernel(type);
    block.packed = pack_matrix(*block.w.packed_kernel, block.w, one);
    block.w.packed = block.packed.data.get();
    std::vector<float> block_alone(alone.size());
    matmul(block.w, x.data(), n_tokens, block_alone.data(), one);
    std::vector<float> y0(alone.size(), NAN), y1(alone.size(), NAN);
    const WeightMatrix* ws[] = {&c.w, &block.w};
    float* ys[] = {y0.data(), y1.data()};
    ThreadPool two(2);
    matmul_shared_input(ws, x.data(), n_tokens, ys, two);
    EXPECT_TRUE(same_bits(y0, alone) && same_bits(y1, block_alone)) << type_name(type) << " shared input";
  }
}

TEST(RowScaled, UnpackRowRestoresTheGgufBytes) {
  std::mt19937 rng(37);
  ThreadPool pool(1);
  for (GgmlType type : kRowScaledTypes) {
    const int64_t rows = 45, cols = 512;
    Case c = make_row_scaled_case(type, rows, cols, rng, pool);
    c.w.packed = c.packed.data.get();
    c.w.packed_kernel = find_row_scaled_kernel_scalar(type);
    std::vector<uint8_t> buf(static_cast<size_t>(c.w.row_stride));
    for (int64_t r = 0; r < rows; ++r) {
      EXPECT_EQ(std::memcmp(matrix_row_bytes(c.w, r, buf.data()), c.data.data() + r * c.w.row_stride, buf.size()), 0)
          << type_name(type) << " row " << r;
    }
  }
}

TEST(RowScaled, OnlyMatricesWithOneScalePerRow) {
  std::mt19937 rng(41);
  ThreadPool pool(1);
  Case row_scaled = make_row_scaled_case(GgmlType::Q4_0, 16, 256, rng, pool);
  EXPECT_TRUE(has_row_scales(row_scaled.w));
  // One block with another scale: the per-block kernel, and packing it with
  // the row-scaled one is refused rather than silently wrong.
  row_scaled.data[row_bytes(GgmlType::Q4_0, 256) * 5 + 18 * 3] ^= 1;
  EXPECT_FALSE(has_row_scales(row_scaled.w));
  EXPECT_THROW(pack_matrix(*find_row_scaled_kernel_scalar(GgmlType::Q4_0), row_scaled.w, pool), InvalidArgument);
  // Types without a row-scaled kernel.
  auto k_data = random_weights(GgmlType::Q4_K, 16, 256, rng);
  const WeightMatrix k_matrix{GgmlType::Q4_K, 16, 256, k_data.data(), row_bytes(GgmlType::Q4_K, 256)};
  EXPECT_FALSE(has_row_scales(k_matrix));
  EXPECT_EQ(find_row_scaled_kernel_scalar(GgmlType::Q4_K), nullptr);
  EXPECT_EQ(find_row_scaled_kernel(GgmlType::Q4_0, IsaLevel::kScalar), nullptr);  // below AVX2
  // A row too long for an exact int32 row sum.
  auto wide = random_weights(GgmlType::Q8_0, 1, 2 * packed::kRowScaledMaxCols, rng);
  const int64_t blocks = 2 * packed::kRowScaledMaxCols / 32;
  for (int64_t b = 1; b < blocks; ++b) std::memcpy(wide.data() + 34 * b, wide.data(), 2);
  const WeightMatrix wide_matrix{GgmlType::Q8_0, 1, 2 * packed::kRowScaledMaxCols, wide.data(),
                                 row_bytes(GgmlType::Q8_0, 2 * packed::kRowScaledMaxCols)};
  EXPECT_FALSE(has_row_scales(wide_matrix));
}

}  // namespace
}  // namespace tessera
