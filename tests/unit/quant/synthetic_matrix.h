// Synthetic weight matrices and the error measures the quantization method
// tests share (awq_test, dabc_test, quant_methods_test): Gaussian weights with planted outliers,
// the matrix a quantized result reads back as, and its output error under an
// input second moment H = E[x x^T].
#pragma once

#include <cstdint>
#include <memory>
#include <random>
#include <vector>

#include "quant/dequantize.h"
#include "quant/quant_method.h"

namespace tessera::quant_test {

constexpr int64_t kRows = 32, kCols = 256;

// E[x x^T] (n x n) over `tokens` inputs with x_i ~ N(0, 1), channels i with
// i % 16 == loud scaled by `gain`: a few loud input channels, as real
// activations have.
inline std::shared_ptr<std::vector<float>> loud_channel_second_moment(int64_t n, int loud, float gain, uint32_t seed,
                                                                      int tokens = 512) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> normal;
  auto h = std::make_shared<std::vector<float>>(static_cast<size_t>(n * n), 0.0f);
  std::vector<float> x(static_cast<size_t>(n));
  for (int t = 0; t < tokens; ++t) {
    for (int64_t i = 0; i < n; ++i) x[i] = normal(rng) * (i % 16 == loud ? gain : 1.0f);
    for (int64_t i = 0; i < n; ++i) {
      for (int64_t j = 0; j < n; ++j) (*h)[i * n + j] += x[i] * x[j] / tokens;
    }
  }
  return h;
}

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
