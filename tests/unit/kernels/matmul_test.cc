// matmul and the vec-dot kernels behind it: every weight type on every
// instruction-set path this CPU runs, against the float reference and against
// each other.
#include "kernels/matmul.h"

#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <random>
#include <string>
#include <vector>

#include "kernels/cpu_features.h"
#include "kernels/vec_dot.h"
#include "quant/blocks.h"
#include "quant/dequantize.h"
#include "quant/half.h"
#include "test_weights.h"

namespace tessera {
namespace {

using testing::random_weights;

const GgmlType kAllTypes[] = {GgmlType::F32,  GgmlType::F16,  GgmlType::BF16, GgmlType::Q4_0, GgmlType::Q4_1,
                              GgmlType::Q5_0, GgmlType::Q5_1, GgmlType::Q8_0, GgmlType::Q2_K, GgmlType::Q3_K,
                              GgmlType::Q4_K, GgmlType::Q5_K, GgmlType::Q6_K};
const GgmlType kSimdTypes[] = {GgmlType::Q4_0, GgmlType::Q5_0, GgmlType::Q8_0, GgmlType::Q4_K, GgmlType::Q6_K};

// The levels this machine can run (the scalar level always).
std::vector<IsaLevel> runnable_levels() {
  std::vector<IsaLevel> levels;
  for (IsaLevel l : {IsaLevel::kScalar, IsaLevel::kAvx2, IsaLevel::kAvx512}) {
    if (l <= cpu_features().level) levels.push_back(l);
  }
  return levels;
}

std::vector<float> random_floats(int64_t n, std::mt19937& rng) {
  std::normal_distribution<float> normal(0.0f, 1.0f);
  std::vector<float> x(static_cast<size_t>(n));
  for (auto& v : x) v = normal(rng);
  return x;
}

// One weight row of `type` and four activation rows quantized by k, laid out
// as the four-token kernels (dot4, batched_dot4) take them.
struct FourTokenCase {
  std::vector<uint8_t> w, xq;
  int64_t stride;
};
FourTokenCase four_token_case(const VecDotKernel& k, GgmlType type, int64_t n, std::mt19937& rng) {
  FourTokenCase c{random_weights(type, 1, n, rng), {}, k.activation_row_bytes(n)};
  c.xq.resize(static_cast<size_t>(4 * c.stride));
  for (int r = 0; r < 4; ++r) k.quantize_activation(random_floats(n, rng).data(), c.xq.data() + r * c.stride, n);
  return c;
}

// The float value of a quantized activation row (what the kernels multiply).
std::vector<float> dequantize_activation(GgmlType t, const uint8_t* xq, int64_t n) {
  std::vector<float> xf(static_cast<size_t>(n));
  switch (t) {
    case GgmlType::Q8_1:
      for (int64_t b = 0; b < n / kQK; ++b) {
        const auto& blk = reinterpret_cast<const BlockQ8_1*>(xq)[b];
        for (int j = 0; j < kQK; ++j) xf[b * kQK + j] = fp16_to_fp32(blk.d) * blk.qs[j];
      }
      break;
    case GgmlType::Q8_K:
      for (int64_t b = 0; b < n / kQKK; ++b) {
        const auto& blk = reinterpret_cast<const BlockQ8_K*>(xq)[b];
        for (int j = 0; j < kQKK; ++j) xf[b * kQKK + j] = blk.d * blk.qs[j];
      }
      break;
    default: dequantize_row(t, xq, xf.data(), n); break;  // Q8_0, F16, BF16, F32
  }
  return xf;
}

struct Case {
  GgmlType type;
  IsaLevel isa;
  int64_t cols;
};

std::vector<Case> all_cases() {
  std::vector<Case> cases;
  for (IsaLevel isa : {IsaLevel::kScalar, IsaLevel::kAvx2, IsaLevel::kAvx512}) {
    for (GgmlType t : kAllTypes) {
      const int64_t block = type_traits(t).block_size;
      // Block-32 types: a width that is not a multiple of 256.
      cases.push_back({t, isa, block == 256 ? 512 : 96});
      if (block == 32) cases.push_back({t, isa, 800});
    }
  }
  return cases;
}

class MatmulTest : public ::testing::TestWithParam<Case> {};

TEST_P(MatmulTest, AgreesWithFloatReference) {
  const Case c = GetParam();
  if (c.isa > cpu_features().level) GTEST_SKIP() << "CPU (or TESSERA_ISA) lacks " << isa_level_name(c.isa);
  std::mt19937 rng(7);
  const int64_t rows = 24;
  auto data = random_weights(c.type, rows, c.cols, rng);
  WeightMatrix w{c.type, rows, c.cols, data.data(), row_bytes(c.type, c.cols)};
  ThreadPool pool(2);
  for (int64_t n_tokens : {1, 3, 4, 17}) {
    auto x = random_floats(n_tokens * c.cols, rng);
    std::vector<float> ref(static_cast<size_t>(n_tokens * rows)), got(ref.size(), NAN);
    matmul_reference(w, x.data(), n_tokens, ref.data());
    matmul(w, x.data(), n_tokens, got.data(), pool, c.isa);
    double err = 0, norm = 0;
    for (size_t i = 0; i < ref.size(); ++i) {
      err += std::pow(static_cast<double>(got[i]) - ref[i], 2);
      norm += std::pow(static_cast<double>(ref[i]), 2);
    }
    // 8-bit activations carry about 0.4% relative rounding per element (fp16
    // and bf16 far less); as a norm over the result that stays under 2%.
    const double tolerance = (c.type == GgmlType::F32 ? 1e-6 : c.type == GgmlType::F16 ? 1e-3 : 2e-2);
    EXPECT_LE(std::sqrt(err), tolerance * std::sqrt(norm)) << "n_tokens=" << n_tokens;
  }
}

INSTANTIATE_TEST_SUITE_P(AllTypesAllIsas, MatmulTest, ::testing::ValuesIn(all_cases()), [](const auto& info) {
  return std::string(type_name(info.param.type)) + "_" + isa_level_name(info.param.isa) + "_" +
         std::to_string(info.param.cols);
});

TEST(Matmul, ThreadCountDoesNotChangeResults) {
  std::mt19937 rng(5);
  const int64_t rows = 37, cols = 512;
  for (GgmlType t : kSimdTypes) {
    auto data = random_weights(t, rows, cols, rng);
    WeightMatrix w{t, rows, cols, data.data(), row_bytes(t, cols)};
    auto x = random_floats(9 * cols, rng);
    std::vector<float> one(9 * rows), three(9 * rows);
    ThreadPool p1(1), p3(3);
    matmul(w, x.data(), 9, one.data(), p1);
    matmul(w, x.data(), 9, three.data(), p3);
    EXPECT_EQ(std::memcmp(one.data(), three.data(), one.size() * sizeof(float)), 0) << type_name(t);
  }
}

// SumOrder::kBatchInvariant: a token's result is bit-identical whether it is
// multiplied alone or among many tokens (including the counts at which
// llama.cpp's order switches kernel for Q4_K and Q6_K), for every type, both
// through matmul() and matmul_shared_input(). kLlamaCpp may differ there.
TEST(Matmul, BatchInvariantOrderDoesNotDependOnTokenCount) {
  std::mt19937 rng(29);
  const int64_t rows = 21, cols = 512;
  ThreadPool pool(2);
  for (GgmlType t : kAllTypes) {
    auto data = random_weights(t, rows, cols, rng);
    WeightMatrix w{t, rows, cols, data.data(), row_bytes(t, cols)};
    for (int64_t n_tokens : {4, 8, 13, 32}) {
      auto x = random_floats(n_tokens * cols, rng);
      std::vector<float> many(static_cast<size_t>(n_tokens * rows)), shared(many.size());
      matmul(w, x.data(), n_tokens, many.data(), pool, SumOrder::kBatchInvariant);
      const WeightMatrix* ws[] = {&w, &w};
      std::vector<float> other(many.size());
      float* ys[] = {shared.data(), other.data()};
      matmul_shared_input(ws, x.data(), n_tokens, ys, pool, SumOrder::kBatchInvariant);
      for (int64_t tok = 0; tok < n_tokens; ++tok) {
        std::vector<float> alone(static_cast<size_t>(rows));
        matmul(w, x.data() + tok * cols, 1, alone.data(), pool, SumOrder::kBatchInvariant);
        ASSERT_EQ(std::memcmp(alone.data(), many.data() + tok * rows, rows * sizeof(float)), 0)
            << type_name(t) << " token " << tok << " of " << n_tokens;
        ASSERT_EQ(std::memcmp(alone.data(), shared.data() + tok * rows, rows * sizeof(float)), 0)
            << type_name(t) << " shared-input token " << tok << " of " << n_tokens;
      }
    }
  }
}

TEST(VecDot, EveryWeightTypeHasAKernelAtEveryLevel) {
  for (GgmlType t : kAllTypes) {
    for (IsaLevel l : runnable_levels()) {
      const VecDotKernel* k = find_vec_dot(t, l);
      ASSERT_NE(k, nullptr) << type_name(t);
      EXPECT_LE(k->isa, l);
    }
  }
  EXPECT_EQ(find_vec_dot(GgmlType::Q8_K), nullptr);
}

// The integer kernels compute the dot product of the dequantized weights with
// the dequantized activations: only float rounding may differ.
TEST(VecDot, EqualsFloatDotOfDequantizedOperands) {
  std::mt19937 rng(11);
  std::normal_distribution<float> normal(0.0f, 1.0f);
  for (GgmlType t : kAllTypes) {
    for (IsaLevel l : runnable_levels()) {
      const VecDotKernel* k = find_vec_dot(t, l);
      const int64_t n = 512;
      auto w = random_weights(t, 1, n, rng);
      std::vector<float> x(n), wf(n);
      // Occasional outliers, as real activations have.
      for (auto& v : x) v = normal(rng) * (1.0f + 20.0f * (normal(rng) > 2.0f));
      std::vector<uint8_t> xq(static_cast<size_t>(k->activation_row_bytes(n)));
      k->quantize_activation(x.data(), xq.data(), n);
      dequantize_row(t, w.data(), wf.data(), n);
      const auto xf = dequantize_activation(k->activation_type, xq.data(), n);
      double ref = 0, mag = 0;
      for (int64_t i = 0; i < n; ++i) {
        ref += static_cast<double>(wf[i]) * xf[i];
        mag += std::fabs(static_cast<double>(wf[i]) * xf[i]);
      }
      // Q4_1 / Q5_1 use the fp16-rounded block sum for the min term.
      const double tol = (t == GgmlType::Q4_1 || t == GgmlType::Q5_1) ? 2e-3 : 1e-5;
      EXPECT_NEAR(k->dot(w.data(), xq.data(), n), ref, tol * mag) << type_name(t) << " " << isa_level_name(l);
    }
  }
}

// The AVX-512 kernels keep the AVX2 kernels' integer lanes and float order.
TEST(VecDot, Avx512KernelsEqualAvx2KernelsBitForBit) {
  if (cpu_features().level < IsaLevel::kAvx512) GTEST_SKIP() << "no AVX-512 VNNI";
  std::mt19937 rng(3);
  for (GgmlType t : kSimdTypes) {
    const VecDotKernel* a2 = find_vec_dot(t, IsaLevel::kAvx2);
    const VecDotKernel* a5 = find_vec_dot(t, IsaLevel::kAvx512);
    ASSERT_EQ(a2->isa, IsaLevel::kAvx2);
    ASSERT_EQ(a5->isa, IsaLevel::kAvx512);
    const int64_t n = 2048;
    auto w = random_weights(t, 1, n, rng);
    auto x = random_floats(n, rng);
    std::vector<uint8_t> xq(static_cast<size_t>(a2->activation_row_bytes(n)));
    a2->quantize_activation(x.data(), xq.data(), n);
    const float r2 = a2->dot(w.data(), xq.data(), n);
    const float r5 = a5->dot(w.data(), xq.data(), n);
    EXPECT_EQ(std::memcmp(&r2, &r5, sizeof(float)), 0) << type_name(t) << ": " << r2 << " vs " << r5;
  }
}

TEST(VecDot, SimdKernelsMatchScalarReference) {
  std::mt19937 rng(3);
  for (GgmlType t : kAllTypes) {
    const VecDotKernel* ref = find_vec_dot_scalar(t);
    for (IsaLevel l : runnable_levels()) {
      const VecDotKernel* fast = find_vec_dot(t, l);
      const int64_t n = 1024;
      auto w = random_weights(t, 1, n, rng);
      auto x = random_floats(n, rng);
      std::vector<uint8_t> xq(static_cast<size_t>(ref->activation_row_bytes(n)));
      ref->quantize_activation(x.data(), xq.data(), n);
      const float a = fast->dot(w.data(), xq.data(), n);
      const float b = ref->dot(w.data(), xq.data(), n);
      EXPECT_NEAR(a, b, 1e-4 * std::max(1.0f, std::fabs(b))) << type_name(t) << " " << isa_level_name(l);
    }
  }
}

TEST(VecDot, FourTokenKernelsEqualSingleTokenKernelsBitForBit) {
  std::mt19937 rng(13);
  for (GgmlType t : kSimdTypes) {
    for (IsaLevel l : runnable_levels()) {
      const VecDotKernel* k = find_vec_dot(t, l);
      if (k->dot4 == nullptr) continue;  // the scalar level has none
      const int64_t n = 768;
      auto [w, xq, stride] = four_token_case(*k, t, n, rng);
      float four[4];
      k->dot4(w.data(), xq.data(), stride, n, four);
      for (int r = 0; r < 4; ++r) {
        const float one = k->dot(w.data(), xq.data() + r * stride, n);
        EXPECT_EQ(std::memcmp(&one, &four[r], sizeof(float)), 0) << type_name(t) << " " << isa_level_name(l);
      }
    }
  }
}

// Batched kernels (llama.cpp's tiled K-quant float order): the four-token
// form equals the single-token form bit for bit, and the single-token form
// equals the order written out in scalar code: per block the exact integer
// sum of (q - 32) * scale * a, times the weight scale, then one fma with the
// activation scale into one accumulator.
TEST(VecDot, BatchedQ6kKernelsFollowTheBlockOrder) {
  std::mt19937 rng(19);
  int checked = 0;
  for (IsaLevel l : runnable_levels()) {
    const VecDotKernel* k = find_vec_dot(GgmlType::Q6_K, l);
    if (k->batched_dot == nullptr) continue;
    ASSERT_NE(k->batched_dot4, nullptr);
    EXPECT_EQ(k->batched_min_tokens, 8);
    const int64_t n = 1024;
    auto [w, xq, stride] = four_token_case(*k, GgmlType::Q6_K, n, rng);
    float four[4];
    k->batched_dot4(w.data(), xq.data(), stride, n, four);
    const auto* wb = reinterpret_cast<const BlockQ6_K*>(w.data());
    for (int r = 0; r < 4; ++r) {
      const auto* xb = reinterpret_cast<const BlockQ8_K*>(xq.data() + r * stride);
      float expected = 0.0f;
      for (int64_t b = 0; b < n / kQKK; ++b) {
        int32_t isum = 0;
        for (int i = 0; i < kQKK; ++i) {
          // Q6_K layout: 128-weight halves; within one, ql byte l (low / high
          // nibble) and qh bit pair 2 * (i / 32) give the code of weight i.
          const int half = i / 128, j = i % 128, l = j % 32, quarter = j / 32;
          const uint8_t ql = wb[b].ql[64 * half + l + 32 * (quarter & 1)];
          const int low = (quarter < 2) ? (ql & 0x0F) : (ql >> 4);
          const int high = (wb[b].qh[32 * half + l] >> (2 * quarter)) & 3;
          isum += wb[b].scales[i / 16] * (low + 16 * high - 32) * xb[b].qs[i];
        }
        const float scaled = static_cast<float>(isum) * half_to_float(wb[b].d);
        expected = std::fma(scaled, xb[b].d, expected);
      }
      const float one = k->batched_dot(w.data(), xq.data() + r * stride, n);
      EXPECT_EQ(std::memcmp(&one, &four[r], sizeof(float)), 0) << isa_level_name(l);
      EXPECT_EQ(std::memcmp(&one, &expected, sizeof(float)), 0) << isa_level_name(l) << ": " << one << " vs " << expected;
    }
    ++checked;
  }
  if (checked == 0) GTEST_SKIP() << "no batched Q6_K kernel at this CPU's levels";
}

// Q5_K (AVX2 kernels at every SIMD level, as in llama.cpp): the single-token
// kernel follows llama.cpp's x86 order (eight integer lanes per block, lane k
// holding elements 4k..4k+3 of every sub-block, an fma per lane and block,
// the mins in a separate scalar sum), the batched one ggml's tiled order (the
// block's integer sums, one fma per block); both written out in scalar code
// here, and the four-token forms equal the single-token ones bit for bit.
TEST(VecDot, Q5kKernelsFollowLlamaCppOrders) {
  std::mt19937 rng(23);
  int checked = 0;
  for (IsaLevel l : runnable_levels()) {
    const VecDotKernel* k = find_vec_dot(GgmlType::Q5_K, l);
    if (k->dot4 == nullptr) continue;  // the scalar level: generic order
    ASSERT_NE(k->batched_dot, nullptr);
    ASSERT_NE(k->batched_dot4, nullptr);
    EXPECT_EQ(k->batched_min_tokens, 8);
    const int64_t n = 1024;
    auto [w, xq, stride] = four_token_case(*k, GgmlType::Q5_K, n, rng);
    float four[4], four_blocks[4];
    k->dot4(w.data(), xq.data(), stride, n, four);
    k->batched_dot4(w.data(), xq.data(), stride, n, four_blocks);
    const auto* wb = reinterpret_cast<const BlockQ5_K*>(w.data());
    for (int r = 0; r < 4; ++r) {
      const auto* xb = reinterpret_cast<const BlockQ8_K*>(xq.data() + r * stride);
      float lanes[8] = {}, summs = 0.0f, blocks = 0.0f;
      for (int64_t b = 0; b < n / kQKK; ++b) {
        int32_t lane[8] = {}, s1 = 0, s2 = 0;
        for (int s = 0; s < 8; ++s) {
          uint8_t sc, m;
          q4k_scale_min(s, wb[b].scales, &sc, &m);
          s2 += m * (xb[b].bsums[2 * s] + xb[b].bsums[2 * s + 1]);
          for (int e = 0; e < 32; ++e) {
            // Sub-block s: nibble (s % 2) of qs byte 32·(s / 2) + e, fifth bit s of qh byte e.
            const uint8_t byte = wb[b].qs[32 * (s / 2) + e];
            const int q = ((s % 2 == 0) ? (byte & 0x0F) : (byte >> 4)) + 16 * ((wb[b].qh[e] >> s) & 1);
            const int32_t product = sc * q * xb[b].qs[32 * s + e];
            lane[e / 4] += product;
            s1 += product;
          }
        }
        const float dw = half_to_float(wb[b].d), dmin = half_to_float(wb[b].dmin);
        for (int i = 0; i < 8; ++i) lanes[i] = std::fma(xb[b].d * dw, static_cast<float>(lane[i]), lanes[i]);
        summs = std::fma(-(xb[b].d * dmin), static_cast<float>(s2), summs);
        blocks = std::fma(std::fma(-dmin, static_cast<float>(s2), static_cast<float>(s1) * dw), xb[b].d, blocks);
      }
      // hsum of eight lanes as the AVX2 reduction adds them.
      float quad[4];
      for (int i = 0; i < 4; ++i) quad[i] = lanes[i] + lanes[i + 4];
      const float expected = ((quad[0] + quad[2]) + (quad[1] + quad[3])) + summs;
      const float one = k->dot(w.data(), xq.data() + r * stride, n);
      const float one_blocks = k->batched_dot(w.data(), xq.data() + r * stride, n);
      EXPECT_EQ(std::memcmp(&one, &four[r], sizeof(float)), 0) << isa_level_name(l);
      EXPECT_EQ(std::memcmp(&one_blocks, &four_blocks[r], sizeof(float)), 0) << isa_level_name(l);
      EXPECT_EQ(std::memcmp(&one, &expected, sizeof(float)), 0) << isa_level_name(l) << ": " << one << " vs " << expected;
      EXPECT_EQ(std::memcmp(&one_blocks, &blocks, sizeof(float)), 0)
          << isa_level_name(l) << ": " << one_blocks << " vs " << blocks;
    }
    ++checked;
  }
  if (checked == 0) GTEST_SKIP() << "no SIMD Q5_K kernel at this CPU's levels";
}

// Q4_K's batched kernels (the order of llama.cpp's repacked q4_K_8x8 gemm):
// four-token form equals single-token form bit for bit, and both equal the
// order written out: per 64-weight pair of sub-blocks one fma of the exact
// integer sum with d x activation scale, another for the mins with dmin.
TEST(VecDot, BatchedQ4kKernelsFollowThePairOrder) {
  std::mt19937 rng(23);
  int checked = 0;
  for (IsaLevel l : runnable_levels()) {
    const VecDotKernel* k = find_vec_dot(GgmlType::Q4_K, l);
    if (k->batched_dot == nullptr) continue;
    ASSERT_NE(k->batched_dot4, nullptr);
    EXPECT_EQ(k->batched_min_tokens, 4);
    EXPECT_EQ(k->batched_group, 4);
    const int64_t n = 1024;
    auto [w, xq, stride] = four_token_case(*k, GgmlType::Q4_K, n, rng);
    float four[4];
    k->batched_dot4(w.data(), xq.data(), stride, n, four);
    const auto* wb = reinterpret_cast<const BlockQ4_K*>(w.data());
    for (int r = 0; r < 4; ++r) {
      const auto* xb = reinterpret_cast<const BlockQ8_K*>(xq.data() + r * stride);
      float sum = 0.0f, sum_mins = 0.0f;
      for (int64_t b = 0; b < n / kQKK; ++b) {
        for (int pair = 0; pair < 4; ++pair) {
          int32_t isum = 0, imin = 0;
          for (int half = 0; half < 2; ++half) {
            const int sub = 2 * pair + half;
            uint8_t scale, min;
            q4k_scale_min(sub, wb[b].scales, &scale, &min);
            int32_t dot = 0;
            for (int i = 0; i < 32; ++i) {
              const uint8_t byte = wb[b].qs[32 * pair + i];
              dot += (half == 0 ? (byte & 0x0F) : (byte >> 4)) * xb[b].qs[32 * sub + i];
            }
            isum += scale * dot;
            imin += min * (xb[b].bsums[2 * sub] + xb[b].bsums[2 * sub + 1]);
          }
          sum = std::fma(static_cast<float>(isum), half_to_float(wb[b].d) * xb[b].d, sum);
          sum_mins = std::fma(static_cast<float>(imin), half_to_float(wb[b].dmin) * xb[b].d, sum_mins);
        }
      }
      const float expected = sum - sum_mins;
      const float one = k->batched_dot(w.data(), xq.data() + r * stride, n);
      EXPECT_EQ(std::memcmp(&one, &four[r], sizeof(float)), 0) << isa_level_name(l);
      EXPECT_EQ(std::memcmp(&one, &expected, sizeof(float)), 0) << isa_level_name(l) << ": " << one << " vs " << expected;
    }
    ++checked;
  }
  if (checked == 0) GTEST_SKIP() << "no batched Q4_K kernel at this CPU's levels";
}

TEST(VecDot, FourByFourTilesEqualSingleRowKernelsBitForBit) {
  std::mt19937 rng(17);
  for (GgmlType t : kSimdTypes) {
    for (IsaLevel l : runnable_levels()) {
      const VecDotKernel* k = find_vec_dot(t, l);
      if (k->dot4x4 == nullptr) continue;
      const int64_t n = 640;
      auto w = random_weights(t, 4, n, rng);
      const int64_t w_stride = row_bytes(t, n);
      const int64_t x_stride = k->activation_row_bytes(n);
      std::vector<uint8_t> xq(static_cast<size_t>(4 * x_stride));
      for (int j = 0; j < 4; ++j) {
        k->quantize_activation(random_floats(n, rng).data(), xq.data() + j * x_stride, n);
      }
      float tile[16];
      k->dot4x4(w.data(), w_stride, xq.data(), x_stride, n, tile);
      for (int r = 0; r < 4; ++r) {
        for (int j = 0; j < 4; ++j) {
          const float one = k->dot(w.data() + r * w_stride, xq.data() + j * x_stride, n);
          EXPECT_EQ(std::memcmp(&one, &tile[4 * r + j], sizeof(float)), 0)
              << type_name(t) << " " << isa_level_name(l) << " row " << r << " token " << j;
        }
      }
    }
  }
}

TEST(CpuFeatures, LevelIsConsistentWithFlags) {
  const CpuFeatures& f = cpu_features();
  if (f.level >= IsaLevel::kAvx2) {
    EXPECT_TRUE(f.avx2 && f.fma && f.f16c);
  }
  if (f.level >= IsaLevel::kAvx512) {
    EXPECT_TRUE(f.avx512f && f.avx512bw && f.avx512vl && f.avx512vnni);
  }
  EXPECT_FALSE(f.summary().empty());
}

}  // namespace
}  // namespace tessera
