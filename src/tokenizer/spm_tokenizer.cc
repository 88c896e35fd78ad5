#include "tokenizer/spm_tokenizer.h"

#include <fmt/format.h>

#include <queue>
#include <unordered_map>

#include "tokenizer/utf8.h"

namespace tessera {

namespace {

constexpr std::string_view kSpace = "\xE2\x96\x81";  // U+2581 LOWER ONE EIGHTH BLOCK

std::string escape_spaces(std::string_view text) {
  std::string out;
  out.reserve(text.size() * 2);
  for (char c : text) {
    if (c == ' ') out += kSpace;
    else out += c;
  }
  return out;
}

struct Symbol {
  int prev, next;
  size_t begin, len;  // bytes of the escaped text; len 0 once merged away
};

struct Bigram {
  int left, right;
  float score;
  size_t len;
};

struct BigramOrder {
  // Highest score first; among equal scores the leftmost pair.
  bool operator()(const Bigram& a, const Bigram& b) const {
    return a.score < b.score || (a.score == b.score && a.left > b.left);
  }
};

}  // namespace

SpmTokenizer::SpmTokenizer(Vocab vocab) : VocabTokenizer(std::move(vocab)) {
  for (int b = 0; b < 256; ++b) byte_tokens_[b] = vocab_.find(fmt::format("<0x{:02X}>", b));
}

std::vector<TokenId> SpmTokenizer::encode(std::string_view text, bool add_special,
                                          bool parse_special) const {
  std::vector<TokenId> out;
  if (add_special && vocab_.add_bos && vocab_.bos >= 0) out.push_back(vocab_.bos);
  bool prev_special = true;
  for (const Fragment& f : special_.split(text, parse_special)) {
    if (f.token >= 0) {
      out.push_back(f.token);
      prev_special = true;
      continue;
    }
    if (vocab_.add_space_prefix && prev_special) {
      encode_text(" " + std::string(f.text), out);
    } else {
      encode_text(f.text, out);
    }
    prev_special = false;
  }
  if (add_special && vocab_.add_eos && vocab_.eos >= 0) out.push_back(vocab_.eos);
  return out;
}

void SpmTokenizer::encode_text(std::string_view raw, std::vector<TokenId>& out) const {
  const std::string text = escape_spaces(raw);
  if (text.empty()) return;
  std::vector<Symbol> symbols;
  for (size_t pos = 0; pos < text.size();) {
    const size_t len = std::min(utf8_sequence_length(static_cast<unsigned char>(text[pos])), text.size() - pos);
    const int index = static_cast<int>(symbols.size());
    symbols.push_back({index - 1, index + 1, pos, len});
    pos += len;
  }
  symbols.back().next = -1;

  std::priority_queue<Bigram, std::vector<Bigram>, BigramOrder> queue;
  // The text of every bigram ever proposed, to re-split a merged piece that
  // turns out not to be a token (it maps to the pair it was built from).
  std::unordered_map<std::string_view, std::pair<int, int>> rev_merge;
  auto try_add = [&](int left, int right) {
    if (left < 0 || right < 0) return;
    const std::string_view piece(text.data() + symbols[left].begin, symbols[left].len + symbols[right].len);
    const TokenId id = vocab_.find(piece);
    if (id < 0) return;
    queue.push({left, right, vocab_.scores[id], piece.size()});
    rev_merge[piece] = {left, right};
  };
  for (size_t i = 1; i < symbols.size(); ++i) try_add(static_cast<int>(i - 1), static_cast<int>(i));

  while (!queue.empty()) {
    const Bigram b = queue.top();
    queue.pop();
    Symbol& left = symbols[b.left];
    Symbol& right = symbols[b.right];
    // Stale entry: one side was merged into something else since it was queued.
    if (left.len == 0 || right.len == 0 || left.len + right.len != b.len) continue;
    left.len += right.len;
    right.len = 0;
    left.next = right.next;
    if (right.next >= 0) symbols[right.next].prev = b.left;
    try_add(left.prev, b.left);
    try_add(b.left, left.next);
  }

  // Emit each final symbol, re-splitting pieces that are not tokens.
  std::vector<int> stack;
  for (int i = 0; i != -1; i = symbols[i].next) {
    stack.push_back(i);
    while (!stack.empty()) {
      const int s = stack.back();
      stack.pop_back();
      const std::string_view piece(text.data() + symbols[s].begin, symbols[s].len);
      const TokenId id = vocab_.find(piece);
      if (id >= 0) {
        out.push_back(id);
        continue;
      }
      const auto it = rev_merge.find(piece);
      if (it != rev_merge.end()) {
        // Right first so the left half is emitted first.
        stack.push_back(it->second.second);
        stack.push_back(it->second.first);
        continue;
      }
      for (unsigned char c : piece) {
        const TokenId byte = byte_tokens_[c];
        out.push_back(byte >= 0 ? byte : vocab_.unk);
      }
    }
  }
}

std::string SpmTokenizer::token_to_piece(TokenId id, bool render_special) const {
  if (id < 0 || id >= n_vocab()) return {};
  const std::string& text = vocab_.tokens[id];
  switch (vocab_.types[id]) {
    case TokenType::Normal:
    case TokenType::Undefined: {
      std::string out;
      for (size_t i = 0; i < text.size();) {
        if (text.compare(i, kSpace.size(), kSpace) == 0) {
          out += ' ';
          i += kSpace.size();
        } else {
          out += text[i++];
        }
      }
      return out;
    }
    case TokenType::Unknown: return "\xE2\x96\x85";  // U+2585, as llama.cpp renders <unk>
    case TokenType::Control: return render_special ? text : std::string();
    case TokenType::UserDefined: return text;
    case TokenType::Byte: {
      // "<0xAB>" -> the byte 0xAB
      if (text.size() == 6) return std::string(1, static_cast<char>(std::stoi(text.substr(3, 2), nullptr, 16)));
      return {};
    }
    case TokenType::Unused: return {};
  }
  return {};
}

}  // namespace tessera
