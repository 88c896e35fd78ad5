// Vocabulary data shared by both tokenizer algorithms: token texts, scores,
// types, special ids, and the split of user text around special-token texts.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "tokenizer/tokenizer.h"

namespace tessera {

struct Vocab {
  std::vector<std::string> tokens;
  std::vector<float> scores;
  std::vector<TokenType> types;
  std::unordered_map<std::string, TokenId> ids;
  TokenId bos = -1, eos = -1, unk = -1, eot = -1, pad = -1;
  bool add_bos = false;
  bool add_eos = false;
  bool add_space_prefix = false;
  std::vector<TokenId> eog;  // end-of-generation ids

  // Reads tokenizer.ggml.{tokens,scores,token_type,*_token_id,add_*}; throws
  // FormatError for inconsistent arrays or out-of-range ids.
  static Vocab from_gguf(const GgufFile& f, bool default_add_bos);

  TokenId find(std::string_view text) const;  // -1 when absent
  bool is_eog(TokenId id) const;
};

// A piece of user text: either raw text to run through the tokenizer
// algorithm, or one special token matched in the text.
struct Fragment {
  TokenId token = -1;     // >= 0 for a special token
  std::string_view text;  // raw text when token < 0
};

// Splits text around occurrences of special-token texts, as llama.cpp does:
// user-defined tokens always, control tokens only when parse_special. Longer
// tokens take precedence; occurrences never overlap.
class SpecialTokenMatcher {
 public:
  explicit SpecialTokenMatcher(const Vocab& vocab);
  std::vector<Fragment> split(std::string_view text, bool parse_special) const;

 private:
  struct Node {
    std::unordered_map<unsigned char, int32_t> next;
    TokenId token = -1;
    bool control = false;
  };
  std::vector<Node> trie_;
};

}  // namespace tessera
