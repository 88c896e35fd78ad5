// Token stream -> syntax tree, following Jinja2's grammar and operator
// precedence (conditional < or < and < not < comparisons/in < + - < ~ < * / // %
// < ** < unary < filters/tests < postfix). Nesting is bounded (kMaxNesting) so a
// hostile template cannot overflow the stack, here or when evaluated.
#pragma once

#include <string_view>

#include "chat/ast.h"
#include "chat/lexer.h"

namespace tessera::chat {

inline constexpr int kMaxNesting = 96;
inline constexpr int kMaxExprHeight = 256;

// Throws TemplateError "template syntax error at line L, column C: ...".
StmtList parse_template(std::string_view source, const LexerOptions& options = {});

}  // namespace tessera::chat
