// awq: activation-aware weight quantization (Lin et al., 2023). Input
// channels that carry large activations ("salient" channels) matter most;
// scaling column j of W up by s_j (and the input down by s_j) gives those
// weights a finer share of their group's grid without changing W x. As the
// paper, s = a^alpha with a_j the RMS of input j over calibration text
// (sqrt of the importance vector), normalised so sqrt(max * min) = 1, and
// alpha grid-searched in [0, 1] per input to minimise the output error of
// the matrices that read it, sum_r dW_r^T H dW_r with H = E[x x^T] (on a
// sample of kSampleRows rows per matrix; alpha = 0 is plain mse, so the
// search never ends above it).
//
// Folding, so the file stays standard: the quantized matrix is W diag(s) in an
// ordinary block type and 1/s is folded into what produces the input: the
// weight of the RMS norm in front of q/k/v (attn_norm) and gate/up (ffn_norm),
// whose readers share s, and, as the paper does, the rows of the matrix whose
// output the input is: ffn_up's for ffn_down (its input act(gate) * up scales
// with them) and attn_v's for attn_output (the attention is linear in V; with
// grouped KV heads one V row feeds a channel of several query heads, so s is
// chosen from their averaged importance and is equal on them). The model
// quantizer does the grouping and folding (model_quantizer.cc).
//
// Each matrix's grid is mse's search weighted by the importance of the scaled
// input (E[x_j^2] / s_j^2).
#include <algorithm>
#include <cmath>
#include <vector>

#include "core/error.h"
#include "core/thread_pool.h"
#include "quant/dequantize.h"
#include "quant/grid.h"

namespace tessera {

namespace {

constexpr int kAlphaSteps = 10;   // alpha = 0, 0.1, ..., 1
constexpr int kSampleRows = 32;   // rows per matrix in the search's error

// Rows r * rows / kSampleRows: an even sample.
std::vector<int64_t> sample_rows(int64_t rows) {
  std::vector<int64_t> out;
  const int64_t n = std::min<int64_t>(rows, kSampleRows);
  for (int64_t k = 0; k < n; ++k) out.push_back(k * rows / n);
  return out;
}

// Salience of each input: RMS activation, floored so a silent channel does not
// get a vanishing scale (its weights would then be scaled to nothing).
std::vector<double> salience(const std::vector<float>& importance) {
  std::vector<double> a(importance.size());
  double mean = 0.0;
  for (size_t j = 0; j < a.size(); ++j) {
    a[j] = std::sqrt(std::max(0.0f, importance[j]));
    mean += a[j] / static_cast<double>(a.size());
  }
  for (double& v : a) v = std::max(v, 1e-2 * mean);
  return a;
}

std::vector<float> scale_for(const std::vector<double>& a, double alpha) {
  std::vector<float> s(a.size());
  double lo = 1e300, hi = 0.0;
  for (double v : a) {
    lo = std::min(lo, std::pow(v, alpha));
    hi = std::max(hi, std::pow(v, alpha));
  }
  const double norm = std::sqrt(lo * hi);
  for (size_t j = 0; j < a.size(); ++j) s[j] = static_cast<float>(std::pow(a[j], alpha) / norm);
  return s;
}

class AwqMethod final : public QuantMethod {
 public:
  std::string_view name() const override { return "awq"; }
  std::string_view description() const override {
    return "AWQ: activation-aware input-channel scaling folded into the preceding norm (needs --calib)";
  }
  bool needs_calibration() const override { return true; }
  bool scales_inputs() const override { return true; }
  void check(const QuantSpec& spec) const override { check_grid_spec(spec, 0); }

  QuantizedMatrix quantize(MatrixRef w, const QuantSpec& spec, const QuantStats& stats,
                           ThreadPool& pool) const override {
    return pack_with_fitter(w, spec, stats, mse_grid, pool);
  }

  std::vector<float> input_scale(std::span<const MatrixRef> readers, std::span<const QuantSpec> specs,
                                 const QuantStats& stats, ThreadPool& pool) const override {
    if (readers.empty() || readers.size() != specs.size()) raise<InvalidArgument>("awq: one spec per reader");
    const int64_t n = readers[0].cols;
    for (const MatrixRef& r : readers) {
      if (r.cols != n) raise<InvalidArgument>("awq: readers of one input differ in columns ({} vs {})", r.cols, n);
    }
    if (static_cast<int64_t>(stats.importance.size()) != n || !stats.hessian ||
        stats.hessian->size() != static_cast<size_t>(n * n)) {
      raise<InvalidArgument>("awq needs calibration statistics (--calib) for an input of {} columns", n);
    }
    const std::vector<double> a = salience(stats.importance);
    const std::vector<float>& h = *stats.hessian;
    std::vector<float> best;
    double best_err = 0.0;
    for (int step = 0; step <= kAlphaSteps; ++step) {
      const std::vector<float> s = scale_for(a, static_cast<double>(step) / kAlphaSteps);
      QuantStats scaled;
      scaled.importance.resize(static_cast<size_t>(n));
      for (int64_t j = 0; j < n; ++j) scaled.importance[j] = stats.importance[j] / (s[j] * s[j]);
      double err = 0.0;
      for (size_t k = 0; k < readers.size(); ++k) err += sampled_error(readers[k], specs[k], s, scaled, h, pool);
      if (best.empty() || err < best_err) {
        best = s;
        best_err = err;
      }
    }
    return best;
  }

 private:
  // sum over sampled rows of dW^T H dW, dW = Q(w diag(s)) diag(1/s) - w.
  static double sampled_error(MatrixRef w, const QuantSpec& spec, const std::vector<float>& s,
                              const QuantStats& scaled, const std::vector<float>& h, ThreadPool& pool) {
    const int64_t n = w.cols;
    const std::vector<int64_t> rows = sample_rows(w.rows);
    const int64_t m = static_cast<int64_t>(rows.size());
    std::vector<float> sub(static_cast<size_t>(m * n));
    for (int64_t k = 0; k < m; ++k) {
      for (int64_t j = 0; j < n; ++j) sub[k * n + j] = w.data[rows[k] * n + j] * s[j];
    }
    const QuantizedMatrix q = pack_with_fitter(MatrixRef{sub.data(), m, n}, spec, scaled, mse_grid, pool);
    const int64_t rb = row_bytes(q.type, n);
    std::vector<double> per_row(static_cast<size_t>(m), 0.0);
    pool.parallel_for(m, 1, [&](int64_t begin, int64_t end) {
      std::vector<float> back(static_cast<size_t>(n));
      std::vector<double> d(static_cast<size_t>(n));
      for (int64_t k = begin; k < end; ++k) {
        dequantize_row(q.type, q.data.data() + k * rb, back.data(), n);
        for (int64_t j = 0; j < n; ++j) d[j] = (static_cast<double>(back[j]) - sub[k * n + j]) / s[j];
        double e = 0.0;
        for (int64_t i = 0; i < n; ++i) {
          const float* hi = h.data() + i * n;
          double t = 0.0;
          for (int64_t j = 0; j < n; ++j) t += hi[j] * d[j];
          e += d[i] * t;
        }
        per_row[k] = e;
      }
    });
    double total = 0.0;
    for (double e : per_row) total += e;
    // Scale up to the whole matrix, so matrices of different heights weigh by their rows.
    return total * static_cast<double>(w.rows) / static_cast<double>(m);
  }
};

}  // namespace

std::unique_ptr<QuantMethod> make_method_awq() { return std::make_unique<AwqMethod>(); }

}  // namespace tessera
