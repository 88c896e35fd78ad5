#include "quant/spectrum.h"

#include <algorithm>
#include <cmath>

#include "core/error.h"

namespace tessera {

namespace {

// Reduces the symmetric matrix a (n x n) to tridiagonal form by Householder
// reflections applied from both sides; diag/off receive the diagonal and the
// sub-diagonal (off[0] unused). The eigenvalues are unchanged (similarity).
void tridiagonalize(std::vector<double>& a, int n, std::vector<double>& diag, std::vector<double>& off) {
  auto at = [&](int i, int j) -> double& { return a[static_cast<size_t>(i) * n + j]; };
  diag.assign(n, 0.0);
  off.assign(n, 0.0);
  std::vector<double> v(n), p(n);
  for (int k = 0; k + 2 < n; ++k) {
    // Reflect column k below the diagonal onto its first entry.
    double norm = 0.0;
    for (int i = k + 1; i < n; ++i) norm += at(i, k) * at(i, k);
    norm = std::sqrt(norm);
    if (norm == 0.0) continue;
    const double alpha = at(k + 1, k) > 0 ? -norm : norm;
    std::fill(v.begin(), v.end(), 0.0);
    for (int i = k + 1; i < n; ++i) v[i] = at(i, k);
    v[k + 1] -= alpha;
    double vnorm2 = 0.0;
    for (int i = k + 1; i < n; ++i) vnorm2 += v[i] * v[i];
    if (vnorm2 == 0.0) continue;
    // A <- H A H with H = I - 2 v v^T / (v^T v): with p = A v * 2/(v^T v),
    // K = v^T p / (v^T v), q = p - K v: A <- A - v q^T - q v^T.
    const double beta = 2.0 / vnorm2;
    for (int i = k; i < n; ++i) {
      double s = 0.0;
      for (int j = k + 1; j < n; ++j) s += at(i, j) * v[j];
      p[i] = beta * s;
    }
    double vp = 0.0;
    for (int i = k + 1; i < n; ++i) vp += v[i] * p[i];
    const double kk = 0.5 * beta * vp;
    for (int i = k; i < n; ++i) p[i] -= kk * v[i];  // p is now q (v[k] = 0)
    for (int i = k; i < n; ++i) {
      for (int j = k; j < n; ++j) at(i, j) -= v[i] * p[j] + p[i] * v[j];
    }
  }
  for (int i = 0; i < n; ++i) diag[i] = at(i, i);
  for (int i = 1; i < n; ++i) off[i] = at(i, i - 1);
}

// Eigenvalues of the symmetric tridiagonal (d, e) by QL with implicit Wilkinson
// shifts; e[i] couples i-1 and i. Results in d.
void tridiagonal_ql(std::vector<double>& d, std::vector<double>& e) {
  const int n = static_cast<int>(d.size());
  for (int i = 1; i < n; ++i) e[i - 1] = e[i];
  if (n > 0) e[n - 1] = 0.0;
  for (int l = 0; l < n; ++l) {
    for (int iter = 0;; ++iter) {
      int m = l;
      for (; m < n - 1; ++m) {
        const double dd = std::fabs(d[m]) + std::fabs(d[m + 1]);
        if (std::fabs(e[m]) <= 1e-15 * dd) break;
      }
      if (m == l) break;
      if (iter == 60) raise("eigenvalue iteration did not converge");
      double g = (d[l + 1] - d[l]) / (2.0 * e[l]);
      double r = std::hypot(g, 1.0);
      g = d[m] - d[l] + e[l] / (g + (g >= 0 ? r : -r));
      double s = 1.0, c = 1.0, p = 0.0;
      int i = m - 1;
      for (; i >= l; --i) {
        double f = s * e[i];
        const double b = c * e[i];
        r = std::hypot(f, g);
        e[i + 1] = r;
        if (r == 0.0) {
          d[i + 1] -= p;
          e[m] = 0.0;
          break;
        }
        s = f / r;
        c = g / r;
        g = d[i + 1] - p;
        r = (d[i] - g) * s + 2.0 * c * b;
        p = s * r;
        d[i + 1] = g + p;
        g = c * r - b;
      }
      if (r == 0.0 && i >= l) continue;
      d[l] -= p;
      e[l] = g;
      e[m] = 0.0;
    }
  }
}

}  // namespace

std::vector<double> symmetric_eigenvalues(std::vector<double> a, int n) {
  if (n <= 0 || a.size() != static_cast<size_t>(n) * n) raise<InvalidArgument>("symmetric_eigenvalues: bad size");
  std::vector<double> d, e;
  tridiagonalize(a, n, d, e);
  tridiagonal_ql(d, e);
  std::sort(d.begin(), d.end());
  return d;
}

std::vector<double> gram_eigenvalues(MatrixRef w) {
  // The Gram matrix over the smaller dimension: G = W^T W (cols x cols) when
  // cols <= rows, else W W^T.
  const bool by_cols = w.cols <= w.rows;
  const int n = static_cast<int>(by_cols ? w.cols : w.rows);
  const int64_t len = by_cols ? w.rows : w.cols;
  std::vector<double> g(static_cast<size_t>(n) * n, 0.0);
  if (by_cols) {
    std::vector<double> row(static_cast<size_t>(n));
    for (int64_t r = 0; r < len; ++r) {
      const float* x = w.data + r * w.cols;
      for (int i = 0; i < n; ++i) row[i] = x[i];
      for (int i = 0; i < n; ++i) {
        const double xi = row[i];
        double* gi = g.data() + static_cast<size_t>(i) * n;
        for (int j = 0; j <= i; ++j) gi[j] += xi * row[j];
      }
    }
  } else {
    for (int i = 0; i < n; ++i) {
      for (int j = 0; j <= i; ++j) {
        double s = 0.0;
        const float* a = w.data + static_cast<int64_t>(i) * w.cols;
        const float* b = w.data + static_cast<int64_t>(j) * w.cols;
        for (int64_t k = 0; k < len; ++k) s += static_cast<double>(a[k]) * b[k];
        g[static_cast<size_t>(i) * n + j] = s;
      }
    }
  }
  for (int i = 0; i < n; ++i) {
    for (int j = 0; j < i; ++j) g[static_cast<size_t>(j) * n + i] = g[static_cast<size_t>(i) * n + j];
  }
  return symmetric_eigenvalues(std::move(g), n);
}

PowerLawFit fit_power_law(std::vector<double> ev, int min_tail) {
  std::sort(ev.begin(), ev.end());
  // Only positive eigenvalues carry the spectrum (round-off can leave tiny negatives).
  ev.erase(ev.begin(), std::upper_bound(ev.begin(), ev.end(), 0.0));
  const int n = static_cast<int>(ev.size());
  if (n < min_tail) raise<InvalidArgument>("power-law fit needs at least {} positive eigenvalues, got {}", min_tail, n);
  // Suffix sums of log(ev) give each candidate's MLE in O(1).
  std::vector<double> log_suffix(static_cast<size_t>(n) + 1, 0.0);
  for (int i = n - 1; i >= 0; --i) log_suffix[i] = log_suffix[i + 1] + std::log(ev[i]);
  PowerLawFit best;
  best.ks = 1e300;
  for (int start = 0; start + min_tail <= n; ++start) {
    if (start > 0 && ev[start] == ev[start - 1]) continue;
    const double xmin = ev[start];
    const int m = n - start;
    const double sum_log = log_suffix[start] - m * std::log(xmin);
    if (sum_log <= 0) continue;
    const double alpha = 1.0 + m / sum_log;
    double ks = 0.0;
    for (int i = start; i < n; ++i) {
      const double model = 1.0 - std::pow(ev[i] / xmin, 1.0 - alpha);
      const double below = static_cast<double>(i - start) / m, upto = static_cast<double>(i - start + 1) / m;
      ks = std::max({ks, std::fabs(model - below), std::fabs(model - upto)});
    }
    if (ks < best.ks) best = PowerLawFit{alpha, xmin, m, ks};
  }
  return best;
}

}  // namespace tessera
