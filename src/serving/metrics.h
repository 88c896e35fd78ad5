// Thread-safe counters and histograms behind ServingEngine::metrics(). The
// engine thread records; HTTP threads take snapshots.
#pragma once

#include <mutex>

#include "serving/serving_engine.h"

namespace tessera::serving {

// Prometheus-style histogram over fixed upper bounds (seconds).
void histogram_init(Histogram& h, std::vector<double> upper_bounds_s);
void histogram_observe(Histogram& h, double seconds);

class MetricsRecorder {
 public:
  MetricsRecorder();

  // Applies fn to the live snapshot under the lock (engine thread).
  template <typename Fn>
  void update(Fn&& fn) {
    std::lock_guard lock(mutex_);
    fn(m_);
  }
  MetricsSnapshot snapshot() const {
    std::lock_guard lock(mutex_);
    return m_;
  }

 private:
  mutable std::mutex mutex_;
  MetricsSnapshot m_;
};

}  // namespace tessera::serving
