// Eigenvalues and the power-law tail fit behind alphaq's bit allocation.
#include "quant/spectrum.h"

#include <gtest/gtest.h>

#include <cmath>
#include <numeric>
#include <random>

namespace tessera {
namespace {

// Q diag(values) Q^T with Q a product of random Householder reflections.
std::vector<double> with_spectrum(const std::vector<double>& values, uint32_t seed) {
  const int n = static_cast<int>(values.size());
  std::vector<double> a(static_cast<size_t>(n) * n, 0.0);
  for (int i = 0; i < n; ++i) a[static_cast<size_t>(i) * n + i] = values[i];
  std::mt19937 rng(seed);
  std::normal_distribution<double> normal;
  for (int r = 0; r < 3; ++r) {
    std::vector<double> v(n);
    double s = 0;
    for (double& x : v) {
      x = normal(rng);
      s += x * x;
    }
    for (double& x : v) x /= std::sqrt(s);
    // a <- H a H, H = I - 2 v v^T
    std::vector<double> av(n, 0.0);
    for (int i = 0; i < n; ++i) {
      for (int j = 0; j < n; ++j) av[i] += a[static_cast<size_t>(i) * n + j] * v[j];
    }
    const double vav = std::inner_product(v.begin(), v.end(), av.begin(), 0.0);
    for (int i = 0; i < n; ++i) {
      for (int j = 0; j < n; ++j) {
        a[static_cast<size_t>(i) * n + j] += -2 * v[i] * av[j] - 2 * av[i] * v[j] + 4 * vav * v[i] * v[j];
      }
    }
  }
  return a;
}

TEST(Spectrum, EigenvaluesOfAKnownSpectrum) {
  for (int n : {1, 2, 3, 17, 64}) {
    std::vector<double> values(n);
    for (int i = 0; i < n; ++i) values[i] = std::pow(1.3, i) - 5.0 + 0.01 * i;
    const auto got = symmetric_eigenvalues(with_spectrum(values, static_cast<uint32_t>(n)), n);
    ASSERT_EQ(got.size(), values.size());
    for (int i = 0; i < n; ++i) EXPECT_NEAR(got[i], values[i], 1e-9 * (1 + std::fabs(values[i]))) << n << " " << i;
  }
}

TEST(Spectrum, GramEigenvaluesAreSquaredSingularValuesEitherWay) {
  // W = diag-like 3x5 with known singular values 3, 2, 1 (rows orthogonal).
  const float w[] = {3, 0, 0, 0, 0, 0, 0, 2, 0, 0, 0, 0, 0, 0, 1};
  const auto wide = gram_eigenvalues(MatrixRef{w, 3, 5});
  ASSERT_EQ(wide.size(), 3u);
  EXPECT_NEAR(wide[0], 1, 1e-12);
  EXPECT_NEAR(wide[1], 4, 1e-12);
  EXPECT_NEAR(wide[2], 9, 1e-12);
  const float t[] = {3, 0, 0, 0, 0, 0, 0, 2, 0, 0, 0, 0, 0, 0, 1};  // its transpose, 5x3
  const auto tall = gram_eigenvalues(MatrixRef{t, 5, 3});
  ASSERT_EQ(tall.size(), 3u);
  for (int i = 0; i < 3; ++i) EXPECT_NEAR(tall[i], wide[i], 1e-12);
}

TEST(Spectrum, PowerLawFitRecoversThePlantedExponent) {
  for (double alpha : {2.0, 3.5, 6.0}) {
    std::mt19937 rng(11);
    std::uniform_real_distribution<double> u(0.0, 1.0);
    std::vector<double> ev;
    for (int i = 0; i < 1500; ++i) ev.push_back(std::pow(1.0 - u(rng), -1.0 / (alpha - 1.0)));  // Pareto, xmin 1
    const PowerLawFit fit = fit_power_law(ev);
    EXPECT_NEAR(fit.alpha, alpha, 0.15 * alpha) << alpha;
    EXPECT_LT(fit.ks, 0.05);
  }
  EXPECT_THROW(fit_power_law({1.0, 2.0}), std::exception);
}

}  // namespace
}  // namespace tessera
