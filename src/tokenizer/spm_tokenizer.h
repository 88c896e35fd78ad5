// SentencePiece-style tokenizer (tokenizer.ggml.model = "llama"): spaces become
// U+2581, then the adjacent pair whose merge is the highest-scoring vocabulary
// entry is merged until none is left; pieces outside the vocabulary fall back
// to <0xXX> byte tokens.
#pragma once

#include "tokenizer/tokenizer.h"
#include "tokenizer/vocab.h"

namespace tessera {

class SpmTokenizer final : public Tokenizer {
 public:
  explicit SpmTokenizer(Vocab vocab);

  std::vector<TokenId> encode(std::string_view text, bool add_special, bool parse_special) const override;
  std::string token_to_piece(TokenId id, bool render_special) const override;
  int32_t n_vocab() const override { return static_cast<int32_t>(vocab_.tokens.size()); }
  TokenId bos() const override { return vocab_.bos; }
  TokenId eos() const override { return vocab_.eos; }
  bool add_bos() const override { return vocab_.add_bos; }
  bool is_eog(TokenId id) const override { return vocab_.is_eog(id); }
  TokenType token_type(TokenId id) const override { return vocab_.types.at(id); }
  const std::string& token_text(TokenId id) const override { return vocab_.tokens.at(id); }
  std::string model_name() const override { return "llama (SentencePiece)"; }

 private:
  void encode_text(std::string_view text, std::vector<TokenId>& out) const;

  Vocab vocab_;
  SpecialTokenMatcher special_;
  TokenId byte_tokens_[256];
};

}  // namespace tessera
