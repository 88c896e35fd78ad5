// gptq: GPTQ's column-by-column quantization with error feedback (Frantar et
// al., 2022). With H = E[x x^T] over calibration inputs, columns are quantized
// in order; each column's rounding error, scaled by the inverse Hessian's
// Cholesky factor, is pushed onto the columns not yet quantized, so the layer's
// output error (not the weights') is what gets minimised. A group's grid is
// chosen (mse's search) when its first column is reached, on the weights as
// updated so far — GPTQ's "dynamic groups" — and is the grid written to the
// file, so the result is a standard legacy block type.
#include <cmath>
#include <memory>
#include <mutex>
#include <vector>

#include "core/error.h"
#include "core/thread_pool.h"
#include "quant/grid.h"

namespace tessera {

namespace {

constexpr double kDampFraction = 0.01;  // of the mean diagonal, as the paper

// In-place lower Cholesky factor of the SPD matrix a (n x n); false if not SPD.
bool cholesky_lower(std::vector<double>& a, int n) {
  for (int j = 0; j < n; ++j) {
    double* aj = a.data() + static_cast<size_t>(j) * n;
    double d = aj[j];
    for (int k = 0; k < j; ++k) d -= aj[k] * aj[k];
    if (!(d > 0)) return false;
    d = std::sqrt(d);
    aj[j] = d;
    for (int i = j + 1; i < n; ++i) {
      double* ai = a.data() + static_cast<size_t>(i) * n;
      double s = ai[j];
      for (int k = 0; k < j; ++k) s -= ai[k] * aj[k];
      ai[j] = s / d;
    }
    for (int k = j + 1; k < n; ++k) aj[k] = 0.0;
  }
  return true;
}

// Upper factor U with H^-1 = U^T U (rows of U drive the error feedback).
// With J the reversal permutation and J H J = M M^T (Cholesky), H = R R^T for
// the upper R = J M J, so U = R^-1 = J M^-1 J: one Cholesky and one
// triangular inverse, both with contiguous inner loops.
std::vector<double> inverse_hessian_factor(const std::vector<double>& h, int n, ThreadPool& pool) {
  std::vector<double> m(static_cast<size_t>(n) * n);
  for (int i = 0; i < n; ++i) {
    for (int j = 0; j < n; ++j) m[static_cast<size_t>(i) * n + j] = h[static_cast<size_t>(n - 1 - i) * n + (n - 1 - j)];
  }
  if (!cholesky_lower(m, n)) raise("gptq: the damped Hessian is not positive definite");
  std::vector<double> u(static_cast<size_t>(n) * n, 0.0);
  // Column c of M^-1 by forward substitution (M x = e_c); entry r lands in U[n-1-r][n-1-c].
  pool.parallel_for(n, 8, [&](int64_t begin, int64_t end) {
    std::vector<double> x(static_cast<size_t>(n));
    for (int64_t c = begin; c < end; ++c) {
      for (int r = static_cast<int>(c); r < n; ++r) {
        const double* mr = m.data() + static_cast<size_t>(r) * n;
        double s = r == c ? 1.0 : 0.0;
        for (int k = static_cast<int>(c); k < r; ++k) s -= mr[k] * x[k];
        x[r] = s / mr[r];
        u[static_cast<size_t>(n - 1 - r) * n + (n - 1 - c)] = x[r];
      }
    }
  });
  return u;
}

class GptqMethod final : public QuantMethod {
 public:
  std::string_view name() const override { return "gptq"; }
  std::string_view description() const override {
    return "GPTQ: Hessian-weighted column-by-column rounding with error feedback (needs --calib)";
  }
  bool needs_calibration() const override { return true; }
  void check(const QuantSpec& spec) const override {
    check_grid_spec(spec, 0);
    if (grid_layout(spec.type)->k_type) {
      raise<InvalidArgument>("gptq writes the legacy types (Q4_0, Q4_1, Q5_0, Q5_1, Q8_0), not {}",
                             type_name(spec.type));
    }
  }
  QuantizedMatrix quantize(MatrixRef w, const QuantSpec& spec, const QuantStats& stats,
                           ThreadPool& pool) const override {
    check(spec);
    check_grid_spec(spec, w.cols);
    const int n = static_cast<int>(w.cols);
    if (!stats.hessian || stats.hessian->size() != static_cast<size_t>(n) * n) {
      raise<InvalidArgument>("gptq needs calibration statistics (--calib) for a matrix of {} columns", n);
    }
    const std::shared_ptr<const Factor> f = factor_for(stats.hessian, n, pool);
    const std::vector<double>& u = f->u;
    const std::vector<uint8_t>& dead = f->dead;

    const GridRange range = grid_range(*grid_layout(spec.type), spec.bits);
    const int64_t groups_per_row = w.cols / spec.group;
    std::vector<float> quantized(static_cast<size_t>(w.rows * w.cols));
    std::vector<Grid> grids(static_cast<size_t>(w.rows * groups_per_row));
    pool.parallel_for(w.rows, 4, [&](int64_t begin, int64_t end) {
      std::vector<double> row(static_cast<size_t>(n));
      std::vector<float> group(static_cast<size_t>(spec.group));
      for (int64_t r = begin; r < end; ++r) {
        for (int i = 0; i < n; ++i) row[i] = dead[i] ? 0.0 : w.data[r * w.cols + i];
        float* q = quantized.data() + r * w.cols;
        Grid g;
        for (int i = 0; i < n; ++i) {
          if (i % spec.group == 0) {
            for (int k = 0; k < spec.group; ++k) group[k] = static_cast<float>(row[i + k]);
            g = mse_grid(group.data(), nullptr, spec.group, range);
            grids[static_cast<size_t>(r * groups_per_row + i / spec.group)] = g;
          }
          const float x = static_cast<float>(row[i]);
          q[i] = g.d * static_cast<float>(grid_code(x, g, range)) + g.m;
          const double err = (row[i] - q[i]) / u[static_cast<size_t>(i) * n + i];
          const double* ui = u.data() + static_cast<size_t>(i) * n;
          for (int j = i + 1; j < n; ++j) row[j] -= err * ui[j];
        }
      }
    });
    // Pack the on-grid values with the grids chosen above: group k of the
    // flattened matrix starts at quantized.data() + k * group.
    const float* base = quantized.data();
    const int group_size = spec.group;
    auto lookup = [&](const float* x, const float*, int, const GridRange&) {
      return grids[static_cast<size_t>((x - base) / group_size)];
    };
    return pack_with_fitter(MatrixRef{quantized.data(), w.rows, w.cols}, spec, QuantStats{}, lookup, pool);
  }

