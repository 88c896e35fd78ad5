// Uniform integer grids shared by the grid-based methods (rtn, mse, ...): a
// method only decides each group's grid (scale d, offset m); packing the codes
// into a GGUF block type is common (grid_pack.cc).
//
// A group of weights x is represented as x ≈ d*q + m with integer codes q in
// [qmin, qmax]; symmetric grids have m = 0.
#pragma once

#include <cmath>
#include <cstdint>
#include <functional>
#include <optional>

#include "gguf/ggml_type.h"
#include "quant/quant_method.h"

namespace tessera {

// What a storage type can represent (facts of the block formats).
struct GridLayout {
  int sub_block;     // weights sharing one (d, m) in the format
  int code_bits;     // bits per stored code
  bool offset;       // the format stores an offset m (Q4_1, Q5_1, Q2_K, Q4_K, Q5_K)
  bool k_type;       // scales are themselves quantized per 256-weight super-block (Q2_K ... Q6_K)
};
// nullopt for types the grid packer does not write (floats).
std::optional<GridLayout> grid_layout(GgmlType type);

struct GridRange {
  int qmin = 0, qmax = 0;
  bool offset = false;              // m is free (else m = 0)
  bool offset_nonpositive = false;  // m <= 0 (the K types store -m as an unsigned 6-bit min)
};
// Codes of a `bits`-bit grid in `layout`: symmetric [-2^(b-1), 2^(b-1)-1]
// (8 bits: [-127, 127], so int8 kernels never see -128), asymmetric [0, 2^b-1].
GridRange grid_range(const GridLayout& layout, int bits);

struct Grid {
  float d = 0.0f;
  float m = 0.0f;
};

// Nearest code of x on the grid, clamped to the range. Ties round up (toward
// +inf), as ggml's reference quantizers do: a source that already lies on a
// finer grid (a dequantized Q5_0 model) has many exact ties, and the rule
// decides where they go (this matches llama.cpp's Q4_0 file for such input).
inline int grid_code(float x, const Grid& g, const GridRange& r) {
  if (g.d == 0.0f) return r.offset ? r.qmin : 0;
  const float q = std::floor((x - g.m) / g.d + 0.5f);
  return static_cast<int>(std::fmin(std::fmax(q, static_cast<float>(r.qmin)), static_cast<float>(r.qmax)));
}

// Sum of w*(x - dequant(code(x)))^2 over a group (w null = all ones).
double grid_error(const float* x, const float* w, int n, const Grid& g, const GridRange& r);

// Chooses the grid of one group of n weights x with per-weight importance w
// (null = uniform). Must be thread-safe.
using GroupFitter = std::function<Grid(const float* x, const float* w, int n, const GridRange& range)>;

// round-to-nearest's grid (method_rtn.cc): the starting point other fitters refine.
Grid rtn_grid(const float* x, int n, const GridRange& range);

// The smallest standard legacy type whose codes hold `bits` (2-8): Q4_0/Q4_1
// up to 4 bits (fewer emulate a coarser grid in that container), Q5_0/Q5_1,
// then Q8_0 (symmetric only). Group = the type's block.
QuantSpec spec_for_bits(int bits, bool asym);
// The K type whose codes hold `bits` (2-8), so each bit count is stored at
// its own size: Q2_K, Q3_K, Q4_K, Q5_K, Q6_K, then Q8_0 (7 bits emulated in it).
// Symmetric or not as the type is (Q2_K, Q4_K, Q5_K store offsets).
QuantSpec k_spec_for_bits(int bits);

// mse's grid search (method_mse.cc), returned as stored (fp16 d and m).
Grid mse_grid(const float* x, const float* w, int n, const GridRange& range);

// Validates spec against the type's layout and the row length (InvalidArgument).
void check_grid_spec(const QuantSpec& spec, int64_t cols);

// Quantizes every row: each group of spec.group weights gets fitter's grid,
// which is then rounded to what the type stores (fp16 d/m; 6-bit sub-scales of
// K types) and the codes re-derived by nearest rounding on the stored grid.
QuantizedMatrix pack_with_fitter(MatrixRef w, const QuantSpec& spec, const QuantStats& stats,
                                 const GroupFitter& fitter, ThreadPool& pool);

}  // namespace tessera
