// The tiled attention kernel: the AVX2 and AVX-512 kernels equal the scalar reference
// bit for bit, the reference is within float rounding of exact softmax
// attention, and a row's result does not depend on the other rows of its
// tile or on the tile's key range (what makes attention batch-invariant).
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <random>
#include <vector>

#include "kernels/attention_tile.h"
#include "kernels/cpu_features.h"
#include "kernels/ops.h"
#include "quant/dequantize.h"

namespace tessera {
namespace {

// Keys, values and queries of one KV head, and per-row key ranges.
struct Case {
  int64_t dk, dv, n_positions;
  std::vector<uint16_t> k, v;   // n_positions rows
  std::vector<float> q;         // rows x dk
  std::vector<int32_t> first, last;

  Case(int64_t dk_, int64_t dv_, int64_t n_positions_, int rows, std::mt19937& rng, float q_scale = 1.0f)
      : dk(dk_), dv(dv_), n_positions(n_positions_) {
    std::normal_distribution<float> normal(0.0f, 1.0f);
    std::vector<float> row(static_cast<size_t>(std::max(dk, dv)));
    k.resize(static_cast<size_t>(n_positions * dk));
    v.resize(static_cast<size_t>(n_positions * dv));
    for (int64_t p = 0; p < n_positions; ++p) {
      for (auto& x : row) x = normal(rng);
      f32_to_f16(row.data(), k.data() + p * dk, dk);
      for (auto& x : row) x = normal(rng);
      f32_to_f16(row.data(), v.data() + p * dv, dv);
    }
    q.resize(static_cast<size_t>(rows * dk));
    for (auto& x : q) x = q_scale * normal(rng);
    std::uniform_int_distribution<int32_t> pos(0, static_cast<int32_t>(n_positions - 1));
    for (int r = 0; r < rows; ++r) {
      int32_t a = pos(rng), b = pos(rng);
      if (a > b) std::swap(a, b);
      first.push_back(a);
      last.push_back(b);
    }
  }
};

// Runs rows `rows` of the case as one tile over keys [key_begin, end of the
// rows' ranges]; returns their outputs (rows.size() x dv).
std::vector<float> run_tile(const Case& c, const std::vector<int>& rows, void (*kernel)(const AttentionTile&, float*),
                            float scale, float softcap, int64_t key_begin = -1) {
  std::vector<const float*> q;
  std::vector<float> out(rows.size() * static_cast<size_t>(c.dv), NAN);
  std::vector<float*> out_rows;
  std::vector<int32_t> first, last;
  int32_t lo = INT32_MAX, hi = -1;
  for (size_t i = 0; i < rows.size(); ++i) {
    q.push_back(c.q.data() + rows[i] * c.dk);
    out_rows.push_back(out.data() + i * c.dv);
    first.push_back(c.first[rows[i]]);
    last.push_back(c.last[rows[i]]);
    lo = std::min(lo, c.first[rows[i]]);
    hi = std::max(hi, c.last[rows[i]]);
  }
  AttentionTile t;
  t.n_rows = static_cast<int>(rows.size());
  t.head_dim_k = c.dk;
  t.head_dim_v = c.dv;
  t.q = q.data();
  t.out = out_rows.data();
  t.first = first.data();
  t.last = last.data();
  t.key_begin = key_begin >= 0 ? key_begin : lo - lo % kKeyBlock;
  t.n_keys = hi + 1 - t.key_begin;
  std::vector<const uint16_t*> k_rows, v_rows;
  for (int64_t j = t.key_begin; j <= hi; ++j) {
    k_rows.push_back(c.k.data() + j * c.dk);
    v_rows.push_back(c.v.data() + j * c.dv);
  }
  t.k = k_rows.data();
  t.v = v_rows.data();
  t.scale = scale;
  t.softcap = softcap;
  std::vector<float> scratch(static_cast<size_t>(attention_tile_scratch_floats(c.dk, c.dv)), NAN);
  kernel(t, scratch.data());
  return out;
}

std::vector<int> iota_rows(int n) {
  std::vector<int> r(static_cast<size_t>(n));
  for (int i = 0; i < n; ++i) r[i] = i;
  return r;
}

// Runs a SIMD kernel and the reference on shapes that cover every register
// count (1..32 rows), head dims that are not multiples of 16, several key
// chunks, softcapping, and (q_scale 60) score gaps past -87, where exp's
// results are subnormal and its 2^n scaling must round exactly once.
void expect_equals_reference(void (*kernel)(const AttentionTile&, float*)) {
  std::mt19937 rng(5);
  struct Shape {
    int64_t dk, dv, positions;
    int rows;
    float softcap;
    float q_scale = 1.0f;
  };
  for (const Shape s : {Shape{64, 64, 300, 32, 0.0f}, Shape{64, 64, 70, 8, 0.0f}, Shape{256, 256, 200, 4, 0.0f},
                        Shape{80, 16, 129, 17, 0.0f}, Shape{128, 128, 90, 1, 50.0f}, Shape{32, 48, 64, 16, 0.0f},
                        Shape{64, 64, 500, 5, 0.0f}, Shape{256, 256, 1300, 4, 0.0f}, Shape{64, 64, 1100, 32, 0.0f},
                        Shape{64, 32, 400, 24, 0.0f, 60.0f}, Shape{64, 32, 200, 9, 0.0f, 60.0f}}) {
    Case c(s.dk, s.dv, s.positions, s.rows, rng, s.q_scale);
    const auto rows = iota_rows(s.rows);
    const float scale = 1.0f / std::sqrt(static_cast<float>(s.dk));
    const auto simd = run_tile(c, rows, kernel, scale, s.softcap);
    const auto ref = run_tile(c, rows, attention_tile_reference, scale, s.softcap);
    for (float x : simd) ASSERT_TRUE(std::isfinite(x));
    EXPECT_EQ(std::memcmp(simd.data(), ref.data(), simd.size() * sizeof(float)), 0)
        << "dk " << s.dk << " dv " << s.dv << " rows " << s.rows << " q_scale " << s.q_scale;
  }
}

TEST(AttentionTile, Avx2EqualsReferenceBitForBit) {
  if (cpu_features().level < IsaLevel::kAvx2) GTEST_SKIP() << "no AVX2 on this CPU (or TESSERA_ISA)";
  expect_equals_reference(attention_tile_avx2);
}

TEST(AttentionTile, Avx512EqualsReferenceBitForBit) {
  if (cpu_features().level < IsaLevel::kAvx512) GTEST_SKIP() << "no AVX-512 on this CPU (or TESSERA_ISA)";
  expect_equals_reference(attention_tile_avx512);
}

TEST(AttentionTile, ReferenceIsSoftmaxAttention) {
  std::mt19937 rng(6);
  // Large query scale: peaked softmaxes, so the running max moves often.
  for (float q_scale : {1.0f, 8.0f}) {
    Case c(64, 32, 1200, 12, rng, q_scale);  // spans three key chunks
    const float scale = 0.125f;
    const auto out = run_tile(c, iota_rows(12), attention_tile, scale, 0.0f);
    for (int r = 0; r < 12; ++r) {
      std::vector<double> w;
      double max_s = -INFINITY;
      for (int32_t j = c.first[r]; j <= c.last[r]; ++j) {
        double s = 0.0;
        for (int64_t d = 0; d < c.dk; ++d) {
          // The kernel rounds queries to fp16 (attention_tile.h).
          s += double(fp16_to_fp32(fp32_to_fp16(c.q[r * c.dk + d]))) * fp16_to_fp32(c.k[j * c.dk + d]);
        }
        w.push_back(s * scale);
        max_s = std::max(max_s, w.back());
      }
      double sum = 0.0;
      for (double& x : w) sum += (x = std::exp(x - max_s));
      for (int64_t e = 0; e < c.dv; ++e) {
        double o = 0.0;
        for (int32_t j = c.first[r]; j <= c.last[r]; ++j) o += w[j - c.first[r]] * fp16_to_fp32(c.v[j * c.dv + e]);
        o /= sum;
        EXPECT_NEAR(out[r * c.dv + e], o, 2e-5 * (1.0 + std::fabs(o))) << "row " << r << " e " << e;
      }
    }
  }
}

TEST(AttentionTile, RowResultDoesNotDependOnItsTile) {
  std::mt19937 rng(7);
  Case c(64, 64, 400, 32, rng, 4.0f);
  const float scale = 0.125f;
  const auto all = run_tile(c, iota_rows(32), attention_tile, scale, 0.0f);
  for (int r : {0, 7, 16, 31}) {
    // Alone, alone with the key range starting at 0, and with two other rows.
    const auto alone = run_tile(c, {r}, attention_tile, scale, 0.0f);
    const auto from_zero = run_tile(c, {r}, attention_tile, scale, 0.0f, 0);
    const auto mixed = run_tile(c, {(r + 5) % 32, r, (r + 11) % 32}, attention_tile, scale, 0.0f);
    const float* expected = all.data() + r * c.dv;
    EXPECT_EQ(std::memcmp(alone.data(), expected, c.dv * sizeof(float)), 0) << "row " << r;
    EXPECT_EQ(std::memcmp(from_zero.data(), expected, c.dv * sizeof(float)), 0) << "row " << r;
    EXPECT_EQ(std::memcmp(mixed.data() + c.dv, expected, c.dv * sizeof(float)), 0) << "row " << r;
  }
}

}  // namespace
}  // namespace tessera
