#include "chat/lexer.h"

#include <cctype>

#include "chat/template_error.h"

namespace tessera::chat {

namespace {

bool is_python_space(char c) {
  return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v';
}

// "\r\n" and "\r" become "\n"; one trailing newline is dropped.
std::string normalize_newlines(std::string_view source) {
  std::string out;
  out.reserve(source.size());
  for (size_t i = 0; i < source.size(); ++i) {
    if (source[i] == '\r') {
      out += '\n';
      if (i + 1 < source.size() && source[i + 1] == '\n') ++i;
    } else {
      out += source[i];
    }
  }
  if (!out.empty() && out.back() == '\n') out.pop_back();
  return out;
}

void append_utf8(uint32_t cp, std::string& out) {
  if (cp < 0x80) {
    out += static_cast<char>(cp);
  } else if (cp < 0x800) {
    out += static_cast<char>(0xC0 | (cp >> 6));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  } else if (cp < 0x10000) {
    out += static_cast<char>(0xE0 | (cp >> 12));
    out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  } else {
    out += static_cast<char>(0xF0 | (cp >> 18));
    out += static_cast<char>(0x80 | ((cp >> 12) & 0x3F));
    out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  }
}

class Lexer {
 public:
  Lexer(std::string source, const LexerOptions& options) : src_(std::move(source)), options_(options) {}

  std::vector<Token> run() {
    bool line_starting = true;  // the previous tag's match ended with "\n" (or start of source)
    while (pos_ < src_.size()) {
      const size_t tag = find_tag_start(pos_);
      std::string text = src_.substr(pos_, tag - pos_);
      if (tag == src_.size()) {
        emit_text(std::move(text), pos_);
        pos_ = tag;
        break;
      }
      const char kind = src_[tag + 1];  // '{', '%' or '#'
      const char modifier = tag + 2 < src_.size() ? src_[tag + 2] : '\0';
      if (modifier == '-') {
        while (!text.empty() && is_python_space(text.back())) text.pop_back();
      } else if (modifier != '+' && kind != '{' && options_.lstrip_blocks) {
        const size_t line_begin = text.rfind('\n') == std::string::npos ? 0 : text.rfind('\n') + 1;
        if (line_begin > 0 || line_starting) {
          bool only_blanks = true;
          for (size_t i = line_begin; i < text.size(); ++i) {
            if (text[i] != ' ' && text[i] != '\t') only_blanks = false;
          }
          if (only_blanks) text.resize(line_begin);
        }
      }
      emit_text(std::move(text), pos_);
      pos_ = tag + 2 + ((modifier == '-' || modifier == '+') ? 1 : 0);
      const size_t tag_end = kind == '#' ? lex_comment(tag) : lex_tag(tag, kind);
      pos_ = tag_end;
      line_starting = pos_ > 0 && src_[pos_ - 1] == '\n';
    }
    tokens_.push_back(Token{TokenKind::End, "", line_, column_at(pos_)});
    return std::move(tokens_);
  }

 private:
  size_t find_tag_start(size_t from) const {
    size_t i = src_.find('{', from);
    while (i != std::string::npos && i + 1 < src_.size()) {
      const char next = src_[i + 1];
      if (next == '{' || next == '%' || next == '#') return i;
      i = src_.find('{', i + 1);
    }
    return src_.size();
  }

  void emit_text(std::string text, size_t at) {
    if (!text.empty()) tokens_.push_back(Token{TokenKind::Text, std::move(text), line_of(at), column_at(at)});
  }

  // Skips what follows a tag's closing delimiter: all whitespace after "-",
  // one newline after a block or comment under trim_blocks (not after "+").
  size_t after_tag_end(size_t end, bool strip, bool keep, bool is_block) const {
    if (strip) {
      while (end < src_.size() && is_python_space(src_[end])) ++end;
    } else if (!keep && is_block && options_.trim_blocks && end < src_.size() && src_[end] == '\n') {
      ++end;
    }
    return end;
  }

