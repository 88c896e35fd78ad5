// Pre-tokenizers of byte-level BPE vocabularies: split text into words the way
// the model's regex does, before merges run inside each word. Implemented by
// hand over code points (std::regex has no \p{L} / \p{N}).
#pragma once

#include <string>
#include <string_view>
#include <vector>

namespace tessera {

enum class PreTokenizer {
  Gpt2,    // 's|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+
  Llama3,  // (?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+
  Qwen2,   // as Llama3 with \p{N} (one digit per word)
};

// Words as UTF-8 strings; invalid UTF-8 bytes come out as U+FFFD.
std::vector<std::string> pretokenize(std::string_view text, PreTokenizer kind);

}  // namespace tessera
