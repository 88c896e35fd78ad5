// Vocabularies read from GGUF metadata (tokenizer.ggml.*). Behaviour follows
// llama.cpp's llama_tokenize / llama_token_to_piece so token ids agree with the
// reference for the same text and flags.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "gguf/gguf_file.h"

namespace tessera {

using TokenId = int32_t;

// tokenizer.ggml.token_type values.
enum class TokenType : int32_t {
  Undefined = 0, Normal = 1, Unknown = 2, Control = 3, UserDefined = 4, Unused = 5, Byte = 6,
};

class Tokenizer {
 public:
  virtual ~Tokenizer() = default;

  // Builds the tokenizer named by tokenizer.ggml.model ("llama" = SentencePiece
  // style, "gpt2" = byte-level BPE with the pre-tokenizer of tokenizer.ggml.pre).
  // Throws FormatError for a missing/inconsistent vocabulary or an unsupported
  // model / pre-tokenizer (listing the supported ones).
  static std::unique_ptr<Tokenizer> from_gguf(const GgufFile& file);

  // add_special: prepend BOS (and append EOS) when the vocabulary asks for it.
  // parse_special: text spelling a control / user-defined token becomes that token.
  virtual std::vector<TokenId> encode(std::string_view text, bool add_special,
                                      bool parse_special) const = 0;
  // Bytes of one token as llama_token_to_piece renders them (special tokens
  // only when render_special).
  virtual std::string token_to_piece(TokenId id, bool render_special) const = 0;
  // Concatenated pieces; a multi-byte character split across tokens comes out
  // whole once all its bytes are there.
  std::string decode(const std::vector<TokenId>& ids, bool render_special = false) const;

  virtual int32_t n_vocab() const = 0;
  virtual TokenId bos() const = 0;  // -1 when the vocabulary has none
  virtual TokenId eos() const = 0;
  virtual bool add_bos() const = 0;
  // End-of-generation: EOS, EOT and similar tokens (e.g. <end_of_turn>).
  virtual bool is_eog(TokenId id) const = 0;
  virtual TokenType token_type(TokenId id) const = 0;
  virtual const std::string& token_text(TokenId id) const = 0;  // raw vocabulary entry
  virtual std::string model_name() const = 0;  // "llama (SentencePiece)", "gpt2 (BPE, llama3)"
};

}  // namespace tessera
