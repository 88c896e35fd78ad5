#include "tokenizer/vocab.h"

#include <algorithm>

#include "core/error.h"

namespace tessera {

namespace {

TokenId optional_id(const GgufFile& f, const char* key, int64_t n_vocab) {
  const auto v = f.get_i64_opt(key);
  if (!v) return -1;
  if (*v < 0 || *v >= n_vocab) {
    // Some converters write ids of tokens they dropped; llama.cpp ignores them too.
    return -1;
  }
  return static_cast<TokenId>(*v);
}

}  // namespace

Vocab Vocab::from_gguf(const GgufFile& f, bool default_add_bos) {
  Vocab v;
  v.tokens = f.get_string_array("tokenizer.ggml.tokens");
  const auto n = static_cast<int64_t>(v.tokens.size());
  if (n == 0) raise<FormatError>("{}: tokenizer.ggml.tokens is empty", f.path());
  if (f.has("tokenizer.ggml.scores")) {
    v.scores = f.get_f32_array("tokenizer.ggml.scores");
    if (static_cast<int64_t>(v.scores.size()) != n) {
      raise<FormatError>("{}: tokenizer.ggml.scores has {} entries, tokens has {}", f.path(),
                         v.scores.size(), n);
    }
  } else {
    v.scores.assign(static_cast<size_t>(n), 0.0f);
  }
  v.types.assign(static_cast<size_t>(n), TokenType::Normal);
  if (f.has("tokenizer.ggml.token_type")) {
    const auto types = f.get_int_array("tokenizer.ggml.token_type");
    if (static_cast<int64_t>(types.size()) != n) {
      raise<FormatError>("{}: tokenizer.ggml.token_type has {} entries, tokens has {}", f.path(),
                         types.size(), n);
    }
    for (int64_t i = 0; i < n; ++i) {
      if (types[i] < 0 || types[i] > 6) {
        raise<FormatError>("{}: token {} has invalid token_type {}", f.path(), i, types[i]);
      }
      v.types[i] = static_cast<TokenType>(types[i]);
    }
  }
  v.ids.reserve(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) v.ids.emplace(v.tokens[i], static_cast<TokenId>(i));  // first wins

  v.bos = optional_id(f, "tokenizer.ggml.bos_token_id", n);
  v.eos = optional_id(f, "tokenizer.ggml.eos_token_id", n);
  v.unk = optional_id(f, "tokenizer.ggml.unknown_token_id", n);
  v.eot = optional_id(f, "tokenizer.ggml.eot_token_id", n);
  v.pad = optional_id(f, "tokenizer.ggml.padding_token_id", n);
  v.add_bos = f.get_bool_opt("tokenizer.ggml.add_bos_token").value_or(default_add_bos);
  v.add_eos = f.get_bool_opt("tokenizer.ggml.add_eos_token").value_or(false);
  v.add_space_prefix = f.get_bool_opt("tokenizer.ggml.add_space_prefix").value_or(false);

  // End of generation: EOS, EOT, and control tokens that end a turn in chat
  // templates (llama.cpp recognises them by text in the same way).
  for (TokenId id : {v.eos, v.eot}) {
    if (id >= 0) v.eog.push_back(id);
  }
  for (const char* text : {"<end_of_turn>", "<|eot_id|>", "<|im_end|>", "<|endoftext|>", "<|end|>",
                           "<|eom_id|>", "</s>"}) {
    const TokenId id = v.find(text);
    if (id >= 0 && v.types[id] == TokenType::Control &&
        std::find(v.eog.begin(), v.eog.end(), id) == v.eog.end()) {
      v.eog.push_back(id);
    }
  }
  return v;
}

TokenId Vocab::find(std::string_view text) const {
  const auto it = ids.find(std::string(text));
  return it == ids.end() ? -1 : it->second;
}

bool Vocab::is_eog(TokenId id) const { return std::find(eog.begin(), eog.end(), id) != eog.end(); }

SpecialTokenMatcher::SpecialTokenMatcher(const Vocab& vocab) {
  trie_.emplace_back();
  for (size_t id = 0; id < vocab.tokens.size(); ++id) {
    const TokenType t = vocab.types[id];
    if (t != TokenType::Control && t != TokenType::UserDefined && t != TokenType::Unknown) continue;
    const std::string& text = vocab.tokens[id];
    if (text.empty()) continue;
    int32_t node = 0;
    for (unsigned char c : text) {
      auto it = trie_[node].next.find(c);
      if (it == trie_[node].next.end()) {
        trie_.emplace_back();
        const auto child = static_cast<int32_t>(trie_.size() - 1);
        trie_[node].next.emplace(c, child);
        node = child;
      } else {
        node = it->second;
      }
    }
    if (trie_[node].token < 0) {
      trie_[node].token = static_cast<TokenId>(id);
      trie_[node].control = t != TokenType::UserDefined;
    }
  }
}

std::vector<Fragment> SpecialTokenMatcher::split(std::string_view text, bool parse_special) const {
  struct Match {
    size_t pos, len;
    TokenId token;
  };
  std::vector<Match> matches;
  for (size_t i = 0; i < text.size(); ++i) {
    int32_t node = 0;
    for (size_t j = i; j < text.size(); ++j) {
      const auto it = trie_[node].next.find(static_cast<unsigned char>(text[j]));
      if (it == trie_[node].next.end()) break;
      node = it->second;
      const Node& n = trie_[node];
      if (n.token >= 0 && (parse_special || !n.control)) matches.push_back({i, j + 1 - i, n.token});
    }
  }
  // Longer special tokens win; among equals the leftmost; no overlaps.
  std::stable_sort(matches.begin(), matches.end(), [](const Match& a, const Match& b) {
    return a.len != b.len ? a.len > b.len : a.pos < b.pos;
  });
  std::vector<Match> accepted;
  for (const Match& m : matches) {
    const bool overlaps = std::any_of(accepted.begin(), accepted.end(), [&](const Match& a) {
      return m.pos < a.pos + a.len && a.pos < m.pos + m.len;
    });
    if (!overlaps) accepted.push_back(m);
  }
  std::sort(accepted.begin(), accepted.end(), [](const Match& a, const Match& b) { return a.pos < b.pos; });
  std::vector<Fragment> out;
  size_t cursor = 0;
  for (const Match& m : accepted) {
    if (m.pos > cursor) out.push_back({-1, text.substr(cursor, m.pos - cursor)});
    out.push_back({m.token, {}});
    cursor = m.pos + m.len;
  }
  if (cursor < text.size()) out.push_back({-1, text.substr(cursor)});
  return out;
}

}  // namespace tessera
