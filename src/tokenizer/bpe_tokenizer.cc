#include "tokenizer/bpe_tokenizer.h"

#include <queue>

#include "tokenizer/utf8.h"

namespace tessera {

namespace {

struct Piece {
  int prev, next;
  size_t begin, len;  // bytes of the mapped word; len 0 once merged away
};

struct Merge {
  int left;
  int rank;
  size_t len;
};

struct MergeOrder {
  // Lowest rank first; among equal ranks the leftmost pair.
  bool operator()(const Merge& a, const Merge& b) const {
    return a.rank > b.rank || (a.rank == b.rank && a.left > b.left);
  }
};

}  // namespace

BpeTokenizer::BpeTokenizer(Vocab vocab, std::vector<std::string> merges, PreTokenizer pre,
                           std::string pre_name, bool ignore_merges)
    : VocabTokenizer(std::move(vocab)), pre_(pre), pre_name_(std::move(pre_name)),
      ignore_merges_(ignore_merges) {
  merge_rank_.reserve(merges.size());
  for (size_t i = 0; i < merges.size(); ++i) merge_rank_.emplace(merges[i], static_cast<int>(i));
  // GPT-2's table: printable Latin-1 bytes map to themselves, the other 68
  // bytes to U+0100 onwards in byte order.
  uint32_t next = 256;
  for (int b = 0; b < 256; ++b) {
    const bool printable = (b >= 33 && b <= 126) || (b >= 161 && b <= 172) || (b >= 174 && b <= 255);
    const uint32_t cp = printable ? static_cast<uint32_t>(b) : next++;
    utf8_append(cp, byte_to_unicode_[b]);
    unicode_to_byte_[cp] = static_cast<uint8_t>(b);
  }
}

std::vector<TokenId> BpeTokenizer::encode(std::string_view text, bool add_special, bool parse_special) const {
  std::vector<TokenId> out;
  if (add_special && vocab_.add_bos && vocab_.bos >= 0) out.push_back(vocab_.bos);
  for (const Fragment& f : special_.split(text, parse_special)) {
    if (f.token >= 0) {
      out.push_back(f.token);
      continue;
    }
    for (const std::string& word : pretokenize(f.text, pre_)) encode_word(word, out);
  }
  if (add_special && vocab_.add_eos && vocab_.eos >= 0) out.push_back(vocab_.eos);
  return out;
}

void BpeTokenizer::encode_word(const std::string& word, std::vector<TokenId>& out) const {
  std::string mapped;
  mapped.reserve(word.size() * 2);
  for (unsigned char c : word) mapped += byte_to_unicode_[c];
  if (ignore_merges_) {
    if (const TokenId id = vocab_.find(mapped); id >= 0) {
      out.push_back(id);
      return;
    }
  }
  std::vector<Piece> pieces;
  for (size_t pos = 0; pos < mapped.size();) {
    const size_t len = std::min(utf8_sequence_length(static_cast<unsigned char>(mapped[pos])), mapped.size() - pos);
    const int index = static_cast<int>(pieces.size());
    pieces.push_back({index - 1, index + 1, pos, len});
    pos += len;
  }
  pieces.back().next = -1;

  std::priority_queue<Merge, std::vector<Merge>, MergeOrder> queue;
  std::string key;
  auto try_add = [&](int left) {
    if (left < 0 || pieces[left].next < 0) return;
    const Piece& l = pieces[left];
    const Piece& r = pieces[l.next];
    key.assign(mapped, l.begin, l.len);
    key += ' ';
    key.append(mapped, r.begin, r.len);
    const auto it = merge_rank_.find(key);
    if (it != merge_rank_.end()) queue.push({left, it->second, l.len + r.len});
  };
  for (size_t i = 0; i + 1 < pieces.size(); ++i) try_add(static_cast<int>(i));
  while (!queue.empty()) {
    const Merge m = queue.top();
    queue.pop();
    Piece& l = pieces[m.left];
    if (l.len == 0 || l.next < 0) continue;
    Piece& r = pieces[l.next];
    if (l.len + r.len != m.len) continue;  // stale
    l.len += r.len;
    r.len = 0;
    l.next = r.next;
    if (r.next >= 0) pieces[r.next].prev = m.left;
    try_add(l.prev);
    try_add(m.left);
  }
  for (int i = 0; i != -1; i = pieces[i].next) {
    const std::string_view piece(mapped.data() + pieces[i].begin, pieces[i].len);
    const TokenId id = vocab_.find(piece);
    if (id >= 0) {
      out.push_back(id);
      continue;
    }
    // Not in the vocabulary: one token per byte (each byte's mapped character).
    for (uint32_t cp : utf8_decode(piece)) {
      std::string ch;
      utf8_append(cp, ch);
      const TokenId b = vocab_.find(ch);
      out.push_back(b >= 0 ? b : vocab_.unk);
    }
  }
}

std::string BpeTokenizer::token_to_piece(TokenId id, bool render_special) const {
  if (id < 0 || id >= n_vocab()) return {};
  const std::string& text = vocab_.tokens[id];
  switch (vocab_.types[id]) {
    case TokenType::Normal:
    case TokenType::Undefined:
    case TokenType::Byte: {
      std::string out;
      for (uint32_t cp : utf8_decode(text)) {
        const auto it = unicode_to_byte_.find(cp);
        if (it != unicode_to_byte_.end()) out += static_cast<char>(it->second);
        else utf8_append(cp, out);
      }
      return out;
    }
    case TokenType::Control: return render_special ? text : std::string();
    case TokenType::UserDefined: return text;
    case TokenType::Unknown: return "\xE2\x96\x85";
    case TokenType::Unused: return {};
  }
  return {};
}

}  // namespace tessera