  size_t lex_comment(size_t tag) {
    const size_t close = src_.find("#}", pos_);
    if (close == std::string::npos) fail(tag, "unterminated comment (missing '#}')");
    const bool strip = close > pos_ && src_[close - 1] == '-';
    const bool keep = close > pos_ && src_[close - 1] == '+';
    return after_tag_end(close + 2, strip, keep, true);
  }

  size_t lex_tag(size_t tag, char kind) {
    const bool is_block = kind == '%';
    tokens_.push_back(Token{is_block ? TokenKind::BlockBegin : TokenKind::VarBegin, "", line_of(tag),
                            column_at(tag)});
    int depth = 0;  // open brackets: "}}" inside a dict literal does not close the tag
    const char closer = is_block ? '%' : '}';
    while (true) {
      while (pos_ < src_.size() && is_python_space(src_[pos_])) ++pos_;
      if (pos_ >= src_.size()) fail(tag, is_block ? "unterminated block tag (missing '%}')"
                                                  : "unterminated expression (missing '}}')");
      if (depth == 0) {
        size_t at = pos_;
        bool strip = false, keep = false;
        if ((src_[at] == '-' || (is_block && src_[at] == '+')) && at + 2 < src_.size() &&
            src_[at + 1] == closer && src_[at + 2] == '}') {
          strip = src_[at] == '-';
          keep = src_[at] == '+';
          ++at;
        }
        if (at + 1 < src_.size() && src_[at] == closer && src_[at + 1] == '}') {
          tokens_.push_back(Token{is_block ? TokenKind::BlockEnd : TokenKind::VarEnd, "", line_of(at),
                                  column_at(at)});
          return after_tag_end(at + 2, strip, keep, is_block);
        }
      }
      lex_expression_token(depth);
    }
  }

  void lex_expression_token(int& depth) {
    const size_t start = pos_;
    const char c = src_[pos_];
    if (std::isalpha(static_cast<unsigned char>(c)) || c == '_') {
      while (pos_ < src_.size() && (std::isalnum(static_cast<unsigned char>(src_[pos_])) || src_[pos_] == '_')) ++pos_;
      push(TokenKind::Name, src_.substr(start, pos_ - start), start);
      return;
    }
    if (std::isdigit(static_cast<unsigned char>(c))) {
      lex_number(start);
      return;
    }
    if (c == '\'' || c == '"') {
      lex_string(start);
      return;
    }
    static const char* const kTwoCharOps[] = {"//", "**", "==", "!=", "<=", ">="};
    for (const char* op : kTwoCharOps) {
      if (src_.compare(pos_, 2, op) == 0) {
        pos_ += 2;
        push(TokenKind::Operator, op, start);
        return;
      }
    }
    static const std::string kOneCharOps = "+-*/%~<>=()[]{},.:|";
    if (kOneCharOps.find(c) != std::string::npos) {
      if (c == '(' || c == '[' || c == '{') ++depth;
      if ((c == ')' || c == ']' || c == '}') && depth > 0) --depth;
      ++pos_;
      push(TokenKind::Operator, std::string(1, c), start);
      return;
    }
    fail(start, fmt::format("unexpected character '{}'", c));
  }

  void lex_number(size_t start) {
    bool is_float = false;
    while (pos_ < src_.size() && (std::isdigit(static_cast<unsigned char>(src_[pos_])) || src_[pos_] == '_')) ++pos_;
    if (pos_ + 1 < src_.size() && src_[pos_] == '.' && std::isdigit(static_cast<unsigned char>(src_[pos_ + 1]))) {
      is_float = true;
      ++pos_;
      while (pos_ < src_.size() && (std::isdigit(static_cast<unsigned char>(src_[pos_])) || src_[pos_] == '_')) ++pos_;
    }
    if (pos_ < src_.size() && (src_[pos_] == 'e' || src_[pos_] == 'E')) {
      size_t e = pos_ + 1;
      if (e < src_.size() && (src_[e] == '+' || src_[e] == '-')) ++e;
      if (e < src_.size() && std::isdigit(static_cast<unsigned char>(src_[e]))) {
        is_float = true;
        pos_ = e;
        while (pos_ < src_.size() && std::isdigit(static_cast<unsigned char>(src_[pos_]))) ++pos_;
      }
    }
    std::string digits;
    for (size_t i = start; i < pos_; ++i) {
      if (src_[i] != '_') digits += src_[i];
    }
    push(is_float ? TokenKind::Float : TokenKind::Integer, std::move(digits), start);
  }

