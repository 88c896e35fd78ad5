// matmul_shared_input (q/k/v and gate/up in one pool job) and the token
// chunking of prefill: both must give exactly the bits of the single-row
// kernels, whatever the split of rows and tokens.
#include <gtest/gtest.h>

#include <cstring>
#include <random>
#include <string>
#include <vector>

#include "core/error.h"
#include "kernels/cpu_features.h"
#include "kernels/matmul.h"
#include "kernels/vec_dot.h"
#include "test_weights.h"

namespace tessera {
namespace {

using testing::random_floats;
using testing::random_weights;

struct Matrix {
  std::vector<uint8_t> data;
  WeightMatrix w;
};

Matrix make_matrix(GgmlType t, int64_t rows, int64_t cols, std::mt19937& rng) {
  Matrix m;
  m.data = random_weights(t, rows, cols, rng);
  m.w = WeightMatrix{t, rows, cols, m.data.data(), row_bytes(t, cols)};
  return m;
}

bool same_bits(const std::vector<float>& a, const std::vector<float>& b) {
  return a.size() == b.size() && std::memcmp(a.data(), b.data(), a.size() * sizeof(float)) == 0;
}

// Each group: types of matrices sharing one input, with row counts that are
// not multiples of the 4-row tile (so splits cut tiles and matrices apart).
struct Group {
  std::vector<GgmlType> types;
  std::vector<int64_t> rows;
  int64_t cols;
};

TEST(MatmulSharedInput, EqualsSeparateMatmulsBitForBit) {
  const Group groups[] = {
      {{GgmlType::Q4_0, GgmlType::Q4_0, GgmlType::Q4_0}, {37, 6, 10}, 256},
      {{GgmlType::Q8_0, GgmlType::Q5_0}, {16, 20}, 96},                   // both use Q8_0 activations
      {{GgmlType::Q4_K, GgmlType::Q4_K, GgmlType::Q6_K}, {24, 8, 9}, 512},  // Q4_K_M's q/k/v mix
      {{GgmlType::Q4_0, GgmlType::Q4_K}, {8, 12}, 256},                  // different activations: fallback
      {{GgmlType::F16, GgmlType::F32}, {5, 7}, 64},
  };
  std::mt19937 rng(11);
  for (const Group& g : groups) {
    std::vector<Matrix> ms;
    for (size_t i = 0; i < g.types.size(); ++i) ms.push_back(make_matrix(g.types[i], g.rows[i], g.cols, rng));
    for (int threads : {1, 2, 3}) {
      ThreadPool pool(threads);
      for (int64_t n_tokens : {1, 4, 7}) {
        const auto x = random_floats(n_tokens * g.cols, rng);
        std::vector<const WeightMatrix*> ws;
        std::vector<std::vector<float>> fused(ms.size()), separate(ms.size());
        std::vector<float*> ys;
        for (size_t i = 0; i < ms.size(); ++i) {
          ws.push_back(&ms[i].w);
          fused[i].assign(static_cast<size_t>(n_tokens * g.rows[i]), NAN);
          separate[i].assign(fused[i].size(), NAN);
          ys.push_back(fused[i].data());
          matmul(ms[i].w, x.data(), n_tokens, separate[i].data(), pool);
        }
        matmul_shared_input(ws, x.data(), n_tokens, ys, pool);
        for (size_t i = 0; i < ms.size(); ++i) {
          EXPECT_TRUE(same_bits(fused[i], separate[i]))
              << type_name(g.types[i]) << " matrix " << i << ", " << threads << " threads, " << n_tokens << " tokens";
        }
      }
    }
  }
}

TEST(MatmulSharedInput, MismatchedOutputCountIsRejected) {
  std::mt19937 rng(3);
  Matrix m = make_matrix(GgmlType::Q8_0, 4, 64, rng);
  const WeightMatrix* ws[] = {&m.w, &m.w};
  std::vector<float> x(64), y(4);
  float* ys[] = {y.data()};
  ThreadPool pool(1);
  EXPECT_THROW(matmul_shared_input(ws, x.data(), 1, ys, pool), InvalidArgument);
}

// Prefill takes tokens in L2-sized chunks: with 4096 columns a chunk holds
// about 60 Q8_0 activation rows, so 130 tokens cross two chunk boundaries and
// end on a partial 4-token group. Every output must still be the single-row,
// single-token kernel's value.
TEST(Matmul, PrefillTokenChunksEqualSingleDotsBitForBit) {
  std::mt19937 rng(17);
  const int64_t rows = 10, cols = 4096, n_tokens = 130;
  for (GgmlType t : {GgmlType::Q4_0, GgmlType::Q5_0, GgmlType::Q8_0, GgmlType::Q4_K, GgmlType::Q6_K}) {
    Matrix m = make_matrix(t, rows, cols, rng);
    const auto x = random_floats(n_tokens * cols, rng);
    const VecDotKernel* k = find_vec_dot(t);
    ASSERT_NE(k, nullptr);
    ThreadPool pool(2);
    for (SumOrder order : {SumOrder::kLlamaCpp, SumOrder::kBatchInvariant}) {
      std::vector<float> y(static_cast<size_t>(n_tokens * rows), NAN);
      matmul(m.w, x.data(), n_tokens, y.data(), pool, order);
      // llama.cpp's order sends the first n - n % group tokens to the batched
      // kernel where the type has one; the batch-invariant order never does.
      const bool batched = order == SumOrder::kLlamaCpp && k->batched_dot != nullptr;
      const int64_t n_batched = batched ? n_tokens - n_tokens % k->batched_group : 0;
      std::vector<uint8_t> xq(static_cast<size_t>(k->activation_row_bytes(cols)));
      int mismatches = 0;
      for (int64_t tok = 0; tok < n_tokens; ++tok) {
        k->quantize_activation(x.data() + tok * cols, xq.data(), cols);
        const DotFn dot = tok < n_batched ? k->batched_dot : k->dot;
        for (int64_t r = 0; r < rows; ++r) {
          const float want = dot(m.data.data() + r * m.w.row_stride, xq.data(), cols);
          if (std::memcmp(&want, &y[tok * rows + r], sizeof(float)) != 0) ++mismatches;
        }
      }
      EXPECT_EQ(mismatches, 0) << type_name(t) << (batched ? " llama.cpp order" : "");
    }
  }
}

}  // namespace
}  // namespace tessera

