// Weights repacked at load time into 16-row interleaved groups, and the
// matmul kernels that read them (the decode and prefill fast path on every
// CPU with AVX2: packed_avx2.cc, and packed_avx512.cc with AVX-512 VNNI).
//
// Why: the row-by-row kernels (vec_dot.h) follow llama.cpp's float order,
// which makes each 32-weight block of a decode a serial chain of float work;
// at ~1.5 ns per block they cannot keep up with memory. In a packed group the
// same block of 16 rows is one contiguous run of bytes, one 32-bit lane per
// row: a block costs a few integer dot instructions for all 16 rows, the
// block's integer sum is exact, and the float work (one fma per block and row)
// is shared by 16 rows per instruction. The weights stay in their GGUF
// quantization (same bits, same bytes per weight, give or take the K types'
// 6-bit scales, stored as bytes); only their order changes. Except Q3_K:
// its 3-bit weights take nibbles (Q6_K's layout without the high bits).
//
// Float order (the contract every implementation of a kernel keeps, so the
// scalar reference, the AVX2 and AVX-512 kernels and any token count agree bit
// for bit):
// for each (row, token), acc = 0; then per block in column order
//   legacy types (Q4_0, Q5_0, Q8_0): acc = fma(float(Σ q·x), d_w·d_x, acc)
//   Q4_1, Q5_1: acc = fma(float(Σ q·x), d_w·d_x, acc); acc = fma(m_w, s_x, acc)
//               (s_x = d_x·Σx through f16, as ggml's Q8_1 blocks carry it)
//   Q4_K, Q5_K, Q2_K: acc = fma(S, d_w·d_x, acc);
//               acc = fma(-float(Σ_j m_j Σ x), dmin_w·d_x, acc)
//   Q6_K, Q3_K: acc = fma(S, d_w·d_x, acc)
//   F16, BF16 (per column, not per block): even = fma(w, x, even) over the
//         even columns in order, odd likewise over the odd ones; the result
//         is even + odd (two chains, so one token's FMAs overlap; activations
//         rounded through the weights' type, every product exact)
// with every Σ an exact int32 and S the super-block's scaled sub-block sums
// Σ_j sc_j·(Σ q·x) (q the signed weights, u - 32 and u - 4 of the stored u),
// added in one of two ways (KSums):
//   kInt32: in int32, exactly; S = float(that sum)
//   kFloat: S = ((0 + float(t_0)) + float(t_1)) + ... in float, j in order,
//           each term t_j = sc_j·(Σ q·x) exact (|t_j| <= 128·16·63·127 < 2^24)
// The two give the same bits unless a partial sum passes 2^24 (never with
// real weights and activations in our tests, possible at the extremes). The
// AVX2 kernels add in int32 (maddwd applies the scale for free); the AVX-512
// ones in float (a vpmulld is 2 µops; a convert and an fma per sub-block and
// token made Q4_K / Q6_K GEMMs 9-18 % faster). Results are batch invariant
// either way, but not in llama.cpp's order (within float rounding of it;
// TESSERA_REPACK=0 keeps the row kernels and llama.cpp's order).
//
// Row-scaled kernels (PackedScales::kRowToken, Q4_0 and Q8_0): for matrices
// whose rows each have one scale (`quantize --per-channel`) and activations
// quantized to 8 bits with one scale per token, the integer sum runs over the
// whole row and is scaled once:
//   y = float(Σ_row q·x) · (d_w · d_x)
// That drops the per-block float work (a fifth of a compute-bound GEMM) and
// the repeated block scales (Q4_0: 4.0 instead of 4.5 bits read per weight).
// The activations' rounding is no longer llama.cpp's (one scale per token
// instead of per 32 values), so a file asks for it
// (tessera.quantize.activation_scales = "token"; docs/formats.md).
#pragma once

#include <cstdint>
#include <memory>

#include "core/thread_pool.h"
#include "gguf/ggml_type.h"
#include "kernels/cpu_features.h"

