#include "cli/progress_bar.h"

#include <unistd.h>

#include <cstdio>

namespace tessera::cli {

ProgressBar::ProgressBar(int64_t total, std::string unit)
    : total_(total), unit_(std::move(unit)), tty_(::isatty(STDERR_FILENO) == 1),
      start_(std::chrono::steady_clock::now()) {}

void ProgressBar::update(int64_t done, const std::string& detail) {
  constexpr int kWidth = 30;
  const double elapsed = std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count();
  const double eta = done > 0 ? elapsed / static_cast<double>(done) * static_cast<double>(total_ - done) : 0.0;
  const int filled = total_ > 0 ? static_cast<int>(kWidth * done / total_) : kWidth;
  std::string bar(static_cast<size_t>(filled), '#');
  bar.resize(kWidth, ' ');
  std::fprintf(stderr, "%s[%s] %lld/%lld %s, %s, %.0fs elapsed, ETA %.0fs%s", tty_ ? "\r" : "", bar.c_str(),
               static_cast<long long>(done), static_cast<long long>(total_), unit_.c_str(), detail.c_str(), elapsed,
               eta, tty_ && done < total_ ? " " : "\n");
  std::fflush(stderr);
}

}  // namespace tessera::cli
