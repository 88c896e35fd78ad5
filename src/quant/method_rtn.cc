// rtn: round-to-nearest on the min/max grid of each group, the baseline every
// paper beats. Symmetric grids map the group's signed extreme to the most
// negative code (ggml's Q4_0/Q5_0 rule; 8 bits: amax to 127); asymmetric grids
// span [min, max] (K types: [min(min, 0), max], the offset they can store).
#include <algorithm>
#include <cmath>

#include "quant/grid.h"

namespace tessera {

Grid rtn_grid(const float* x, int n, const GridRange& r) {
  if (!r.offset) {
    float extreme = 0.0f;
    for (int i = 0; i < n; ++i) {
      if (std::fabs(x[i]) > std::fabs(extreme)) extreme = x[i];
    }
    if (r.qmin == -r.qmax) return Grid{std::fabs(extreme) / static_cast<float>(r.qmax), 0.0f};
    return Grid{extreme / static_cast<float>(r.qmin), 0.0f};
  }
  float lo = x[0], hi = x[0];
  for (int i = 1; i < n; ++i) {
    lo = std::min(lo, x[i]);
    hi = std::max(hi, x[i]);
  }
  if (r.offset_nonpositive) lo = std::min(lo, 0.0f);
  return Grid{(hi - lo) / static_cast<float>(r.qmax - r.qmin), lo};
}

namespace {

class RtnMethod final : public QuantMethod {
 public:
  std::string_view name() const override { return "rtn"; }
  std::string_view description() const override { return "round-to-nearest on each group's min/max grid"; }
  void check(const QuantSpec& spec) const override { check_grid_spec(spec, 0); }
  QuantizedMatrix quantize(MatrixRef w, const QuantSpec& spec, const QuantStats& stats,
                           ThreadPool& pool) const override {
    // rtn ignores importance: it is the statistics-free baseline.
    return pack_with_fitter(w, spec, QuantStats{},
                            [](const float* x, const float*, int n, const GridRange& r) { return rtn_grid(x, n, r); },
                            pool);
  }
};

}  // namespace

std::unique_ptr<QuantMethod> make_method_rtn() { return std::make_unique<RtnMethod>(); }

}  // namespace tessera