namespace tessera {

struct WeightMatrix;

inline constexpr int kPackRows = 16;

// y[t * y_stride + i] = row i of the group · token t, for i < n_rows (rows past
// the matrix's end are zero padding and are not written) and t < n_tokens.
// xp: n_tokens prepared activation rows, xp_stride bytes apart.
using PackedGemmFn = void (*)(const uint8_t* group, int64_t cols, const uint8_t* xp, int64_t xp_stride,
                              int64_t n_tokens, float* y, int64_t y_stride, int n_rows);

// Whose scales a packed kernel multiplies by (see the file comment).
enum class PackedScales : uint8_t {
  kBlock,     // per 32- or 256-column block, weights and activations (GGUF's)
  kRowToken,  // one per weight row, one per token
};

// How a K-type kernel adds a super-block's scaled sub-block sums (above).
enum class KSums : uint8_t { kInt32, kFloat };

struct PackedKernel {
  GgmlType weight_type;
  // Bytes of one packed 16-row group of rows `cols` wide.
  int64_t (*group_bytes)(int64_t cols);
  // Packs rows [0, n_rows) (n_rows <= 16, row_stride bytes apart, GGUF
  // layout) into one group; missing rows are zero (they contribute nothing).
  void (*pack_group)(const uint8_t* rows, int64_t row_stride, int n_rows, int64_t cols, uint8_t* out);
  // The inverse for one row: writes row `row` of a packed group in its GGUF
  // layout, the very bytes pack_group read (row_bytes(type, cols) of them).
  void (*unpack_row)(const uint8_t* group, int row, int64_t cols, uint8_t* out);
  // Prepared activations: quantized as the row kernels quantize them (Q8_0
  // or Q8_K blocks, so the rounding equals llama.cpp's) and laid out with the
  // per-block scales and sums the packed kernels broadcast.
  int64_t (*prepared_row_bytes)(int64_t cols);  // a multiple of 64
  void (*prepare)(const float* x, uint8_t* out, int64_t cols);
  PackedGemmFn gemm = nullptr;
  IsaLevel isa = IsaLevel::kScalar;
  PackedScales scales = PackedScales::kBlock;
  KSums k_sums = KSums::kInt32;  // K types only
};

// The packed kernel for a weight type at the CPU's level (capped by
// TESSERA_ISA), or null: then the type is not packed on this machine.
const PackedKernel* find_packed_kernel(GgmlType type);
const PackedKernel* find_packed_kernel(GgmlType type, IsaLevel max_level);
// The portable reference of the same layout and float order (tests): for a
// type (K types: in the k_sums order), or for a kernel k (k's order).
const PackedKernel* find_packed_kernel_scalar(GgmlType type, KSums k_sums = KSums::kInt32);
const PackedKernel& packed_reference(const PackedKernel& k);
// Row-scaled kernels (Q4_0, Q8_0; AVX-512 VNNI or AVX2 tiles), or
// null when the type has none or the CPU (capped by max_level) is below AVX2.
const PackedKernel* find_row_scaled_kernel(GgmlType type, IsaLevel max_level);
const PackedKernel* find_row_scaled_kernel_scalar(GgmlType type);
// Whether a row-scaled kernel can run w: its type has one, every block of a
// row carries the same scale bits, and a row's integer sum fits int32.
bool has_row_scales(const WeightMatrix& w);

// Packed copies, 64-byte aligned (one matrix's, or an arena of a model's
// matrices: pack_weights); owned by the model.
struct PackedMatrix {
  std::unique_ptr<uint8_t[], void (*)(uint8_t*)> data{nullptr, nullptr};
  int64_t bytes = 0;
};

// Packs w with kernel k (w.type must be k.weight_type; a row-scaled k needs
// has_row_scales(w)); groups are split over
// the pool's threads. With release_source, w.data must lie in a read-only file
// mapping: its pages are released slice by slice as they are packed
// (core/mmap_file.h), so packing never holds a matrix twice in memory.
PackedMatrix pack_matrix(const PackedKernel& k, const WeightMatrix& w, ThreadPool& pool,
                         bool release_source = false);

// The parts of pack_matrix, for callers that place many matrices in one
// buffer: the bytes of w's packed copy (a multiple of 64; throws what
// pack_matrix throws), memory for them (huge-page aligned,
// core/huge_pages.h), and packing into dst (64-byte aligned, that many bytes;
// packed_matrix_bytes made the row-scale check, which is not repeated).
// row_scales_known: the caller has just seen has_row_scales(w) hold, so the
// scan of every block's scale (a read of the whole matrix) is not repeated.
int64_t packed_matrix_bytes(const PackedKernel& k, const WeightMatrix& w, bool row_scales_known = false);
PackedMatrix allocate_packed(int64_t bytes);
void pack_matrix_into(const PackedKernel& k, const WeightMatrix& w, ThreadPool& pool, uint8_t* dst,
                      bool release_source = false);

// Row `row` of w in its GGUF layout: w's own bytes, or, when w has a packed
// copy, rebuilt from it into buf (row_bytes(w.type, w.cols) bytes), because
// packing released the source pages (a tied embedding table is read both
// ways: reading the file's rows would fault them back into memory).
const uint8_t* matrix_row_bytes(const WeightMatrix& w, int64_t row, uint8_t* buf);

// Whether w's rows fit a packed layout: whole blocks of its type, walked 32
// columns at a time (always true of quantized rows; F16 / BF16 rows of other
// widths keep their row kernels).
bool packs_columns(const WeightMatrix& w);

// Whether models loaded now repack their weights: the CPU has a packed kernel
// level and TESSERA_REPACK is not 0.
bool repack_enabled();

}  // namespace tessera
