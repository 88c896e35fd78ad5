#pragma once

#include <filesystem>
#include <string>
#include <system_error>

#include <unistd.h>

namespace tessera {

// Temporary files of one test process. ctest runs tests in parallel processes,
// and two of them writing and reading one fixed name race (a reader can see the
// other's file replaced or gone mid-test), so every name carries the process id.
inline std::string temp_file_prefix() { return "tessera_" + std::to_string(::getpid()) + "_"; }

inline std::string unique_temp_path(const std::string& name) {
  return (std::filesystem::temp_directory_path() / (temp_file_prefix() + name)).string();
}

// Removes this process's temporary files when the test binary exits, so the
// per-process names do not pile up run after run.
struct TempFileSweeper {
  ~TempFileSweeper() {
    std::error_code ec;
    const std::string prefix = temp_file_prefix();
    // Error-code overloads only: a destructor that runs at exit must not throw.
    std::filesystem::directory_iterator it(std::filesystem::temp_directory_path(ec), ec);
    for (; !ec && it != std::filesystem::directory_iterator(); it.increment(ec)) {
      std::error_code ignored;
      if (it->path().filename().string().rfind(prefix, 0) == 0) std::filesystem::remove(it->path(), ignored);
    }
  }
};
inline TempFileSweeper temp_file_sweeper;

}  // namespace tessera
