#include "serving/metrics.h"

#include <algorithm>

namespace tessera::serving {

void histogram_init(Histogram& h, std::vector<double> upper_bounds_s) {
  h.upper_bounds_s = std::move(upper_bounds_s);
  h.cumulative_counts.assign(h.upper_bounds_s.size(), 0);
  h.count = 0;
  h.sum_s = 0;
}

void histogram_observe(Histogram& h, double seconds) {
  // Cumulative buckets: every bound >= the value counts it.
  const auto first = std::lower_bound(h.upper_bounds_s.begin(), h.upper_bounds_s.end(), seconds);
  for (auto i = static_cast<size_t>(first - h.upper_bounds_s.begin()); i < h.cumulative_counts.size(); ++i) {
    ++h.cumulative_counts[i];
  }
  ++h.count;
  h.sum_s += seconds;
}

MetricsRecorder::MetricsRecorder() {
  // Latencies from a few ms (decode of a small model) to a minute (a long
  // queue on a slow machine).
  const std::vector<double> latency = {0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60};
  const std::vector<double> per_token = {0.001, 0.0025, 0.005, 0.01, 0.02, 0.03, 0.05, 0.075,
                                         0.1,   0.15,   0.2,   0.3,  0.5,  1,    2.5};
  histogram_init(m_.time_to_first_token, latency);
  histogram_init(m_.time_per_output_token, per_token);
  histogram_init(m_.queue_time, latency);
  const std::vector<double> step = {0.005, 0.01, 0.02, 0.03, 0.05, 0.075, 0.1, 0.15, 0.2, 0.3, 0.5, 1, 2.5, 5};
  histogram_init(m_.step_seconds_decode, step);
  histogram_init(m_.step_seconds_mixed, step);
  histogram_init(m_.step_seconds_prefill, step);
}

}  // namespace tessera::serving
