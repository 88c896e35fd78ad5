// dabc and mdqfo: MorphoQuant's Distribution-Aware Bias Compensation and its
// Morphology-Directed Quantization Function Optimization, as realised here.
//
// The idea: a few long-tailed weights of an output channel (row) stretch the
// grid of their group, so the dense inliers fall on two or three codes. dabc
// fits the grid to the inliers only; the outliers are clamped to the grid's
// end codes, and what clamping (and rounding) loses is absorbed into a
// per-output-channel bias.
//
// What a bias can and cannot absorb (the honest part): the lost term of row r
// is sum_j dW[r][j] * x[j] with dW = W - Q(W); it depends on the input x, and
// a constant added after the matmul can only carry its expectation. With the
// calibration means mu = E[x] (over every window position but the first, the
// attention sink; src/eval/calibration.cc), b[r] = sum_j dW[r][j] * mu[j] is the constant
// that minimises E|dW x - b|^2 (it removes the error's mean; its fluctuation
// dW (x - mu) stays). So
//   - with --calib (QuantStats::mean), the bias dW * mu over the whole row,
//     on the weights as the file stores them, is written as the extra tensor
//     "<stem>.qbias" (F32, one value per row; docs/formats.md) which tessera's
//     forward pass adds after the matmul at every position but a sequence's
//     first, the positions the mean was taken over (added at the attention
//     sink too, it cost more than it removed: docs/quantization.md). The grid and mask are still chosen
//     on the uncompensated error sum_j E[x_j^2] dW_j^2 (the imatrix weighting):
//     the bias is only right in expectation over the calibration text, so
//     the grid does not lean on it. Then on calibration inputs
//     E|dW x - b|^2 = E|dW x|^2 - |dW mu|^2, never above mse's error for the
//     same grid. (Weighting by the variance E[x^2] - mu^2 instead, which
//     trusts the bias to cancel errors on high-mean inputs, was measured and
//     dropped: on Gemma 3 270M at Q4_0 it raised KL from 0.33 (mse) to 0.47,
//     because the massive-activation channels have a large mean and a small
//     relative spread, so their weights got clamped and the evaluation text's
//     means differ from the calibration text's; docs/quantization.md.)
//   - without calibration E[x] is unknown; zero is the only data-free
//     assumption, so no bias is written, the objective is the plain
//     (importance-weighted) weight error, and a mask is only kept where it
//     lowers that error: dabc then behaves as mse on an outlier-aware grid.
//
// dabc's mask: the weights of a group further than kTailSigmas robust sigmas
// (1.4826 * MAD) from their row's median; the group's grid is mse's search
// over the inliers, kept when its error over the whole group (outliers
// clamped) is below that of mse's grid over all weights.
//
// mdqfo optimises grid and mask together by alternating minimisation of the
// same objective: starting from nested tail masks (the k furthest weights,
// k = 0..kMaxMasked, among those beyond kCandidateSigmas, plus dabc's mask),
// it alternates (a) grid := mse's search over the current inliers and (b)
// mask := the weights that grid clamps, until the error stops falling; the
// best grid seen is kept. Its error is never above dabc's in the objective.
//
// The written matrix is a standard block type; only the bias is extra, so a
// file with ".qbias" tensors is tessera-only (llama.cpp refuses unknown
// tensors), and one without is standard.
#include <algorithm>
#include <cmath>
#include <vector>

#include "core/error.h"
#include "core/thread_pool.h"
#include "quant/dequantize.h"
#include "quant/grid.h"

namespace tessera {

namespace {

constexpr float kTailSigmas = 3.0f;       // dabc's outlier threshold
constexpr float kCandidateSigmas = 2.5f;  // mdqfo's pool of mask candidates
constexpr int kMaxMasked = 6;             // mdqfo: nested masks tried per group
constexpr int kAlternations = 4;          // mdqfo: grid/mask passes at most

struct RowShape {
  float center = 0.0f;  // median
  float sigma = 0.0f;   // 1.4826 * median absolute deviation
};

RowShape robust_shape(const float* x, int64_t n, std::vector<float>& scratch) {
  scratch.assign(x, x + n);
  const auto mid = scratch.begin() + n / 2;
  std::nth_element(scratch.begin(), mid, scratch.end());
  const float median = *mid;
  for (int64_t i = 0; i < n; ++i) scratch[i] = std::fabs(x[i] - median);
  std::nth_element(scratch.begin(), mid, scratch.end());
  return RowShape{median, 1.4826f * *mid};
}

// mse's grid over the weights not in `mask` (all masked: nullopt).
bool inlier_grid(const float* x, const float* w, int n, const std::vector<uint8_t>& mask, const GridRange& r,
                 Grid* out) {
  float xs[512], ws[512];  // groups are at most a few blocks (checked in check())
  int m = 0;
  for (int i = 0; i < n; ++i) {
    if (mask[i]) continue;
    xs[m] = x[i];
    ws[m] = w != nullptr ? w[i] : 1.0f;
    ++m;
  }
  if (m < 2) return false;
  *out = mse_grid(xs, ws, m, r);
  return true;
}

class DabcMethod final : public QuantMethod {
 public:
  explicit DabcMethod(bool joint) : joint_(joint) {}

