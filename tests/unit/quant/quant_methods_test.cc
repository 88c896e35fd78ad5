// QuantMethod seam: every method on synthetic matrices (Gaussian weights with
// planted outliers), packed into each supported block type and read back with
// the ggml-exact dequantizer.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdio>
#include <filesystem>
#include <memory>
#include <random>
#include <vector>

#include "../temp_file.h"
#include "core/error.h"
#include "core/thread_pool.h"
#include "gguf/gguf_file.h"
#include "quant/dequantize.h"
#include "quant/grid.h"
#include "quant/quant_method.h"
#include "quant/quantize.h"
#include "synthetic_matrix.h"

namespace tessera {
namespace {

struct Matrix {
  int64_t rows, cols;
  std::vector<float> v;
  MatrixRef ref() const { return MatrixRef{v.data(), rows, cols}; }
};

// Gaussian rows; every `outlier_every`-th weight is multiplied by `outlier_gain`.
Matrix synthetic(int64_t rows, int64_t cols, uint32_t seed, int outlier_every = 0, float outlier_gain = 1.0f) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> normal(0.0f, 0.02f);
  Matrix m{rows, cols, std::vector<float>(static_cast<size_t>(rows * cols))};
  for (size_t i = 0; i < m.v.size(); ++i) {
    m.v[i] = normal(rng);
    if (outlier_every > 0 && i % static_cast<size_t>(outlier_every) == 7) m.v[i] *= outlier_gain;
  }
  return m;
}

std::vector<float> dequantized(const QuantizedMatrix& q, const Matrix& m) {
  std::vector<float> out(m.v.size());
  const int64_t rb = row_bytes(q.type, m.cols);
  for (int64_t r = 0; r < m.rows; ++r) dequantize_row(q.type, q.data.data() + r * rb, out.data() + r * m.cols, m.cols);
  return out;
}

// Sum of (importance-weighted) squared reconstruction errors.
double sq_error(const Matrix& m, const std::vector<float>& y, const std::vector<float>& importance = {}) {
  double e = 0;
  for (size_t i = 0; i < y.size(); ++i) {
    const double w = importance.empty() ? 1.0 : importance[i % static_cast<size_t>(m.cols)];
    e += w * (m.v[i] - y[i]) * (m.v[i] - y[i]);
  }
  return e;
}

double rel_rmse(const Matrix& m, const std::vector<float>& y) {
  double s = 0;
  for (float x : m.v) s += static_cast<double>(x) * x;
  return std::sqrt(sq_error(m, y) / s);
}

QuantSpec spec_for(GgmlType type, int bits, int group = 0) {
  const GridLayout layout = *grid_layout(type);
  return QuantSpec{type, bits, group > 0 ? group : layout.sub_block, !layout.offset};
}

double method_error(const char* method, const Matrix& m, const QuantSpec& spec, const QuantStats& stats = {},
                    const std::vector<float>& weigh_by = {}) {
  ThreadPool pool(2);
  const QuantizedMatrix q = make_quant_method(method)->quantize(m.ref(), spec, stats, pool);
  EXPECT_EQ(q.type, spec.type);
  EXPECT_EQ(q.data.size(), static_cast<size_t>(m.rows * row_bytes(spec.type, m.cols)));
  return sq_error(m, dequantized(q, m), weigh_by);
}

const GgmlType kGridTypes[] = {GgmlType::Q4_0, GgmlType::Q4_1, GgmlType::Q5_0, GgmlType::Q5_1, GgmlType::Q8_0,
                               GgmlType::Q2_K, GgmlType::Q3_K, GgmlType::Q4_K, GgmlType::Q5_K, GgmlType::Q6_K};

TEST(QuantRegistry, KnowsItsMethodsAndRejectsOthers) {
  for (const std::string& name : quant_method_names()) EXPECT_EQ(make_quant_method(name)->name(), name);
  EXPECT_THROW(make_quant_method("gptq-but-misspelled"), InvalidArgument);
}

TEST(QuantRtn, ValuesOnTheGridComeBackExactly) {
  // Codes times a power of two: every type's rtn grid must reproduce them, which
  // checks the packing of codes, scales and offsets against the dequantizer.
  for (GgmlType type : kGridTypes) {
    const GridLayout layout = *grid_layout(type);
    const GridRange r = grid_range(layout, layout.code_bits);
    // K types store the sub-block scale as an integer times an fp16 super-scale
    // (the largest scale / 63 for Q4_K's and Q5_K's 6 bits, / 15 for Q2_K's 4,
    // / 127 for Q6_K's int8, / -32 for Q3_K's signed 6 bits): a step of 63
    // (15, 127) * 2^-10 or a power of two makes both factors exact.
    const float step = type == GgmlType::Q6_K   ? 127.0f / 1024.0f
                       : type == GgmlType::Q2_K ? 15.0f / 1024.0f
                       : type == GgmlType::Q3_K ? 0.125f
                       : layout.k_type          ? 63.0f / 1024.0f
                                                : 0.125f;
    Matrix m{2, 512, std::vector<float>(1024)};
    for (size_t i = 0; i < m.v.size(); ++i) {
      const int q = r.qmin + static_cast<int>((i * 7) % static_cast<size_t>(r.qmax - r.qmin + 1));
      m.v[i] = static_cast<float>(q) * step;
    }
    // Every group must span its whole code range for the min/max grid to be this one.
    for (size_t g = 0; g < m.v.size(); g += static_cast<size_t>(layout.sub_block)) {
      m.v[g] = static_cast<float>(r.qmin) * step;
      m.v[g + 1] = static_cast<float>(r.qmax) * step;
    }
    EXPECT_EQ(method_error("rtn", m, spec_for(type, layout.code_bits)), 0.0) << type_name(type);
  }
}

TEST(QuantRtn, ErrorShrinksWithBitsAndGrowsWithGroupSize) {
  const Matrix m = synthetic(16, 512, 1);
  double previous = 1e30;
  for (int bits = 2; bits <= 8; ++bits) {
    const double e = method_error("rtn", m, spec_for(GgmlType::Q8_0, bits));
    EXPECT_LT(e, previous) << bits;
    previous = e;
  }
  const double g32 = method_error("rtn", m, spec_for(GgmlType::Q4_0, 4, 32));
  const double g128 = method_error("rtn", m, spec_for(GgmlType::Q4_0, 4, 128));
  EXPECT_LT(g32, g128);
  ThreadPool pool(1);
  const auto q8 = make_quant_method("rtn")->quantize(m.ref(), spec_for(GgmlType::Q8_0, 8), {}, pool);
  EXPECT_LT(rel_rmse(m, dequantized(q8, m)), 0.01);
}

TEST(QuantMse, BeatsRtnOnEveryTypeWithAndWithoutOutliers) {
  for (GgmlType type : kGridTypes) {
    const int code_bits = grid_layout(type)->code_bits;
    const int bits = code_bits == 8 ? 8 : std::min(code_bits, 4);
    for (int outliers : {0, 61}) {
      const Matrix m = synthetic(32, 512, 2, outliers, 8.0f);
      const double rtn = method_error("rtn", m, spec_for(type, bits));
      const double mse = method_error("mse", m, spec_for(type, bits));
      EXPECT_LT(mse, rtn) << type_name(type) << " outliers every " << outliers;
      if (bits == 4) {
        EXPECT_LT(mse, 0.95 * rtn) << type_name(type) << " outliers every " << outliers;
      }
    }
  }
}

TEST(QuantMse, ImportanceWeightingLowersTheWeightedError) {
  const Matrix m = synthetic(32, 256, 3);
  std::vector<float> importance(256);
  std::mt19937 rng(4);
  std::exponential_distribution<float> heavy(1.0f);
  for (float& w : importance) w = heavy(rng) * heavy(rng) * 10.0f;
  const QuantSpec spec = spec_for(GgmlType::Q4_0, 4);
  const double plain = method_error("mse", m, spec, {}, importance);
  const double weighted = method_error("mse", m, spec, QuantStats{importance, nullptr, {}}, importance);
  EXPECT_LT(weighted, plain);
}

// Output error sum over tokens of |(W - W') x|^2 = trace((W - W') H (W - W')^T) * n.
double output_error(const Matrix& m, const std::vector<float>& y, const std::vector<float>& h) {
  double e = 0;
  const int64_t n = m.cols;
  std::vector<double> diff(static_cast<size_t>(n));
  for (int64_t r = 0; r < m.rows; ++r) {
    for (int64_t i = 0; i < n; ++i) diff[i] = m.v[r * n + i] - y[r * n + i];
    for (int64_t i = 0; i < n; ++i) {
      for (int64_t j = 0; j < n; ++j) e += diff[i] * h[i * n + j] * diff[j];
    }
  }
  return e;
}

TEST(QuantGptq, LowerOutputErrorThanRtnAndMseWithCorrelatedInputs) {
  const Matrix m = synthetic(32, 256, 8, 53, 5.0f);
  // Calibration inputs with correlated channels and a few loud ones.
  std::mt19937 rng(9);
  std::normal_distribution<float> normal;
  const int tokens = 1024, n = 256, k = 16;
  std::vector<float> mix(static_cast<size_t>(k * n));
  for (float& v : mix) v = normal(rng);
  auto h = std::make_shared<std::vector<float>>(static_cast<size_t>(n * n), 0.0f);
  std::vector<float> x(n);
  for (int t = 0; t < tokens; ++t) {
    std::vector<float> z(k);
    for (float& v : z) v = normal(rng);
    for (int i = 0; i < n; ++i) {
      float s = 0.1f * normal(rng);
      for (int j = 0; j < k; ++j) s += z[j] * mix[j * n + i];
      x[i] = s * (i % 37 == 0 ? 6.0f : 1.0f);
    }
    for (int i = 0; i < n; ++i) {
      for (int j = 0; j < n; ++j) (*h)[i * n + j] += x[i] * x[j] / tokens;
    }
  }
  const QuantStats stats{{}, h, {}};
  for (GgmlType type : {GgmlType::Q4_0, GgmlType::Q4_1}) {
    ThreadPool pool(2);
    const QuantSpec spec = spec_for(type, 4);
    const auto err = [&](const char* method) {
      return output_error(m, dequantized(make_quant_method(method)->quantize(m.ref(), spec, stats, pool), m), *h);
    };
    const double rtn = err("rtn"), mse = err("mse"), gptq = err("gptq");
    EXPECT_LT(gptq, 0.8 * rtn) << type_name(type);
    EXPECT_LT(gptq, mse) << type_name(type);
  }
  ThreadPool pool(1);
  EXPECT_THROW(make_quant_method("gptq")->quantize(m.ref(), spec_for(GgmlType::Q4_0, 4), {}, pool), InvalidArgument);
  EXPECT_THROW(make_quant_method("gptq")->check(spec_for(GgmlType::Q4_K, 4)), InvalidArgument);
}

// Inputs whose every 16th channel is 10x louder (Gemma-like massive channels), as
// E[x x^T]; the output error of a matrix with planted weight outliers, importance-
// weighted mse against rtn and plain mse, and dabc (grid from the same weighting).
TEST(QuantMse, ImportanceWeightedSearchLowersOutputErrorWithLoudChannelsAndOutliers) {
  const Matrix m = synthetic(32, 256, 12, 61, 8.0f);
  const int n = 256;
  const auto h = quant_test::loud_channel_second_moment(n, 5, 10.0f, 13);
  QuantStats stats{{}, h, {}};
  for (int i = 0; i < n; ++i) stats.importance.push_back((*h)[i * n + i]);
  ThreadPool pool(2);
  for (GgmlType type : {GgmlType::Q4_0, GgmlType::Q4_1, GgmlType::Q4_K}) {
    for (int bits : {3, 4}) {
      const QuantSpec spec = spec_for(type, bits);
      const auto err = [&](const char* method, const QuantStats& s) {
        return output_error(m, dequantized(make_quant_method(method)->quantize(m.ref(), spec, s, pool), m), *h);
      };
      const double rtn = err("rtn", {}), plain = err("mse", {}), weighted = err("mse", stats);
      const double dabc = err("dabc", stats);
      EXPECT_LT(weighted, 0.8 * rtn) << type_name(type) << " " << bits;
      EXPECT_LT(weighted, 0.9 * plain) << type_name(type) << " " << bits;
      EXPECT_LT(dabc, 0.8 * rtn) << type_name(type) << " " << bits;
    }
  }
}

TEST(QuantNone, F16IsTheRoundedMatrix) {
  const Matrix m = synthetic(4, 64, 5);
  ThreadPool pool(2);
  const auto q = make_quant_method("none")->quantize(m.ref(), QuantSpec{GgmlType::F16, 16, 1, true}, {}, pool);
  std::vector<uint8_t> expected(m.v.size() * 2);
  quantize_row_f16(m.v.data(), expected.data(), static_cast<int64_t>(m.v.size()));
  EXPECT_EQ(q.data, expected);
  EXPECT_THROW(make_quant_method("none")->check(spec_for(GgmlType::Q4_0, 4)), InvalidArgument);
}

TEST(QuantSpecChecks, ImpossibleRequestsAreRejected) {
  const auto rtn = make_quant_method("rtn");
  EXPECT_THROW(rtn->check(QuantSpec{GgmlType::Q4_0, 5, 32, true}), InvalidArgument);   // 5 bits in 4-bit codes
  EXPECT_THROW(rtn->check(QuantSpec{GgmlType::Q4_0, 1, 32, true}), InvalidArgument);   // 1 bit
  EXPECT_THROW(rtn->check(QuantSpec{GgmlType::Q4_0, 4, 48, true}), InvalidArgument);   // group not a block multiple
  EXPECT_THROW(rtn->check(QuantSpec{GgmlType::Q4_0, 4, 32, false}), InvalidArgument);  // Q4_0 has no offset
  EXPECT_THROW(rtn->check(QuantSpec{GgmlType::Q3_K, 3, 16, false}), InvalidArgument);  // Q3_K has no offset
  EXPECT_THROW(rtn->check(QuantSpec{GgmlType::Q2_K, 3, 16, false}), InvalidArgument);  // 3 bits in 2-bit codes
  EXPECT_THROW(rtn->check(QuantSpec{GgmlType::Q5_K, 5, 16, false}), InvalidArgument);  // Q5_K's scales cover 32
  EXPECT_THROW(rtn->check(QuantSpec{GgmlType::F16, 16, 1, true}), InvalidArgument);    // not a grid type
  EXPECT_THROW(rtn->check(QuantSpec{GgmlType::Q6_K, 6, 8, true}), InvalidArgument);    // Q6_K's scales cover 16
  EXPECT_THROW(check_grid_spec(QuantSpec{GgmlType::Q4_0, 4, 128, true}, 640 - 32), InvalidArgument);
  EXPECT_THROW(check_grid_spec(QuantSpec{GgmlType::Q4_K, 4, 32, false}, 640), InvalidArgument);
  const Matrix m = synthetic(2, 96, 6);
  ThreadPool pool(1);
  EXPECT_THROW(rtn->quantize(m.ref(), QuantSpec{GgmlType::Q4_0, 4, 64, true}, {}, pool), InvalidArgument);
}

TEST(QuantRoundTrip, WrittenReadAndDequantizedEqualsTheInMemoryResult) {
  const Matrix m = synthetic(8, 256, 7, 37, 6.0f);
  ThreadPool pool(2);
  const auto path = unique_temp_path("quant_round_trip.gguf");
  std::vector<QuantizedMatrix> written;
  GgufWriter writer;
  for (GgmlType type : kGridTypes) {
    const int bits = grid_layout(type)->code_bits;
    written.push_back(make_quant_method("mse")->quantize(m.ref(), spec_for(type, bits), {}, pool));
    writer.add_tensor(std::string("w.") + type_name(type), {m.cols, m.rows}, type, written.back().data.data(),
                      written.back().data.size());
  }
  writer.write(path);
  {
    const GgufFile file(path);
    for (size_t i = 0; i < written.size(); ++i) {
      const GgufTensorInfo& t = file.tensor(std::string("w.") + type_name(kGridTypes[i]));
      EXPECT_EQ(t.type, kGridTypes[i]);
      std::vector<float> from_file(m.v.size());
      dequantize_row(t.type, t.data, from_file.data(), static_cast<int64_t>(m.v.size()));
      EXPECT_EQ(from_file, dequantized(written[i], m)) << type_name(kGridTypes[i]);
    }
  }
  std::filesystem::remove(path);
}

}  // namespace
}  // namespace tessera