 private:
  struct Factor {
    std::shared_ptr<const std::vector<float>> hessian;  // keeps the cache key alive
    std::vector<double> u;
    std::vector<uint8_t> dead;  // inputs that never fired
  };

  // Matrices reading the same input share one Hessian (q/k/v, gate/up) and
  // come one after another: the last factor is kept for the next call.
  std::shared_ptr<const Factor> factor_for(const std::shared_ptr<const std::vector<float>>& hessian, int n,
                                           ThreadPool& pool) const {
    std::lock_guard<std::mutex> lock(mutex_);
    if (cached_ && cached_->hessian == hessian) return cached_;
    std::vector<double> h(hessian->begin(), hessian->end());
    std::vector<uint8_t> dead(static_cast<size_t>(n), 0);
    double mean_diag = 0.0;
    for (int i = 0; i < n; ++i) mean_diag += h[static_cast<size_t>(i) * n + i] / n;
    for (int i = 0; i < n; ++i) {
      double& d = h[static_cast<size_t>(i) * n + i];
      if (d <= 0.0) {  // an input that never fired: its weights cannot matter
        dead[i] = 1;
        d = 1.0;
      }
      d += kDampFraction * (mean_diag > 0 ? mean_diag : 1.0);
    }
    cached_ = std::make_shared<const Factor>(Factor{hessian, inverse_hessian_factor(h, n, pool), std::move(dead)});
    return cached_;
  }

  mutable std::mutex mutex_;
  mutable std::shared_ptr<const Factor> cached_;
};

}  // namespace

std::unique_ptr<QuantMethod> make_method_gptq() { return std::make_unique<GptqMethod>(); }

}  // namespace tessera
