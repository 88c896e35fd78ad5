#include "cli/default_model.h"

#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>

#include "core/error.h"

namespace tessera::cli {

namespace {

std::filesystem::path executable_dir() {
  std::error_code ec;
  auto exe = std::filesystem::read_symlink("/proc/self/exe", ec);
  return ec ? std::filesystem::path(".") : exe.parent_path();
}

}  // namespace

std::string resolve_model_path(const std::string& flag) {
  if (!flag.empty()) return flag;
  if (const char* env = std::getenv("TESSERA_MODEL"); env != nullptr && *env != '\0') return env;
  const auto record = executable_dir() / "default-model.txt";
  std::ifstream in(record);
  std::string path;
  if (in && std::getline(in, path) && !path.empty()) {
    if (std::filesystem::exists(path)) return path;
    raise("the default model recorded in {} ({}) does not exist; run scripts/setup.sh again "
          "or pass -m MODEL.gguf",
          record.string(), path);
  }
  raise("no model given and no default model recorded ({} is missing); run scripts/setup.sh "
        "or pass -m MODEL.gguf",
        record.string());
}

}  // namespace tessera::cli