  // Python "unicode-escape" rules, as Jinja2 applies them to string literals;
  // an unknown escape keeps its backslash.
  void lex_string(size_t start) {
    const char quote = src_[pos_++];
    std::string value;
    while (true) {
      if (pos_ >= src_.size()) fail(start, "unterminated string literal");
      const char c = src_[pos_++];
      if (c == quote) break;
      if (c != '\\') {
        value += c;
        continue;
      }
      if (pos_ >= src_.size()) fail(start, "unterminated string literal");
      const char e = src_[pos_++];
      switch (e) {
        case 'n': value += '\n'; break;
        case 't': value += '\t'; break;
        case 'r': value += '\r'; break;
        case 'b': value += '\b'; break;
        case 'f': value += '\f'; break;
        case 'v': value += '\v'; break;
        case 'a': value += '\a'; break;
        case '0': value += '\0'; break;
        case '\\': value += '\\'; break;
        case '\'': value += '\''; break;
        case '"': value += '"'; break;
        case '\n': break;  // line continuation
        case 'x':
        case 'u':
        case 'U': {
          const size_t width = e == 'x' ? 2 : (e == 'u' ? 4 : 8);
          if (pos_ + width > src_.size()) fail(pos_ - 2, "truncated \\" + std::string(1, e) + " escape");
          uint32_t cp = 0;
          for (size_t i = 0; i < width; ++i) {
            const char h = src_[pos_ + i];
            if (!std::isxdigit(static_cast<unsigned char>(h))) fail(pos_ - 2, "bad hex digit in escape");
            cp = cp * 16 + static_cast<uint32_t>(std::isdigit(static_cast<unsigned char>(h)) ? h - '0' : (std::tolower(h) - 'a' + 10));
          }
          if (cp > 0x10FFFF) fail(pos_ - 2, "escape beyond U+10FFFF");
          pos_ += width;
          append_utf8(cp, value);
          break;
        }
        default:
          value += '\\';
          value += e;
      }
    }
    push(TokenKind::String, std::move(value), start);
  }

  void push(TokenKind kind, std::string text, size_t at) {
    tokens_.push_back(Token{kind, std::move(text), line_of(at), column_at(at)});
  }

  // Line and column (1-based) of a source offset; lines are counted
  // incrementally because offsets only grow.
  int line_of(size_t at) {
    if (at < scanned_) {  // an error reported at an earlier offset: rescan
      scanned_ = 0;
      line_start_ = 0;
      line_ = 1;
    }
    while (scanned_ < at && scanned_ < src_.size()) {
      if (src_[scanned_] == '\n') {
        ++line_;
        line_start_ = scanned_ + 1;
      }
      ++scanned_;
    }
    return line_;
  }
  int column_at(size_t at) {
    line_of(at);
    return static_cast<int>(at - line_start_) + 1;
  }

  [[noreturn]] void fail(size_t at, const std::string& message) {
    const int line = line_of(at);
    raise<TemplateError>("template syntax error at line {}, column {}: {}", line, column_at(at), message);
  }

  std::string src_;
  LexerOptions options_;
  size_t pos_ = 0;
  std::vector<Token> tokens_;
  size_t scanned_ = 0;
  size_t line_start_ = 0;
  int line_ = 1;
};

}  // namespace

std::vector<Token> tokenize_template(std::string_view source, const LexerOptions& options) {
  return Lexer(normalize_newlines(source), options).run();
}

}  // namespace tessera::chat
