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
#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <string_view>
#include <vector>

#include "core/error.h"
#include "kernels/packed.h"
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

// Bytes of quantized activations a prefill pass keeps hot while a thread's
// rows pass over them: tokens are taken in chunks of about this size, so a
// chunk stays in L2 instead of every tile re-reading all tokens from L3
// (ffn_down of a 1.1B model at pp512: 3 MB of activations per tile). Each
// weight row (packed group) is read, and unpacked into lanes, once per chunk,
// so a chunk is as large as L2 allows: half of a core's L2 (the other half
// for the group, its lanes and the outputs), from 256 KiB (also when the size
// is unknown) to 2 MiB (a VM reporting a shared cache as L2 would otherwise
// get chunks that live in L3). On the AVX-512 Xeon VMs (2 MiB L2) 1 MiB
// against the former fixed 256 KiB: 1.1B Q4_K_M pp128 +8 % (ffn_down's 5632
// columns had taken 36 tokens per chunk).
int64_t token_chunk_bytes() {
  static const int64_t bytes = [] {
    const long l2 = sysconf(_SC_LEVEL2_CACHE_SIZE);
    return std::clamp<int64_t>(l2 > 0 ? l2 / 2 : 0, 256 * 1024, 2 * 1024 * 1024);
  }();
  return bytes;
}

// y[t * y_stride + r] for rows [r_begin, r_end) and tokens [t_begin, t_end).
// Tokens [0, n_batched) of the whole call go through k's batched kernels
// (see VecDotKernel::batched_dot), the others through dot / dot4 / dot4x4.
void multiply_rows(const VecDotKernel& k, const WeightMatrix& w, const uint8_t* xq, int64_t xq_row,
                   int64_t r_begin, int64_t r_end, int64_t t_begin, int64_t t_end, int64_t n_batched,
                   float* y) {
  // Decode streams its rows one after another. (Kernels that read several
  // rows in lockstep for one token streamed from memory at a third to a half
  // of the single-row speed on this Zen 4 machine, with or without software
  // prefetch — measured again for Q4_0 / Q8_0 in docs/performance.md.)
  // With four or more tokens (prefill), tiles of 4 rows x 4 tokens reuse each
  // decoded weight block for four tokens and each activation block for four
  // rows; the rows of a tile stay in L1 while the chunk's token groups pass.
  int64_t r = r_begin;
  if (k.dot4x4 != nullptr && n_batched == 0 && t_end - t_begin >= 4) {
    float out[16];
    for (; r + 4 <= r_end; r += 4) {
      const uint8_t* rows = w.data + r * w.row_stride;
      int64_t t = t_begin;
      for (; t + 4 <= t_end; t += 4) {
        k.dot4x4(rows, w.row_stride, xq + t * xq_row, xq_row, w.cols, out);
        for (int i = 0; i < 4; ++i) {
          for (int j = 0; j < 4; ++j) y[(t + j) * w.rows + r + i] = out[4 * i + j];
        }
      }
      for (; t < t_end; ++t) {
        for (int i = 0; i < 4; ++i) {
          y[t * w.rows + r + i] = k.dot(rows + i * w.row_stride, xq + t * xq_row, w.cols);
        }
      }
    }
  }
  // One weight row against tokens [t, t_stop): four at a time where dot4 exists.
  auto dot_tokens = [&](const uint8_t* row, int64_t r, int64_t t, int64_t t_stop, DotFn dot, Dot4Fn dot4) {
    if (dot4 != nullptr) {
      // Four tokens per pass: each weight block is decoded once for all four.
      float out[4];
      for (; t + 4 <= t_stop; t += 4) {
        dot4(row, xq + t * xq_row, xq_row, w.cols, out);
        for (int i = 0; i < 4; ++i) y[(t + i) * w.rows + r] = out[i];
      }
    }
    for (; t < t_stop; ++t) y[t * w.rows + r] = dot(row, xq + t * xq_row, w.cols);
  };
  const int64_t t_split = std::clamp(n_batched, t_begin, t_end);
  for (; r < r_end; ++r) {
    const uint8_t* row = w.data + r * w.row_stride;
    dot_tokens(row, r, t_begin, t_split, k.batched_dot, k.batched_dot4);
    dot_tokens(row, r, t_split, t_end, k.dot, k.dot4);
  }
}

// Rows [r_begin, r_end) of w times every token, in L2-sized token chunks.
void multiply_rows_chunked(const VecDotKernel& k, const WeightMatrix& w, const uint8_t* xq,
                           int64_t xq_row, int64_t n_tokens, int64_t r_begin, int64_t r_end, SumOrder order,
                           float* y) {
  // A multiple of 4 tokens, so only the last chunk has a remainder.
  const int64_t chunk = std::max<int64_t>(4, token_chunk_bytes() / xq_row / 4 * 4);
  // Types for which llama.cpp changes kernel (and float order) with the batch
  // size use the matching kernels for the tokens llama.cpp gives to its
  // batched kernel: tokens [0, n_batched) here, the rest with dot / dot4.
  // Batch-invariant calls use dot / dot4 / dot4x4 only, which agree bit for
  // bit whatever the token count.
  const int64_t n_batched = (order == SumOrder::kLlamaCpp && k.batched_dot != nullptr &&
                             n_tokens >= k.batched_min_tokens)
                                ? n_tokens - n_tokens % k.batched_group
                                : 0;
  for (int64_t t = 0; t < n_tokens; t += chunk) {
    multiply_rows(k, w, xq, xq_row, r_begin, r_end, t, std::min(n_tokens, t + chunk), n_batched, y);
  }
}

