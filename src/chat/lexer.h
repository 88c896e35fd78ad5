// Template source -> flat token stream, with Jinja2's whitespace control
// applied to the text between tags: `-` on a tag strips the whitespace beside
// it, trim_blocks drops the first newline after a block or comment tag,
// lstrip_blocks drops the indentation before one (`+` disables either), and
// newlines are normalised to "\n" with one trailing newline removed
// (keep_trailing_newline=False), all as Jinja2's lexer does.
#pragma once

#include <string>
#include <string_view>
#include <vector>

namespace tessera::chat {

enum class TokenKind {
  Text,         // literal output text
  VarBegin,     // {{
  VarEnd,       // }}
  BlockBegin,   // {%
  BlockEnd,     // %}
  Name,         // identifiers and keywords
  String,       // string literal (value already unescaped)
  Integer,
  Float,
  Operator,     // + - * / // % ** ~ == != < <= > >= = ( ) [ ] { } , . : |
  End,          // end of source
};

struct Token {
  TokenKind kind;
  std::string text;  // unescaped string value, identifier, operator or literal digits
  int line = 1;
  int column = 1;
};

struct LexerOptions {
  bool trim_blocks = true;
  bool lstrip_blocks = true;
};

// Throws TemplateError "line L, column C: ..." for an unterminated tag,
// comment or string, or an unexpected character.
std::vector<Token> tokenize_template(std::string_view source, const LexerOptions& options = {});

}  // namespace tessera::chat
