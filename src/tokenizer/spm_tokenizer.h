// SentencePiece-style tokenizer (tokenizer.ggml.model = "llama"): spaces become
// U+2581, then the adjacent pair whose merge is the highest-scoring vocabulary
// entry is merged until none is left; pieces outside the vocabulary fall back
// to <0xXX> byte tokens.
#pragma once

#include "tokenizer/vocab_tokenizer.h"

namespace tessera {

class SpmTokenizer final : public VocabTokenizer {
 public:
  explicit SpmTokenizer(Vocab vocab);

  std::vector<TokenId> encode(std::string_view text, bool add_special, bool parse_special) const override;
  std::string token_to_piece(TokenId id, bool render_special) const override;
  std::string model_name() const override { return "llama (SentencePiece)"; }

 private:
  void encode_text(std::string_view text, std::vector<TokenId>& out) const;

  TokenId byte_tokens_[256];
};

}  // namespace tessera
