// Synthetic weight matrices and the error measures the quantization method
// tests share (awq_test, dabc_test): Gaussian weights with planted outliers,
// the matrix a quantized result reads back as, and its output error under an
// input second moment H = E[x x^T].
#pragma once

#include <cstdint>
#include <random>
#include <vector>

#include "quant/dequantize.h"
#include "quant/quant_method.h"

namespace tessera::quant_test {

constexpr int64_t kRows = 32, kCols = 256;

// rows x cols weights drawn from N(0, 0.02) in row-major order; with
// outlier_every > 0, weight i of the flattened matrix is multiplied by `gain`
// where i % outlier_every == 7 (a long tail, spread over rows and groups).
inline std::vector<float> gaussian_weights(uint32_t seed, int outlier_every = 0, float gain = 1.0f,
                                           int64_t rows = kRows, int64_t cols = kCols) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> normal(0.0f, 0.02f);
  std::vector<float> w(static_cast<size_t>(rows * cols));
  for (size_t i = 0; i < w.size(); ++i) {
    w[i] = normal(rng);
    if (outlier_every > 0 && i % static_cast<size_t>(outlier_every) == 7) w[i] *= gain;
  }
  return w;
}

// What the quantized matrix reads back as, through the ggml-exact dequantizer.
inline std::vector<float> dequantized(const QuantizedMatrix& q, int64_t rows = kRows, int64_t cols = kCols) {
  std::vector<float> out(static_cast<size_t>(rows * cols));
  const int64_t rb = row_bytes(q.type, cols);
  for (int64_t r = 0; r < rows; ++r) dequantize_row(q.type, q.data.data() + r * rb, out.data() + r * cols, cols);
  return out;
}

// sum over rows of dW_r^T H dW_r with dW = w - back: the mean squared output
// error over inputs whose second moment is H (cols x cols, row-major).
inline double hessian_error(const std::vector<float>& w, const std::vector<float>& back, const std::vector<float>& h,
                            int64_t rows = kRows, int64_t cols = kCols) {
  double e = 0.0;
  std::vector<double> d(static_cast<size_t>(cols));
  for (int64_t r = 0; r < rows; ++r) {
    for (int64_t j = 0; j < cols; ++j) d[j] = static_cast<double>(w[r * cols + j]) - back[r * cols + j];
    for (int64_t i = 0; i < cols; ++i) {
      for (int64_t j = 0; j < cols; ++j) e += d[i] * h[i * cols + j] * d[j];
    }
  }
  return e;
}

}  // namespace tessera::quant_test
