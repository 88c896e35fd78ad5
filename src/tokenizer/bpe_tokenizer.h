// Byte-level BPE (tokenizer.ggml.model = "gpt2"): the pre-tokenizer splits the
// text into words, each word's bytes are mapped to printable code points
// (GPT-2's byte-to-unicode table), and merges are applied in rank order.
#pragma once

#include <unordered_map>

#include "tokenizer/pretokenizer.h"
#include "tokenizer/vocab_tokenizer.h"

namespace tessera {

class BpeTokenizer final : public VocabTokenizer {
 public:
  BpeTokenizer(Vocab vocab, std::vector<std::string> merges, PreTokenizer pre, std::string pre_name,
               bool ignore_merges);

  std::vector<TokenId> encode(std::string_view text, bool add_special, bool parse_special) const override;
  std::string token_to_piece(TokenId id, bool render_special) const override;
  std::string model_name() const override { return "gpt2 (byte-level BPE, " + pre_name_ + ")"; }

 private:
  void encode_word(const std::string& word, std::vector<TokenId>& out) const;

  std::unordered_map<std::string, int> merge_rank_;  // "left right" -> rank
  PreTokenizer pre_;
  std::string pre_name_;
  bool ignore_merges_;
  std::string byte_to_unicode_[256];
  std::unordered_map<uint32_t, uint8_t> unicode_to_byte_;
};

}  // namespace tessera
