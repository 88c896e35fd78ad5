#include "tokenizer/pretokenizer.h"

#include <unicode/uchar.h>

#include "tokenizer/utf8.h"

namespace tessera {

namespace {

bool is_letter(uint32_t c) {
  const int8_t t = u_charType(static_cast<UChar32>(c));
  return t == U_UPPERCASE_LETTER || t == U_LOWERCASE_LETTER || t == U_TITLECASE_LETTER ||
         t == U_MODIFIER_LETTER || t == U_OTHER_LETTER;
}
bool is_number(uint32_t c) {
  const int8_t t = u_charType(static_cast<UChar32>(c));
  return t == U_DECIMAL_DIGIT_NUMBER || t == U_LETTER_NUMBER || t == U_OTHER_NUMBER;
}
bool is_space(uint32_t c) { return u_isUWhiteSpace(static_cast<UChar32>(c)) != 0; }
bool is_newline(uint32_t c) { return c == '\r' || c == '\n'; }
bool is_other(uint32_t c) { return !is_space(c) && !is_letter(c) && !is_number(c); }

uint32_t lower_ascii(uint32_t c) { return c >= 'A' && c <= 'Z' ? c + 32 : c; }

class Splitter {
 public:
  Splitter(const std::vector<uint32_t>& cps, PreTokenizer kind) : c_(cps), kind_(kind) {}

  std::vector<std::string> run() {
    std::vector<std::string> words;
    size_t i = 0;
    while (i < c_.size()) {
      size_t len = kind_ == PreTokenizer::Gpt2 ? match_gpt2(i) : match_llama3(i);
      if (len == 0) len = 1;  // unreachable for these patterns; never loop forever
      std::string w;
      for (size_t k = i; k < i + len; ++k) utf8_append(c_[k], w);
      words.push_back(std::move(w));
      i += len;
    }
    return words;
  }

 private:
  uint32_t at(size_t i) const { return i < c_.size() ? c_[i] : 0; }
  bool has(size_t i) const { return i < c_.size(); }

  size_t contraction(size_t i, bool ignore_case) const {
    if (at(i) != '\'' || !has(i + 1)) return 0;
    auto lc = [&](size_t k) { return ignore_case ? lower_ascii(at(k)) : at(k); };
    const uint32_t a = lc(i + 1);
    if (a == 's' || a == 't' || a == 'm' || a == 'd') return 2;
    if (has(i + 2)) {
      const uint32_t b = lc(i + 2);
      if ((a == 'r' && b == 'e') || (a == 'v' && b == 'e') || (a == 'l' && b == 'l')) return 3;
    }
    return 0;
  }

  template <typename Pred>
  size_t run_of(size_t i, Pred pred) const {
    size_t j = i;
    while (has(j) && pred(c_[j])) ++j;
    return j - i;
  }

  // \s+(?!\S) then \s+ : a whitespace run, leaving its last character for the
  // next word when a non-space follows.
  size_t whitespace(size_t i) const {
    const size_t n = run_of(i, is_space);
    if (n == 0) return 0;
    if (!has(i + n)) return n;
    return n > 1 ? n - 1 : n;
  }

  size_t match_gpt2(size_t i) const {
    if (size_t n = contraction(i, false)) return n;
    const size_t sp = at(i) == ' ' ? 1 : 0;
    if (size_t n = run_of(i + sp, is_letter)) return sp + n;
    if (size_t n = run_of(i + sp, is_number)) return sp + n;
    if (size_t n = run_of(i + sp, is_other)) return sp + n;
    return whitespace(i);
  }

  size_t match_llama3(size_t i) const {
    if (size_t n = contraction(i, true)) return n;
    // [^\r\n\p{L}\p{N}]?\p{L}+
    if (has(i) && !is_newline(at(i)) && !is_letter(at(i)) && !is_number(at(i))) {
      if (size_t n = run_of(i + 1, is_letter)) return 1 + n;
    }
    if (size_t n = run_of(i, is_letter)) return n;
    // \p{N}{1,3} (qwen2: \p{N})
    if (size_t n = run_of(i, is_number)) return std::min<size_t>(n, kind_ == PreTokenizer::Qwen2 ? 1 : 3);
    // ' ?[^\s\p{L}\p{N}]+[\r\n]*'
    const size_t sp = at(i) == ' ' ? 1 : 0;
    if (size_t n = run_of(i + sp, is_other)) return sp + n + run_of(i + sp + n, is_newline);
    // \s*[\r\n]+ : through the last newline of the whitespace run
    const size_t ws = run_of(i, is_space);
    for (size_t k = ws; k > 0; --k) {
      if (is_newline(c_[i + k - 1])) return k;
    }
    return whitespace(i);
  }

  const std::vector<uint32_t>& c_;
  PreTokenizer kind_;
};

}  // namespace

std::vector<std::string> pretokenize(std::string_view text, PreTokenizer kind) {
  const std::vector<uint32_t> cps = utf8_decode(text);
  return Splitter(cps, kind).run();
}

}  // namespace tessera
