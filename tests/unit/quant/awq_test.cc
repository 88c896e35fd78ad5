// awq on inputs with salient channels: the chosen input scale, folded back
// (W' = Q(W diag(s)) diag(1/s)), gives a lower output error than rtn and than
// importance-weighted mse at equal bits.
#include <gtest/gtest.h>

#include <cmath>
#include <memory>
#include <random>
#include <vector>

#include "core/error.h"
#include "core/thread_pool.h"
#include "quant/dequantize.h"
#include "quant/grid.h"
#include "quant/quant_method.h"
#include "synthetic_matrix.h"

namespace tessera {
namespace {

using namespace quant_test;  // kRows, kCols, gaussian_weights, dequantized, hessian_error

// E[x x^T] of inputs whose every 16th channel is 12x louder than the rest.
QuantStats salient_stats() {
  const auto h = loud_channel_second_moment(kCols, 3, 12.0f, 5);
  QuantStats s;
  s.hessian = h;
  for (int64_t j = 0; j < kCols; ++j) s.importance.push_back((*h)[j * kCols + j]);
  return s;
}

TEST(QuantAwq, LowerOutputErrorThanRtnAndMseOnSalientInputs) {
  const std::vector<float> w = gaussian_weights(3);
  const QuantStats stats = salient_stats();
  const auto awq = make_quant_method("awq");
  ThreadPool pool(2);
  for (GgmlType type : {GgmlType::Q4_0, GgmlType::Q4_1}) {
    for (int bits : {3, 4}) {
      const GridLayout l = *grid_layout(type);
      const QuantSpec spec{type, bits, l.sub_block, !l.offset};
      const MatrixRef m{w.data(), kRows, kCols};
      const std::vector<float> s = awq->input_scale(std::span<const MatrixRef>(&m, 1),
                                                    std::span<const QuantSpec>(&spec, 1), stats, pool);
      ASSERT_EQ(s.size(), static_cast<size_t>(kCols));
      // The loud channels get the larger scales.
      EXPECT_GT(s[3], s[4]) << type_name(type) << " " << bits;
      std::vector<float> scaled(w.size());
      QuantStats scaled_stats;
      for (int64_t j = 0; j < kCols; ++j) scaled_stats.importance.push_back(stats.importance[j] / (s[j] * s[j]));
      for (size_t i = 0; i < w.size(); ++i) scaled[i] = w[i] * s[i % kCols];
      std::vector<float> back = dequantized(awq->quantize(MatrixRef{scaled.data(), kRows, kCols}, spec,
                                                          scaled_stats, pool));
      for (size_t i = 0; i < back.size(); ++i) back[i] /= s[i % kCols];
      const double e_awq = hessian_error(w, back, *stats.hessian);
      const double e_rtn = hessian_error(w, dequantized(make_quant_method("rtn")->quantize(m, spec, {}, pool)),
                                        *stats.hessian);
      const double e_mse = hessian_error(w, dequantized(make_quant_method("mse")->quantize(m, spec, stats, pool)),
                                        *stats.hessian);
      EXPECT_LT(e_awq, 0.8 * e_rtn) << type_name(type) << " " << bits;
      EXPECT_LT(e_awq, e_mse) << type_name(type) << " " << bits;
    }
  }
}

TEST(QuantAwq, NeedsCalibrationAndMatchingReaders) {
  const auto awq = make_quant_method("awq");
  EXPECT_TRUE(awq->needs_calibration());
  EXPECT_TRUE(awq->scales_inputs());
  std::vector<float> a(2 * 64, 0.01f), b(2 * 32, 0.01f);
  const MatrixRef readers[] = {{a.data(), 2, 64}, {b.data(), 2, 32}};
  const QuantSpec specs[] = {{GgmlType::Q4_0, 4, 32, true}, {GgmlType::Q4_0, 4, 32, true}};
  ThreadPool pool(1);
  EXPECT_THROW(awq->input_scale(std::span<const MatrixRef>(readers, 1), std::span<const QuantSpec>(specs, 1), {}, pool),
               InvalidArgument);  // no statistics
  QuantStats stats;
  stats.importance.assign(64, 1.0f);
  stats.hessian = std::make_shared<std::vector<float>>(64 * 64, 0.0f);
  EXPECT_THROW(awq->input_scale(readers, specs, stats, pool), InvalidArgument);  // 64 vs 32 columns
  EXPECT_TRUE(make_quant_method("rtn")->input_scale(std::span<const MatrixRef>(readers, 1),
                                                    std::span<const QuantSpec>(specs, 1), stats, pool).empty());
}

}  // namespace
}  // namespace tessera