// Converts x (n_tokens rows of `cols` floats) row by row with `convert` into
// rows of row_bytes in a buffer reused across calls, and returns it. One token
// is converted on the calling thread: a pool job would cost a wake-up for one
// row's work. Used for the row kernels' quantized activations and the packed
// kernels' prepared ones (one call's buffer is dead before the next call).
const uint8_t* convert_activations(void (*convert)(const float*, uint8_t*, int64_t), int64_t row_bytes,
                                   const float* x, int64_t cols, int64_t n_tokens, ThreadPool& pool) {
  thread_local std::vector<uint8_t> buf;
  if (buf.size() < static_cast<size_t>(row_bytes * n_tokens)) buf.resize(row_bytes * n_tokens);
  // Workers must write the caller's buffer, not their own thread_local one.
  uint8_t* data = buf.data();
  if (n_tokens == 1) {
    convert(x, data, cols);
  } else {
    pool.parallel_for(n_tokens, 1, [&](int64_t b, int64_t e) {
      for (int64_t t = b; t < e; ++t) convert(x + t * cols, data + t * row_bytes, cols);
    });
  }
  return data;
}

const uint8_t* quantize_activations(const VecDotKernel& k, const float* x, int64_t cols, int64_t n_tokens,
                                    ThreadPool& pool) {
  return convert_activations(k.quantize_activation, k.activation_row_bytes(cols), x, cols, n_tokens, pool);
}

void matmul_vec_dot(const VecDotKernel& k, const WeightMatrix& w, const float* x,
                    int64_t n_tokens, float* y, ThreadPool& pool, SumOrder order) {
  const uint8_t* xq = quantize_activations(k, x, w.cols, n_tokens, pool);
  const int64_t xq_row = k.activation_row_bytes(w.cols);
  pool.parallel_for(w.rows, 4, [&](int64_t begin, int64_t end) {
    multiply_rows_chunked(k, w, xq, xq_row, n_tokens, begin, end, order, y);
  });
}

const uint8_t* prepare_packed_activations(const PackedKernel& k, const float* x, int64_t cols, int64_t n_tokens,
                                          ThreadPool& pool) {
  return convert_activations(k.prepare, k.prepared_row_bytes(cols), x, cols, n_tokens, pool);
}

// Packed groups [g_begin, g_end) of w times every token, in L2-sized token
// chunks: a group (16 rows) stays in L1/L2 while a chunk's token tiles pass.
void multiply_groups(const WeightMatrix& w, const uint8_t* xp, int64_t xp_row, int64_t n_tokens, int64_t g_begin,
                     int64_t g_end, float* y) {
  const PackedKernel& k = *w.packed_kernel;
  const int64_t group_bytes = k.group_bytes(w.cols);
  const int64_t chunk = std::max<int64_t>(4, token_chunk_bytes() / xp_row / 4 * 4);
  for (int64_t t0 = 0; t0 < n_tokens; t0 += chunk) {
    const int64_t nt = std::min(chunk, n_tokens - t0);
    for (int64_t g = g_begin; g < g_end; ++g) {
      const int n_rows = static_cast<int>(std::min<int64_t>(kPackRows, w.rows - g * kPackRows));
      k.gemm(w.packed + g * group_bytes, w.cols, xp + t0 * xp_row, xp_row, nt, y + t0 * w.rows + g * kPackRows,
             w.rows, n_rows);
    }
  }
}

int64_t n_groups(const WeightMatrix& w) { return (w.rows + kPackRows - 1) / kPackRows; }

void matmul_packed(const WeightMatrix& w, const float* x, int64_t n_tokens, float* y, ThreadPool& pool) {
  const PackedKernel& k = *w.packed_kernel;
  const uint8_t* xp = prepare_packed_activations(k, x, w.cols, n_tokens, pool);
  const int64_t xp_row = k.prepared_row_bytes(w.cols);
  pool.parallel_for(n_groups(w), 1, [&](int64_t begin, int64_t end) {
    multiply_groups(w, xp, xp_row, n_tokens, begin, end, y);
  });
}

bool force_float_matmul() {
  // TESSERA_MATMUL=float forces the float tile path (numerical debugging).
  static const bool force_float = [] {
    const char* v = std::getenv("TESSERA_MATMUL");
    return v != nullptr && std::string_view(v) == "float";
  }();
  return force_float;
}

bool use_packed(const WeightMatrix& w, IsaLevel max_isa) {
  return w.packed != nullptr && max_isa >= w.packed_kernel->isa && !force_float_matmul();
}

}  // namespace

void matmul(const WeightMatrix& w, const float* x, int64_t n_tokens, float* y, ThreadPool& pool,
            SumOrder order) {
  matmul(w, x, n_tokens, y, pool, cpu_features().level, order);
}

