// A moving linear model of engine step time: seconds ~ fixed + per_token * n
// (the fixed part is reading the weights once per step, the per-token part
// the compute each token adds). Fitted by exponentially weighted least
// squares so it follows load changes on a shared machine.
#pragma once

#include <cstdint>

namespace tessera::serving {

class StepTimeModel {
 public:
  // decay: weight kept by older observations per new one (0 < decay < 1).
  explicit StepTimeModel(double decay = 0.95) : decay_(decay) {}

  void observe(int64_t n_tokens, double seconds);
  // False until enough steps of different sizes were seen to fit both terms.
  bool ready() const;
  double fixed_s() const { return fixed_; }
  double per_token_s() const { return per_token_; }
  double predict(int64_t n_tokens) const { return fixed_ + per_token_ * static_cast<double>(n_tokens); }

 private:
  void refit();

  double decay_;
  double sw_ = 0, sx_ = 0, sxx_ = 0, sy_ = 0, sxy_ = 0;  // weighted sums of 1, n, n^2, t, n*t
  int64_t observations_ = 0;
  double fixed_ = 0, per_token_ = 0;
  bool fitted_ = false;
};

}  // namespace tessera::serving
