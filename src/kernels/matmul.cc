// matmul: dispatch on weight type and CPU level.
//  - integer path (vec_dot*.cc), used for every weight type: activations are
//    quantized once per call to the format ggml pairs with the weight type
//    (Q8_0 / Q8_1 / Q8_K blocks, or F16 / BF16 / F32), then each weight row is
//    dotted with SIMD integer (or float) kernels, four tokens at a time when
//    there are four (each weight block decoded once per four tokens);
//  - tile path (TESSERA_MATMUL=float, numerical debugging only): tiles of
//    rows dequantized to float and multiplied with float activations.
#include "kernels/matmul.h"

#include <immintrin.h>

#include <algorithm>
#include <cstdlib>
#include <string_view>
#include <vector>

#include "kernels/vec_dot.h"
#include "quant/dequantize.h"

namespace tessera {

namespace {

constexpr int64_t kTileRows = 8;

float hsum(__m256 v) {
  __m128 lo = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
  lo = _mm_add_ps(lo, _mm_movehl_ps(lo, lo));
  lo = _mm_add_ss(lo, _mm_movehdup_ps(lo));
  return _mm_cvtss_f32(lo);
}

// y[t][r0 + i] = tile[i] · x[t] for i < n_rows (tile rows are `cols` floats).
void tile_times_tokens(const float* tile, int64_t n_rows, int64_t cols, const float* x,
                       int64_t n_tokens, float* y, int64_t y_stride) {
  for (int64_t t = 0; t < n_tokens; ++t) {
    const float* xt = x + t * cols;
    __m256 acc[kTileRows];
    for (int i = 0; i < kTileRows; ++i) acc[i] = _mm256_setzero_ps();
    int64_t c = 0;
    for (; c + 8 <= cols; c += 8) {
      const __m256 xv = _mm256_loadu_ps(xt + c);
      for (int64_t i = 0; i < n_rows; ++i) {
        acc[i] = _mm256_fmadd_ps(_mm256_loadu_ps(tile + i * cols + c), xv, acc[i]);
      }
    }
    for (int64_t i = 0; i < n_rows; ++i) {
      float s = hsum(acc[i]);
      for (int64_t cc = c; cc < cols; ++cc) s += tile[i * cols + cc] * xt[cc];
      y[t * y_stride + i] = s;
    }
  }
}

void matmul_tiles(const WeightMatrix& w, const float* x, int64_t n_tokens, float* y,
                  ThreadPool& pool) {
  pool.parallel_for(w.rows, kTileRows, [&](int64_t begin, int64_t end) {
    thread_local std::vector<float> tile;
    if (tile.size() < static_cast<size_t>(kTileRows * w.cols)) tile.resize(kTileRows * w.cols);
    for (int64_t r0 = begin; r0 < end; r0 += kTileRows) {
      const int64_t n_rows = std::min(kTileRows, end - r0);
      for (int64_t i = 0; i < n_rows; ++i) {
        dequantize_row(w.type, w.data + (r0 + i) * w.row_stride, tile.data() + i * w.cols, w.cols);
      }
      tile_times_tokens(tile.data(), n_rows, w.cols, x, n_tokens, y + r0, w.rows);
    }
  });
}

void matmul_vec_dot(const VecDotKernel& k, const WeightMatrix& w, const float* x,
                    int64_t n_tokens, float* y, ThreadPool& pool) {
  // Activations quantized once per call, into a buffer reused across calls.
  thread_local std::vector<uint8_t> xq;
  const int64_t xq_row = k.activation_row_bytes(w.cols);
  if (xq.size() < static_cast<size_t>(xq_row * n_tokens)) xq.resize(xq_row * n_tokens);
  // Workers must write the caller's buffer, not their own thread_local one.
  uint8_t* xq_data = xq.data();
  pool.parallel_for(n_tokens, 1, [&](int64_t b, int64_t e) {
    for (int64_t t = b; t < e; ++t) k.quantize_activation(x + t * w.cols, xq_data + t * xq_row, w.cols);
  });
  // Each thread streams its rows one after another. (Kernels that read
  // several rows in lockstep for one token streamed from memory at a third of
  // the single-row speed on this Zen 4 machine — Gemma 3 270M decode went from
  // 40 to 80 tok/s without them — so decode dots one row at a time.)
  // With four or more tokens (prefill), tiles of 4 rows x 4 tokens reuse each
  // decoded weight block for four tokens and each activation block for four
  // rows; the rows of a tile stay in L1 while all token groups pass over them.
  pool.parallel_for(w.rows, 4, [&](int64_t begin, int64_t end) {
    int64_t r = begin;
    if (k.dot4x4 != nullptr && n_tokens >= 4) {
      float out[16];
      for (; r + 4 <= end; r += 4) {
        const uint8_t* rows = w.data + r * w.row_stride;
        int64_t t = 0;
        for (; t + 4 <= n_tokens; t += 4) {
          k.dot4x4(rows, w.row_stride, xq_data + t * xq_row, xq_row, w.cols, out);
          for (int i = 0; i < 4; ++i) {
            for (int j = 0; j < 4; ++j) y[(t + j) * w.rows + r + i] = out[4 * i + j];
          }
        }
        for (; t < n_tokens; ++t) {
          for (int i = 0; i < 4; ++i) {
            y[t * w.rows + r + i] = k.dot(rows + i * w.row_stride, xq_data + t * xq_row, w.cols);
          }
        }
      }
    }
    for (; r < end; ++r) {
      const uint8_t* row = w.data + r * w.row_stride;
      int64_t t = 0;
      if (k.dot4 != nullptr) {
        // Four tokens per pass: each weight block is decoded once for all four.
        float out[4];
        for (; t + 4 <= n_tokens; t += 4) {
          k.dot4(row, xq_data + t * xq_row, xq_row, w.cols, out);
          for (int i = 0; i < 4; ++i) y[(t + i) * w.rows + r] = out[i];
        }
      }
      for (; t < n_tokens; ++t) y[t * w.rows + r] = k.dot(row, xq_data + t * xq_row, w.cols);
    }
  });
}

}  // namespace

void matmul(const WeightMatrix& w, const float* x, int64_t n_tokens, float* y, ThreadPool& pool) {
  matmul(w, x, n_tokens, y, pool, cpu_features().level);
}

void matmul(const WeightMatrix& w, const float* x, int64_t n_tokens, float* y, ThreadPool& pool,
            IsaLevel max_isa) {
  if (n_tokens <= 0 || w.rows <= 0) return;
  // TESSERA_MATMUL=float forces the float tile path (numerical debugging).
  static const bool force_float = [] {
    const char* v = std::getenv("TESSERA_MATMUL");
    return v != nullptr && std::string_view(v) == "float";
  }();
  const VecDotKernel* k = force_float ? nullptr : find_vec_dot(w.type, max_isa);
  // Quantized weights always meet 8-bit activations, as in llama.cpp: its
  // logits carry that rounding, and matching it keeps the two engines within
  // the parity tolerances (the float tile path is closer to exact math but
  // further from the reference). Every weight type has a kernel.
  if (k != nullptr) {
    matmul_vec_dot(*k, w, x, n_tokens, y, pool);
  } else {
    matmul_tiles(w, x, n_tokens, y, pool);
  }
}

void matmul_reference(const WeightMatrix& w, const float* x, int64_t n_tokens, float* y) {
  std::vector<float> row(static_cast<size_t>(w.cols));
  for (int64_t r = 0; r < w.rows; ++r) {
    dequantize_row(w.type, w.data + r * w.row_stride, row.data(), w.cols);
    for (int64_t t = 0; t < n_tokens; ++t) {
      double s = 0;
      for (int64_t c = 0; c < w.cols; ++c) s += static_cast<double>(row[c]) * x[t * w.cols + c];
      y[t * w.rows + r] = static_cast<float>(s);
    }
  }
}

}  // namespace tessera
