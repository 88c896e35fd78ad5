// UTF-8 helpers shared by the tokenizers.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace tessera {

// Length of the sequence a lead byte announces (1 for continuation or invalid
// bytes, so a bad byte is a one-byte symbol of its own).
inline size_t utf8_sequence_length(unsigned char lead) {
  static constexpr size_t kLengths[16] = {1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 2, 2, 3, 4};
  return kLengths[lead >> 4];
}

// Decodes text into code points; an invalid or truncated sequence becomes
// U+FFFD and consumes one byte (as llama.cpp does).
std::vector<uint32_t> utf8_decode(std::string_view text);
void utf8_append(uint32_t cp, std::string& out);

// Length of the longest prefix of `bytes` that ends on a whole UTF-8 character
// (used when streaming so a character split across tokens is held back).
size_t utf8_complete_prefix(std::string_view bytes);

}  // namespace tessera
