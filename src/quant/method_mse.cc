// mse: per-group grid search minimising the (importance-weighted) squared
// reconstruction error, written into the same block types as rtn. For each
// candidate range (the extreme mapped to 0.85..1.6 times the end code, i.e.
// from a slightly unused range to strong clipping;
// both ends for symmetric grids) the codes are rounded, the scale (and offset)
// refitted by weighted least squares for those codes, and the grid kept when
// its error, on the stored fp16 grid, is lowest. A few alternating
// round/refit passes then polish the winner. rtn's grid is a candidate, so the
// error of every group is never above rtn's (before K-type sub-scale rounding).
#include <algorithm>
#include <cmath>

#include "quant/grid.h"
#include "quant/half.h"

namespace tessera {

namespace {

constexpr int kCandidates = 24;
// At 7-8 bits the error is nearly flat in the scale: a few candidates find the
// same minimum at a quarter of the cost (it matters for the 168M-weight
// embedding table kept at Q8_0).
constexpr int kCandidatesWide = 6;
constexpr int kPolishPasses = 3;

Grid as_stored(const Grid& g) { return Grid{half_to_float(float_to_half(g.d)), half_to_float(float_to_half(g.m))}; }

// Weighted least-squares grid for fixed codes q; returns false when the codes
// do not determine it (all equal).
bool refit(const float* x, const float* w, int n, const Grid& g, const GridRange& r, Grid* out) {
  double a = 0, b = 0, c = 0, x1 = 0, x0 = 0;
  for (int i = 0; i < n; ++i) {
    const double wi = w != nullptr ? w[i] : 1.0;
    const double q = grid_code(x[i], g, r);
    a += wi * q * q;
    b += wi * q;
    c += wi;
    x1 += wi * x[i] * q;
    x0 += wi * x[i];
  }
  if (!r.offset) {
    if (a <= 0) return false;
    *out = Grid{static_cast<float>(x1 / a), 0.0f};
    return true;
  }
  const double det = a * c - b * b;
  if (det <= 1e-30 * a * c) return false;
  double d = (c * x1 - b * x0) / det;
  double m = (a * x0 - b * x1) / det;
  if (r.offset_nonpositive && m > 0) {  // the K types cannot store a positive offset
    m = 0;
    if (a <= 0) return false;
    d = x1 / a;
  }
  if (d <= 0) return false;
  *out = Grid{static_cast<float>(d), static_cast<float>(m)};
  return true;
}

}  // namespace

Grid mse_grid(const float* x, const float* w, int n, const GridRange& r) {
  Grid best = as_stored(rtn_grid(x, n, r));
  double best_err = grid_error(x, w, n, best, r);
  auto consider = [&](const Grid& start) {
    Grid fitted;
    if (!refit(x, w, n, start, r, &fitted)) return;
    fitted = as_stored(fitted);
    const double e = grid_error(x, w, n, fitted, r);
    if (e < best_err) {
      best_err = e;
      best = fitted;
    }
  };
  const int candidates = r.qmax - r.qmin >= 127 ? kCandidatesWide : kCandidates;
  if (!r.offset) {
    float extreme = 0.0f;
    for (int i = 0; i < n; ++i) {
      if (std::fabs(x[i]) > std::fabs(extreme)) extreme = x[i];
    }
    if (extreme == 0.0f) return best;
    for (int k = 0; k < candidates; ++k) {
      const float f = 0.85f + 0.75f * static_cast<float>(k) / (candidates - 1);
      consider(Grid{extreme / (static_cast<float>(r.qmin) * f), 0.0f});
      consider(Grid{extreme / (static_cast<float>(r.qmax) * f), 0.0f});
    }
  } else {
    float lo = *std::min_element(x, x + n), hi = *std::max_element(x, x + n);
    if (r.offset_nonpositive) lo = std::min(lo, 0.0f);
    if (hi <= lo) return best;
    for (int k = 0; k < candidates; ++k) {
      const float f = 0.85f + 0.75f * static_cast<float>(k) / (candidates - 1);
      const float d = (hi - lo) / (static_cast<float>(r.qmax) * f);
      // Centre the narrower range on the middle of [lo, hi].
      consider(Grid{d, 0.5f * (lo + hi) - 0.5f * d * static_cast<float>(r.qmax)});
      consider(Grid{d, lo});
    }
  }
  for (int pass = 0; pass < kPolishPasses; ++pass) consider(best);
  return best;
}

namespace {

class MseMethod final : public QuantMethod {
 public:
  std::string_view name() const override { return "mse"; }
  std::string_view description() const override {
    return "per-group scale/offset search minimising the (importance-weighted) reconstruction error";
  }
  void check(const QuantSpec& spec) const override { check_grid_spec(spec, 0); }
  QuantizedMatrix quantize(MatrixRef w, const QuantSpec& spec, const QuantStats& stats,
                           ThreadPool& pool) const override {
    return pack_with_fitter(w, spec, stats, mse_grid, pool);
  }
};

}  // namespace

std::unique_ptr<QuantMethod> make_method_mse() { return std::make_unique<MseMethod>(); }

}  // namespace tessera
