#include "serving/step_time_model.h"

#include <algorithm>

namespace tessera::serving {

void StepTimeModel::observe(int64_t n_tokens, double seconds) {
  if (n_tokens <= 0 || !(seconds >= 0)) return;
  const double x = static_cast<double>(n_tokens);
  sw_ = decay_ * sw_ + 1;
  sx_ = decay_ * sx_ + x;
  sxx_ = decay_ * sxx_ + x * x;
  sy_ = decay_ * sy_ + seconds;
  sxy_ = decay_ * sxy_ + x * seconds;
  ++observations_;
  refit();
}

void StepTimeModel::refit() {
  const double var = sxx_ / sw_ - (sx_ / sw_) * (sx_ / sw_);  // weighted variance of n
  if (var > 0.25) {
    const double cov = sxy_ / sw_ - (sx_ / sw_) * (sy_ / sw_);
    per_token_ = std::max(0.0, cov / var);
    fixed_ = std::max(0.0, sy_ / sw_ - per_token_ * sx_ / sw_);
    fitted_ = true;
  } else if (!fitted_) {
    // All steps the same size so far: assume time proportional to tokens
    // (pessimistic for prefill, which is what a latency bound wants).
    per_token_ = sy_ / sx_;
    fixed_ = 0;
  }
}

bool StepTimeModel::ready() const { return observations_ >= 4; }

}  // namespace tessera::serving
