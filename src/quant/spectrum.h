// Heavy-tailed self-regularisation metric of a weight matrix (as WeightWatcher
// computes it): the eigenvalues of W^T W (the empirical spectral density) and
// the exponent alpha of a power law p(x) ~ x^-alpha fitted to its tail.
#pragma once

#include <cstdint>
#include <vector>

#include "quant/quant_method.h"

namespace tessera {

// Eigenvalues of a symmetric n x n matrix (row-major, both triangles filled),
// ascending. Householder reduction to tridiagonal form, then implicit QL.
std::vector<double> symmetric_eigenvalues(std::vector<double> a, int n);

// Eigenvalues of W^T W or W W^T (the smaller Gram matrix; both have the same
// non-zero spectrum), ascending.
std::vector<double> gram_eigenvalues(MatrixRef w);

struct PowerLawFit {
  double alpha = 0.0;  // exponent of the tail density
  double xmin = 0.0;   // start of the fitted tail
  int n_tail = 0;      // eigenvalues >= xmin
  double ks = 0.0;     // Kolmogorov-Smirnov distance of the fit
};

// Maximum-likelihood power law over eigenvalues >= xmin, with xmin chosen
// among the eigenvalues to minimise the KS distance (Clauset et al.; the
// method of WeightWatcher's `powerlaw` fit). Needs at least min_tail values.
PowerLawFit fit_power_law(std::vector<double> eigenvalues, int min_tail = 10);

}  // namespace tessera