void matmul(const WeightMatrix& w, const float* x, int64_t n_tokens, float* y, ThreadPool& pool,
            IsaLevel max_isa, SumOrder order) {
  if (n_tokens <= 0 || w.rows <= 0) return;
  if (use_packed(w, max_isa)) {
    matmul_packed(w, x, n_tokens, y, pool);
    return;
  }
  const bool force_float = force_float_matmul();
  const VecDotKernel* k = force_float ? nullptr : find_vec_dot(w.type, max_isa);
  // Quantized weights always meet 8-bit activations, as in llama.cpp: its
  // logits carry that rounding, and matching it keeps the two engines within
  // the parity tolerances (the float tile path is closer to exact math but
  // further from the reference). Every weight type has a kernel.
  if (k != nullptr) {
    matmul_vec_dot(*k, w, x, n_tokens, y, pool, order);
  } else {
    matmul_tiles(w, x, n_tokens, y, pool);
  }
}

void matmul_shared_input(std::span<const WeightMatrix* const> ws, const float* x, int64_t n_tokens,
                         std::span<float* const> ys, ThreadPool& pool, SumOrder order) {
  if (ws.size() != ys.size()) raise<InvalidArgument>("matmul_shared_input: {} matrices, {} outputs", ws.size(), ys.size());
  if (n_tokens <= 0 || ws.empty()) return;
  const bool force_float = force_float_matmul();
  // Packed matrices that prepare their activations alike share one job too.
  bool all_packed = ws.size() <= kMaxSharedInput;
  for (const WeightMatrix* w : ws) {
    all_packed = all_packed && use_packed(*w, cpu_features().level) && w->cols == ws[0]->cols &&
                 w->packed_kernel->prepare == ws[0]->packed_kernel->prepare;
  }
  if (all_packed) {
    const PackedKernel& k = *ws[0]->packed_kernel;
    const uint8_t* xp = prepare_packed_activations(k, x, ws[0]->cols, n_tokens, pool);
    const int64_t xp_row = k.prepared_row_bytes(ws[0]->cols);
    int64_t first_group[kMaxSharedInput + 1] = {0};
    for (size_t i = 0; i < ws.size(); ++i) first_group[i + 1] = first_group[i] + n_groups(*ws[i]);
    pool.parallel_for(first_group[ws.size()], 1, [&](int64_t begin, int64_t end) {
      for (size_t i = 0; i < ws.size(); ++i) {
        const int64_t b = std::max(begin, first_group[i]);
        const int64_t e = std::min(end, first_group[i + 1]);
        if (b < e) multiply_groups(*ws[i], xp, xp_row, n_tokens, b - first_group[i], e - first_group[i], ys[i]);
      }
    });
    return;
  }
  // One shared job needs one activation format and one width; otherwise each
  // matrix goes through matmul() on its own (same results either way).
  const VecDotKernel* k = force_float ? nullptr : find_vec_dot(ws[0]->type);
  bool shared = k != nullptr && ws.size() <= kMaxSharedInput;
  for (const WeightMatrix* w : ws) {
    const VecDotKernel* kw = force_float ? nullptr : find_vec_dot(w->type);
    // A packed matrix (whose kernel prepares its own activations) goes on its own.
    shared = shared && kw != nullptr && !use_packed(*w, cpu_features().level) && w->cols == ws[0]->cols &&
             kw->quantize_activation == k->quantize_activation &&
             kw->activation_row_bytes == k->activation_row_bytes;
  }
  if (!shared) {
    for (size_t i = 0; i < ws.size(); ++i) matmul(*ws[i], x, n_tokens, ys[i], pool, order);
    return;
  }
  const uint8_t* xq = quantize_activations(*k, x, ws[0]->cols, n_tokens, pool);
  const int64_t xq_row = k->activation_row_bytes(ws[0]->cols);
  // The matrices' rows end to end form one index space split over the threads.
  int64_t first_row[kMaxSharedInput + 1] = {0};
  const VecDotKernel* kernels[kMaxSharedInput];
  for (size_t i = 0; i < ws.size(); ++i) {
    first_row[i + 1] = first_row[i] + ws[i]->rows;
    kernels[i] = find_vec_dot(ws[i]->type);
  }
  pool.parallel_for(first_row[ws.size()], 4, [&](int64_t begin, int64_t end) {
    for (size_t i = 0; i < ws.size(); ++i) {
      const int64_t b = std::max(begin, first_row[i]);
      const int64_t e = std::min(end, first_row[i + 1]);
      if (b >= e) continue;
      multiply_rows_chunked(*kernels[i], *ws[i], xq, xq_row, n_tokens, b - first_row[i], e - first_row[i], order,
                            ys[i]);
    }
  });
}

std::span<const uint8_t> matrix_read_span(const WeightMatrix& w) {
  if (w.packed != nullptr) {
    return {w.packed, static_cast<size_t>(n_groups(w) * w.packed_kernel->group_bytes(w.cols))};
  }
  return {w.data, static_cast<size_t>(w.rows * row_bytes(w.type, w.cols))};
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
