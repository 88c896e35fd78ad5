// A one-line progress bar on stderr with elapsed time and ETA. On a terminal
// it redraws in place; otherwise (logs, captured output) it prints one line
// per update so the output stays readable.
#pragma once

#include <chrono>
#include <cstdint>
#include <string>

namespace tessera::cli {

class ProgressBar {
 public:
  // unit names what is counted ("windows").
  ProgressBar(int64_t total, std::string unit);

  // done of total finished; detail is appended (e.g. "ppl 12.34").
  void update(int64_t done, const std::string& detail);

 private:
  int64_t total_;
  std::string unit_;
  bool tty_;
  std::chrono::steady_clock::time_point start_;
};

}  // namespace tessera::cli
