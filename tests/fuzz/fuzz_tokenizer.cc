// libFuzzer target: arbitrary bytes (invalid UTF-8 included) as text for the
// tokenizers of the GGUF files listed in TESSERA_FUZZ_TOKENIZERS
// (colon-separated; scripts/fuzz.sh passes a SentencePiece and a byte-level
// BPE vocabulary, and the default model's when it is set up). Encoding with
// and without special-token parsing and decoding the result must not crash,
// raise a sanitizer report or throw; the first input byte picks the options.
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <sstream>
#include <string>
#include <vector>

#include "gguf/gguf_file.h"
#include "tokenizer/tokenizer.h"

namespace {

const std::vector<std::unique_ptr<tessera::Tokenizer>>& tokenizers() {
  static const auto list = [] {
    std::vector<std::unique_ptr<tessera::Tokenizer>> out;
    const char* paths = std::getenv("TESSERA_FUZZ_TOKENIZERS");
    if (paths == nullptr) {
      std::fprintf(stderr, "set TESSERA_FUZZ_TOKENIZERS to colon-separated GGUF paths\n");
      std::abort();
    }
    std::istringstream in(paths);
    for (std::string path; std::getline(in, path, ':');) {
      if (!path.empty()) out.push_back(tessera::Tokenizer::from_gguf(tessera::GgufFile(path)));
      // (The file is closed here: a tokenizer owns what it keeps of it.)
    }
    return out;
  }();
  return list;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  const bool add_special = (data[0] & 1) != 0;
  const bool parse_special = (data[0] & 2) != 0;
  const std::string_view text(reinterpret_cast<const char*>(data + 1), size - 1);
  for (const auto& tokenizer : tokenizers()) {
    const std::vector<tessera::TokenId> ids = tokenizer->encode(text, add_special, parse_special);
    (void)tokenizer->decode(ids, (data[0] & 4) != 0);
  }
  return 0;
}
