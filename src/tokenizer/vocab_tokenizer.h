// Base of the tokenizers that are driven by a GGUF vocabulary: holds the
// vocabulary and the special-token matcher and answers the vocabulary queries,
// so each algorithm only implements encode / token_to_piece.
#pragma once

#include "tokenizer/tokenizer.h"
#include "tokenizer/vocab.h"

namespace tessera {

class VocabTokenizer : public Tokenizer {
 public:
  explicit VocabTokenizer(Vocab vocab) : vocab_(std::move(vocab)), special_(vocab_) {}

  int32_t n_vocab() const override { return static_cast<int32_t>(vocab_.tokens.size()); }
  TokenId bos() const override { return vocab_.bos; }
  TokenId eos() const override { return vocab_.eos; }
  bool add_bos() const override { return vocab_.add_bos; }
  bool is_eog(TokenId id) const override { return vocab_.is_eog(id); }
  TokenType token_type(TokenId id) const override { return vocab_.types.at(id); }
  const std::string& token_text(TokenId id) const override { return vocab_.tokens.at(id); }

 protected:
  Vocab vocab_;
  SpecialTokenMatcher special_;
};

}  // namespace tessera
