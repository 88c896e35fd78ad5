// Byte-level BPE (tokenizer.ggml.model = "gpt2"): the pre-tokenizer splits the
// text into words, each word's bytes are mapped to printable code points
// (GPT-2's byte-to-unicode table), and merges are applied in rank order.
#pragma once

#include <unordered_map>

#include "tokenizer/pretokenizer.h"
#include "tokenizer/tokenizer.h"
#include "tokenizer/vocab.h"

namespace tessera {

class BpeTokenizer final : public Tokenizer {
 public:
  BpeTokenizer(Vocab vocab, std::vector<std::string> merges, PreTokenizer pre, std::string pre_name,
               bool ignore_merges);

  std::vector<TokenId> encode(std::string_view text, bool add_special, bool parse_special) const override;
  std::string token_to_piece(TokenId id, bool render_special) const override;
  int32_t n_vocab() const override { return static_cast<int32_t>(vocab_.tokens.size()); }
  TokenId bos() const override { return vocab_.bos; }
  TokenId eos() const override { return vocab_.eos; }
  bool add_bos() const override { return vocab_.add_bos; }
  bool is_eog(TokenId id) const override { return vocab_.is_eog(id); }
  TokenType token_type(TokenId id) const override { return vocab_.types.at(id); }
  const std::string& token_text(TokenId id) const override { return vocab_.tokens.at(id); }
  std::string model_name() const override { return "gpt2 (byte-level BPE, " + pre_name_ + ")"; }

 private:
  void encode_word(const std::string& word, std::vector<TokenId>& out) const;

  Vocab vocab_;
  SpecialTokenMatcher special_;
  std::unordered_map<std::string, int> merge_rank_;  // "left right" -> rank
  PreTokenizer pre_;
  std::string pre_name_;
  bool ignore_merges_;
  std::string byte_to_unicode_[256];
  std::unordered_map<uint32_t, uint8_t> unicode_to_byte_;
};

}  // namespace tessera