  std::string_view name() const override { return joint_ ? "mdqfo" : "dabc"; }
  std::string_view description() const override {
    return joint_ ? "dabc with grid and outlier mask optimised together (alternating minimisation)"
                  : "outliers clamped off the inlier grid, their expected effect (with --calib) an output bias";
  }
  bool writes_output_bias() const override { return true; }
  void check(const QuantSpec& spec) const override {
    check_grid_spec(spec, 0);
    if (spec.group > 512) raise<InvalidArgument>("{}: groups of at most 512 weights, got {}", name(), spec.group);
  }

  QuantizedMatrix quantize(MatrixRef w, const QuantSpec& spec, const QuantStats& stats,
                           ThreadPool& pool) const override {
    check(spec);
    check_grid_spec(spec, w.cols);
    const bool compensate = static_cast<int64_t>(stats.mean.size()) == w.cols;
    if (!stats.mean.empty() && !compensate) {
      raise<InvalidArgument>("{}: the mean input has {} entries for {} columns", name(), stats.mean.size(), w.cols);
    }
    // Cost of an error in column j: E[x_j^2] (see the top of the file for why
    // not the variance left after compensation).
    QuantStats weighted;
    weighted.importance = stats.importance;
    std::vector<RowShape> shapes(static_cast<size_t>(w.rows));
    pool.parallel_for(w.rows, 16, [&](int64_t begin, int64_t end) {
      std::vector<float> scratch;
      for (int64_t r = begin; r < end; ++r) shapes[r] = robust_shape(w.data + r * w.cols, w.cols, scratch);
    });
    const float* base = w.data;
    const int64_t cols = w.cols;
    auto fitter = [&](const float* x, const float* c, int n, const GridRange& range) {
      return fit_group(x, c, n, range, shapes[static_cast<size_t>((x - base) / cols)]);
    };
    QuantizedMatrix q = pack_with_fitter(w, spec, weighted, fitter, pool);
    if (compensate) q.extras.push_back(bias_of(w, q, stats.mean, pool));
    return q;
  }

 private:
  Grid fit_group(const float* x, const float* c, int n, const GridRange& range, const RowShape& shape) const {
    Grid best = mse_grid(x, c, n, range);
    double best_err = grid_error(x, c, n, best, range);
    if (shape.sigma <= 0.0f) return best;
    auto consider = [&](const std::vector<uint8_t>& mask, Grid* fitted) {
      if (!inlier_grid(x, c, n, mask, range, fitted)) return false;
      const double e = grid_error(x, c, n, *fitted, range);
      if (e < best_err) {
        best_err = e;
        best = *fitted;
      }
      return true;
    };
    std::vector<uint8_t> mask(static_cast<size_t>(n), 0);
    bool any = false;
    for (int i = 0; i < n; ++i) {
      mask[i] = std::fabs(x[i] - shape.center) > kTailSigmas * shape.sigma;
      any = any || mask[i];
    }
    Grid g;
    if (any) consider(mask, &g);
    if (!joint_) return best;

    // Candidates beyond kCandidateSigmas, furthest first.
    std::vector<int> tail;
    for (int i = 0; i < n; ++i) {
      if (std::fabs(x[i] - shape.center) > kCandidateSigmas * shape.sigma) tail.push_back(i);
    }
    if (tail.empty()) return best;
    std::sort(tail.begin(), tail.end(), [&](int a, int b) {
      return std::fabs(x[a] - shape.center) > std::fabs(x[b] - shape.center);
    });
    std::vector<uint8_t> nested(static_cast<size_t>(n), 0);
    for (int k = 0; k < std::min<int>(kMaxMasked, static_cast<int>(tail.size())); ++k) {
      nested[tail[k]] = 1;
      consider(nested, &g);
    }
    // Alternate from the best start: mask := what the grid clamps, grid := inliers' fit.
    Grid current = best;
    double current_err = best_err;
    for (int pass = 0; pass < kAlternations; ++pass) {
      const double lo = static_cast<double>(current.d) * (range.qmin - 0.5) + current.m;
      const double hi = static_cast<double>(current.d) * (range.qmax + 0.5) + current.m;
      for (int i = 0; i < n; ++i) mask[i] = x[i] < lo || x[i] > hi;
      if (!consider(mask, &g)) break;
      const double e = grid_error(x, c, n, g, range);
      if (!(e < current_err)) break;
      current = g;
      current_err = e;
    }
    return best;
  }

  // b[r] = sum_j (W - Q)[r][j] * mu[j], on the weights as the file stores them.
  static ExtraTensor bias_of(MatrixRef w, const QuantizedMatrix& q, const std::vector<float>& mean, ThreadPool& pool) {
    ExtraTensor e{"qbias", {w.rows}, std::vector<float>(static_cast<size_t>(w.rows), 0.0f)};
    const int64_t rb = row_bytes(q.type, w.cols);
    pool.parallel_for(w.rows, 16, [&](int64_t begin, int64_t end) {
      std::vector<float> back(static_cast<size_t>(w.cols));
      for (int64_t r = begin; r < end; ++r) {
        dequantize_row(q.type, q.data.data() + r * rb, back.data(), w.cols);
        double s = 0.0;
        for (int64_t j = 0; j < w.cols; ++j) s += (static_cast<double>(w.data[r * w.cols + j]) - back[j]) * mean[j];
        e.values[r] = static_cast<float>(s);
      }
    });
    return e;
  }

  bool joint_;
};

}  // namespace

std::unique_ptr<QuantMethod> make_method_dabc() { return std::make_unique<DabcMethod>(false); }
std::unique_ptr<QuantMethod> make_method_mdqfo() { return std::make_unique<DabcMethod>(true); }

}  // namespace tessera
