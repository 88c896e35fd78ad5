// Matrix multiplication of a GGUF weight matrix with float activations.
// This is the seam where per-type, per-ISA kernels plug in: callers only see
// WeightMatrix and matmul(); dispatch on type and CPU features happens inside.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>

#include "core/thread_pool.h"
#include "kernels/cpu_features.h"
#include "gguf/ggml_type.h"

namespace tessera {

struct PackedKernel;

// A row-major weight matrix in one of the GGUF block formats: `rows` output
// features, each a row of `cols` input features stored as row_bytes(type, cols)
// bytes. For a GGUF tensor of shape [ne0, ne1], cols = ne0 and rows = ne1.
struct WeightMatrix {
  GgmlType type = GgmlType::F32;
  int64_t rows = 0;
  int64_t cols = 0;
  const uint8_t* data = nullptr;
  int64_t row_stride = 0;  // bytes between rows
  // Optional copy packed in 16-row groups (kernels/packed.h) and its kernel.
  // When set, matmul() reads it for every token count: results are then batch
  // invariant whatever the SumOrder, within float rounding of llama.cpp's.
  const uint8_t* packed = nullptr;
  const PackedKernel* packed_kernel = nullptr;
};

// How a matmul may order its float sums across calls with different numbers
// of tokens.
enum class SumOrder : uint8_t {
  // llama.cpp's: for some types its CPU backend switches kernel, and so float
  // order, with the number of tokens (VecDotKernel::batched_dot); following it
  // keeps prefill logits closest to llama.cpp's. A token's result then depends
  // on how many tokens share the call.
  kLlamaCpp,
  // Every token's result is bit-identical whatever else shares the call (the
  // serving engine's batch invariance: outputs do not depend on co-scheduled
  // requests).
  kBatchInvariant,
};

// y[t * rows + r] = sum_c W[r][c] * x[t * cols + c] for t in [0, n_tokens).
// x: n_tokens x cols floats, y: n_tokens x rows floats (must not alias x).
// Work is split over the pool's threads. Results agree with the
// float reference within the rounding of the activation quantization the
// chosen kernel uses (as ggml does: Q8_0 / Q8_K activation blocks).
void matmul(const WeightMatrix& w, const float* x, int64_t n_tokens, float* y, ThreadPool& pool,
            SumOrder order = SumOrder::kLlamaCpp);
// The same with kernels of at most `max_isa` (tests and benchmarks run each
// instruction-set path on one machine this way).
void matmul(const WeightMatrix& w, const float* x, int64_t n_tokens, float* y, ThreadPool& pool,
            IsaLevel max_isa, SumOrder order = SumOrder::kLlamaCpp);

// ys[i] = ws[i] x for matrices that read the same activations (q/k/v,
// gate/up), i < kMaxSharedInput: the activations are quantized once and all
// the matrices' rows are split over the threads in one job, so the layer waits
// for the pool once instead of once per matrix. Results equal separate
// matmul() calls bit for bit.
inline constexpr size_t kMaxSharedInput = 4;
void matmul_shared_input(std::span<const WeightMatrix* const> ws, const float* x, int64_t n_tokens,
                         std::span<float* const> ys, ThreadPool& pool, SumOrder order = SumOrder::kLlamaCpp);

// The weights one pass over w reads: its packed copy when it has one (a
// packed layout can differ from the GGUF rows: byte-wide K scales, or no
// per-block scales in row-scaled groups), else its GGUF rows.
std::span<const uint8_t> matrix_read_span(const WeightMatrix& w);
inline int64_t matrix_read_bytes(const WeightMatrix& w) { return static_cast<int64_t>(matrix_read_span(w).size()); }

// Plain float reference: dequantizes each row and accumulates in double.
// Used by tests to check every fast path.
void matmul_reference(const WeightMatrix& w, const float* x, int64_t n_tokens, float* y);

}  // namespace tessera
