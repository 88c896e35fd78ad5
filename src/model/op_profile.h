// Where a forward pass spends its time: each matmul (keyed by its weights'
// types and shapes, so a model's q/k/v, o, gate/up, down and output show up
// as their own rows), the attention, and the rest. Filled while installed
// with Model::set_op_profile; `tessera bench --profile` prints it per decoded
// token. Timing costs two clock reads per operation, and nothing when no
// profile is installed.
#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <span>
#include <string>
#include <vector>

#include "kernels/matmul.h"

namespace tessera {

class OpProfile {
 public:
  struct Entry {
    std::string name;    // "matmul Q4_K 2048x5632" (rows x cols), "attention", "other"
    int64_t calls = 0;
    double seconds = 0;
    int64_t weight_bytes = 0;  // matrix bytes read per call (0 for non-matmuls)
  };

  // Records one call of `ws` (one matmul, or several sharing an input) or of a named op.
  void add_matmul(std::span<const WeightMatrix* const> ws, double seconds);
  void add(const std::string& name, double seconds);
  // One whole forward pass; "other" is what the recorded ops do not cover.
  void add_forward(double seconds) {
    forward_seconds_ += seconds;
    ++forwards_;
  }

  // Every entry plus "other", longest first.
  std::vector<Entry> entries() const;
  int64_t forwards() const { return forwards_; }
  double forward_seconds() const { return forward_seconds_; }
  void clear();

 private:
  std::map<std::string, Entry> by_name_;
  double forward_seconds_ = 0;
  int64_t forwards_ = 0;
};

// Seconds since `start`, for the timing wrappers.
inline double seconds_since(std::chrono::steady_clock::time_point start) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

}  // namespace tessera
