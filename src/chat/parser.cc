#include "chat/parser.h"

#include <charconv>
#include <cstdlib>

#include "chat/template_error.h"

namespace tessera::chat {

namespace {

class Parser {
 public:
  explicit Parser(std::vector<Token> tokens) : tokens_(std::move(tokens)) {}

  StmtList parse_all() {
    StmtList body = parse_body({});
    if (peek().kind != TokenKind::End) fail(peek(), "unexpected tag");
    return body;
  }

 private:
  // RAII nesting counter: every recursive descent step passes through one.
  class Nest {
   public:
    Nest(Parser& p, const Token& at) : p_(p) {
      if (++p_.depth_ > kMaxNesting) p_.fail(at, fmt::format("template nested deeper than {} levels", kMaxNesting));
    }
    ~Nest() { --p_.depth_; }
    Nest(const Nest&) = delete;
    Nest& operator=(const Nest&) = delete;

   private:
    Parser& p_;
  };

  const Token& peek(size_t ahead = 0) const {
    const size_t i = std::min(pos_ + ahead, tokens_.size() - 1);
    return tokens_[i];
  }
  const Token& next() {
    const Token& t = peek();
    if (pos_ < tokens_.size() - 1) ++pos_;
    return t;
  }
  bool at_operator(std::string_view op) const { return peek().kind == TokenKind::Operator && peek().text == op; }
  bool at_name(std::string_view name) const { return peek().kind == TokenKind::Name && peek().text == name; }
  bool accept_operator(std::string_view op) {
    if (!at_operator(op)) return false;
    next();
    return true;
  }
  bool accept_name(std::string_view name) {
    if (!at_name(name)) return false;
    next();
    return true;
  }
  void expect_operator(std::string_view op) {
    if (!accept_operator(op)) fail(peek(), fmt::format("expected '{}', found {}", op, describe(peek())));
  }
  void expect_name(std::string_view name) {
    if (!accept_name(name)) fail(peek(), fmt::format("expected '{}', found {}", name, describe(peek())));
  }
  std::string expect_identifier() {
    if (peek().kind != TokenKind::Name) fail(peek(), fmt::format("expected a name, found {}", describe(peek())));
    return next().text;
  }
  void expect_block_end() {
    if (peek().kind != TokenKind::BlockEnd) fail(peek(), fmt::format("expected end of tag '%}}', found {}", describe(peek())));
    next();
  }

  static std::string describe(const Token& t) {
    switch (t.kind) {
      case TokenKind::Text: return "text";
      case TokenKind::VarBegin: return "'{{'";
      case TokenKind::VarEnd: return "'}}'";
      case TokenKind::BlockBegin: return "'{%'";
      case TokenKind::BlockEnd: return "'%}'";
      case TokenKind::End: return "end of template";
      case TokenKind::String: return "a string";
      default: return "'" + t.text + "'";
    }
  }

  [[noreturn]] void fail(const Token& at, const std::string& message) const {
    raise<TemplateError>("template syntax error at line {}, column {}: {}", at.line, at.column, message);
  }

  static SourcePos pos_of(const Token& t) { return SourcePos{t.line, t.column}; }

  static StmtPtr make_stmt(Stmt::Kind kind, const Token& at) {
    auto s = std::make_unique<Stmt>();
    s->kind = kind;
    s->pos = pos_of(at);
    return s;
  }

  // Statements until a block tag whose keyword is in `terminators` (left
  // unconsumed: the caller reads it) or the end of the template.
  StmtList parse_body(std::initializer_list<std::string_view> terminators) {
    StmtList body;
    while (true) {
      const Token& t = peek();
      if (t.kind == TokenKind::End) {
        if (terminators.size() > 0) {
          fail(t, fmt::format("unexpected end of template: missing '{{% {} %}}'", *(terminators.end() - 1)));
        }
        return body;
      }
      if (t.kind == TokenKind::Text) {
        auto s = make_stmt(Stmt::Kind::Text, t);
        s->text = next().text;
        body.push_back(std::move(s));
      } else if (t.kind == TokenKind::VarBegin) {
        next();
        auto s = make_stmt(Stmt::Kind::Output, t);
        s->expr = parse_expression();
        if (peek().kind != TokenKind::VarEnd) fail(peek(), fmt::format("expected '}}}}', found {}", describe(peek())));
        next();
        body.push_back(std::move(s));
      } else if (t.kind == TokenKind::BlockBegin) {
        const Token& keyword = peek(1);
        for (std::string_view terminator : terminators) {
          if (keyword.kind == TokenKind::Name && keyword.text == terminator) return body;
        }
        next();
        body.push_back(parse_statement());
      } else {
        fail(t, "unexpected token");
      }
    }
  }

  StmtPtr parse_statement() {
    const Token& keyword = peek();
    Nest nest(*this, keyword);
    if (keyword.kind != TokenKind::Name) fail(keyword, "expected a statement keyword");
    const std::string& k = keyword.text;
    if (k == "if") return parse_if();
    if (k == "for") return parse_for();
    if (k == "set") return parse_set();
    if (k == "break" || k == "continue") {
      next();
      expect_block_end();
      if (loop_depth_ == 0) fail(keyword, fmt::format("'{}' outside of a loop", k));
      return make_stmt(k == "break" ? Stmt::Kind::Break : Stmt::Kind::Continue, keyword);
    }
    if (k == "macro") return parse_macro();
    if (k == "generation") {
      next();
      expect_block_end();
      auto s = make_stmt(Stmt::Kind::Scope, keyword);
      s->body = parse_body({"endgeneration"});
      close_block("endgeneration");
      return s;
    }
    fail(keyword, fmt::format("unknown or unsupported tag '{}'", k));
  }

  // Consumes "{% name %}".
  void close_block(std::string_view name) {
    if (peek().kind != TokenKind::BlockBegin) fail(peek(), fmt::format("expected '{{% {} %}}'", name));
    next();
    expect_name(name);
    expect_block_end();
  }

  StmtPtr parse_if() {
    auto s = make_stmt(Stmt::Kind::If, next());
    ExprPtr condition = parse_expression();
    expect_block_end();
    while (true) {
      StmtList branch = parse_body({"elif", "else", "endif"});
      s->branches.emplace_back(std::move(condition), std::move(branch));
      next();  // {%
      const std::string keyword = next().text;
      if (keyword == "elif") {
        condition = parse_expression();
        expect_block_end();
        continue;
      }
      expect_block_end();
      if (keyword == "else") {
        s->else_body = parse_body({"endif"});
        close_block("endif");
      }
      return s;
    }
  }

  StmtPtr parse_for() {
    auto s = make_stmt(Stmt::Kind::For, next());
    s->targets = parse_targets();
    expect_name("in");
    // The iterable excludes a trailing `if` (the loop filter) and `recursive`.
    s->expr = parse_or();
    if (accept_name("if")) s->filter = parse_expression();
    if (at_name("recursive")) fail(peek(), "recursive loops are not supported");
    expect_block_end();
    ++loop_depth_;
    s->body = parse_body({"else", "endfor"});
    --loop_depth_;
    next();
    const std::string keyword = next().text;
    expect_block_end();
    if (keyword == "else") {
      s->else_body = parse_body({"endfor"});
      close_block("endfor");
    }
    return s;
  }

  std::vector<std::string> parse_targets() {
    std::vector<std::string> targets;
    const bool parenthesized = accept_operator("(");
    targets.push_back(expect_identifier());
    while (accept_operator(",")) {
      if (peek().kind != TokenKind::Name || at_name("in")) break;
      targets.push_back(expect_identifier());
    }
    if (parenthesized) expect_operator(")");
    return targets;
  }

  StmtPtr parse_macro() {
    auto s = make_stmt(Stmt::Kind::Macro, next());
    s->targets.push_back(expect_identifier());
    expect_operator("(");
    while (!at_operator(")")) {
      std::string param = expect_identifier();
      ExprPtr fallback = accept_operator("=") ? parse_conditional() : nullptr;
      s->params.emplace_back(std::move(param), std::move(fallback));
      if (!accept_operator(",")) break;
    }
    expect_operator(")");
    expect_block_end();
    const int saved_loop_depth = loop_depth_;
    loop_depth_ = 0;  // break/continue cannot cross a macro boundary
    s->body = parse_body({"endmacro"});
    loop_depth_ = saved_loop_depth;
    close_block("endmacro");
    return s;
  }

  StmtPtr parse_set() {
    const Token& keyword = next();
    auto s = make_stmt(Stmt::Kind::Set, keyword);
    s->targets = parse_targets();
    if (s->targets.size() == 1 && accept_operator(".")) s->attribute = expect_identifier();
    if (peek().kind == TokenKind::BlockEnd) {
      if (s->targets.size() != 1 || !s->attribute.empty()) fail(keyword, "block set takes a single name");
      next();
      s->kind = Stmt::Kind::SetBlock;
      s->body = parse_body({"endset"});
      close_block("endset");
      return s;
    }
    expect_operator("=");
    s->expr = parse_expression();
    expect_block_end();
    return s;
  }

  // ---- expressions ----

  // Appends a child and keeps the tree height bounded: long operator or
  // filter chains build deep trees iteratively, and evaluating or destroying
  // them recurses once per level.
  void attach(Expr& parent, ExprPtr child) {
    if (child) {
      parent.height = std::max(parent.height, child->height + 1);
      if (parent.height > kMaxExprHeight) {
        raise<TemplateError>("template syntax error at line {}, column {}: expression nested deeper than {} levels",
                             parent.pos.line, parent.pos.column, kMaxExprHeight);
      }
    }
    parent.children.push_back(std::move(child));
  }

  ExprPtr make(Expr::Kind kind, const Token& at) {
    auto e = std::make_unique<Expr>();
    e->kind = kind;
    e->pos = pos_of(at);
    return e;
  }

  // A tuple without parentheses (`a, b`) becomes a list literal.
  ExprPtr parse_expression() {
    const Token& start = peek();
    ExprPtr first = parse_conditional();
    if (!at_operator(",")) return first;
    auto tuple = make(Expr::Kind::ListLiteral, start);
    tuple->name = "tuple";
    attach(*tuple, std::move(first));
    while (accept_operator(",")) {
      if (peek().kind == TokenKind::BlockEnd || peek().kind == TokenKind::VarEnd || at_operator(")")) break;
      attach(*tuple, parse_conditional());
    }
    return tuple;
  }

  ExprPtr parse_conditional() {
    const Token& start = peek();
    Nest nest(*this, start);
    ExprPtr value = parse_or();
    while (accept_name("if")) {
      auto cond = make(Expr::Kind::Conditional, start);
      ExprPtr test = parse_or();
      ExprPtr otherwise = accept_name("else") ? parse_conditional() : nullptr;
      attach(*cond, std::move(value));
      attach(*cond, std::move(test));
      attach(*cond, std::move(otherwise));
      value = std::move(cond);
    }
    return value;
  }

  ExprPtr parse_or() {
    ExprPtr left = parse_and();
    while (at_name("or")) {
      auto e = make(Expr::Kind::Or, next());
      attach(*e, std::move(left));
      attach(*e, parse_and());
      left = std::move(e);
    }
    return left;
  }

  ExprPtr parse_and() {
    ExprPtr left = parse_not();
    while (at_name("and")) {
      auto e = make(Expr::Kind::And, next());
      attach(*e, std::move(left));
      attach(*e, parse_not());
      left = std::move(e);
    }
    return left;
  }

  ExprPtr parse_not() {
    if (at_name("not")) {
      const Token& t = next();
      Nest nest(*this, t);
      auto e = make(Expr::Kind::Not, t);
      attach(*e, parse_not());
      return e;
    }
    return parse_compare();
  }

  ExprPtr parse_compare() {
    const Token& start = peek();
    ExprPtr first = parse_math1();
    ExprPtr chain;
    while (true) {
      std::string op;
      if (peek().kind == TokenKind::Operator &&
          (peek().text == "==" || peek().text == "!=" || peek().text == "<" || peek().text == "<=" ||
           peek().text == ">" || peek().text == ">=")) {
        op = next().text;
      } else if (at_name("in")) {
        next();
        op = "in";
      } else if (at_name("not") && peek(1).kind == TokenKind::Name && peek(1).text == "in") {
        next();
        next();
        op = "not in";
      } else {
        break;
      }
      if (!chain) {
        chain = make(Expr::Kind::Compare, start);
        attach(*chain, std::move(first));
      }
      chain->ops.push_back(op);
      attach(*chain, parse_math1());
    }
    return chain ? std::move(chain) : std::move(first);
  }

  ExprPtr binary(const Token& at, std::string op, ExprPtr left, ExprPtr right) {
    auto e = make(Expr::Kind::Binary, at);
    e->name = std::move(op);
    attach(*e, std::move(left));
    attach(*e, std::move(right));
    return e;
  }

  ExprPtr parse_math1() {
    ExprPtr left = parse_concat();
    while (at_operator("+") || at_operator("-")) {
      const Token& t = next();
      left = binary(t, t.text, std::move(left), parse_concat());
    }
    return left;
  }

  ExprPtr parse_concat() {
    ExprPtr left = parse_math2();
    while (at_operator("~")) {
      const Token& t = next();
      left = binary(t, "~", std::move(left), parse_math2());
    }
    return left;
  }

  ExprPtr parse_math2() {
    ExprPtr left = parse_pow();
    while (at_operator("*") || at_operator("/") || at_operator("//") || at_operator("%")) {
      const Token& t = next();
      left = binary(t, t.text, std::move(left), parse_pow());
    }
    return left;
  }

  ExprPtr parse_pow() {
    ExprPtr left = parse_unary(true);
    while (at_operator("**")) {
      const Token& t = next();
      left = binary(t, "**", std::move(left), parse_unary(true));
    }
    return left;
  }

  ExprPtr parse_unary(bool with_filter) {
    const Token& t = peek();
    Nest nest(*this, t);
    ExprPtr node;
    if (at_operator("-") || at_operator("+")) {
      next();
      node = make(Expr::Kind::Unary, t);
      node->name = t.text;
      attach(*node, parse_unary(false));
    } else {
      node = parse_primary();
    }
    node = parse_postfix(std::move(node));
    if (with_filter) node = parse_filters_and_tests(std::move(node));
    return node;
  }

  ExprPtr parse_primary() {
    const Token& t = peek();
    switch (t.kind) {
      case TokenKind::Name: {
        next();
        auto e = make(Expr::Kind::Literal, t);
        if (t.text == "true" || t.text == "True") e->literal = Value::boolean(true);
        else if (t.text == "false" || t.text == "False") e->literal = Value::boolean(false);
        else if (t.text == "none" || t.text == "None") e->literal = Value::none();
        else {
          e->kind = Expr::Kind::Name;
          e->name = t.text;
        }
        return e;
      }
      case TokenKind::String: {
        std::string value = next().text;
        while (peek().kind == TokenKind::String) value += next().text;  // adjacent literals concatenate
        auto e = make(Expr::Kind::Literal, t);
        e->literal = Value::string(std::move(value));
        return e;
      }
      case TokenKind::Integer: {
        next();
        int64_t v = 0;
        const auto [p, ec] = std::from_chars(t.text.data(), t.text.data() + t.text.size(), v);
        auto e = make(Expr::Kind::Literal, t);
        if (ec != std::errc()) {
          e->literal = Value::floating(std::strtod(t.text.c_str(), nullptr));
        } else {
          e->literal = Value::integer(v);
        }
        return e;
      }
      case TokenKind::Float: {
        next();
        auto e = make(Expr::Kind::Literal, t);
        e->literal = Value::floating(std::strtod(t.text.c_str(), nullptr));
        return e;
      }
      case TokenKind::Operator:
        if (t.text == "(") {
          next();
          if (accept_operator(")")) {
            auto empty = make(Expr::Kind::ListLiteral, t);
            empty->name = "tuple";
            return empty;
          }
          ExprPtr inner = parse_expression();
          expect_operator(")");
          return inner;
        }
        if (t.text == "[") {
          next();
          auto e = make(Expr::Kind::ListLiteral, t);
          while (!at_operator("]")) {
            attach(*e, parse_conditional());
            if (!accept_operator(",")) break;
          }
          expect_operator("]");
          return e;
        }
        if (t.text == "{") {
          next();
          auto e = make(Expr::Kind::DictLiteral, t);
          while (!at_operator("}")) {
            attach(*e, parse_conditional());
            expect_operator(":");
            attach(*e, parse_conditional());
            if (!accept_operator(",")) break;
          }
          expect_operator("}");
          return e;
        }
        break;
      default: break;
    }
    fail(t, fmt::format("unexpected {}", describe(t)));
  }

  ExprPtr parse_postfix(ExprPtr node) {
    while (true) {
      const Token& t = peek();
      if (at_operator(".")) {
        next();
        auto e = make(Expr::Kind::Attribute, t);
        if (peek().kind == TokenKind::Integer) {
          // `x.0` is x[0] in Jinja.
          e->kind = Expr::Kind::Subscript;
          auto index = make(Expr::Kind::Literal, peek());
          index->literal = Value::integer(std::strtoll(next().text.c_str(), nullptr, 10));
          attach(*e, std::move(node));
          attach(*e, std::move(index));
        } else {
          e->name = expect_identifier();
          attach(*e, std::move(node));
        }
        node = std::move(e);
      } else if (at_operator("[")) {
        next();
        node = parse_subscript(t, std::move(node));
      } else if (at_operator("(")) {
        node = parse_call(std::move(node));
      } else {
        return node;
      }
    }
  }

  ExprPtr parse_subscript(const Token& at, ExprPtr object) {
    Nest nest(*this, at);
    ExprPtr parts[3];
    bool is_slice = false;
    for (int part = 0; part < 3; ++part) {
      if (!at_operator(":") && !at_operator("]")) parts[part] = parse_conditional();
      if (part < 2 && accept_operator(":")) {
        is_slice = true;
        continue;
      }
      break;
    }
    expect_operator("]");
    if (!is_slice) {
      if (!parts[0]) fail(at, "empty subscript");
      auto e = make(Expr::Kind::Subscript, at);
      attach(*e, std::move(object));
      attach(*e, std::move(parts[0]));
      return e;
    }
    auto e = make(Expr::Kind::Slice, at);
    attach(*e, std::move(object));
    for (auto& part : parts) attach(*e, std::move(part));
    return e;
  }

  // Parses "(args)" into `call` (children[1..] and keywords).
  void parse_arguments(Expr& call) {
    expect_operator("(");
    while (!at_operator(")")) {
      if (peek().kind == TokenKind::Name && peek(1).kind == TokenKind::Operator && peek(1).text == "=") {
        std::string key = next().text;
        next();
        call.keywords.emplace_back(std::move(key), parse_conditional());
      } else {
        if (!call.keywords.empty()) fail(peek(), "positional argument follows keyword argument");
        call.children.push_back(parse_conditional());
      }
      if (!accept_operator(",")) break;
    }
    expect_operator(")");
  }

  ExprPtr parse_call(ExprPtr callee) {
    auto e = make(Expr::Kind::Call, peek());
    Nest nest(*this, peek());
    e->pos = callee->pos;  // errors point at the function's name
    attach(*e, std::move(callee));
    parse_arguments(*e);
    return e;
  }

  ExprPtr parse_filters_and_tests(ExprPtr node) {
    while (true) {
      const Token& t = peek();
      if (at_operator("|")) {
        next();
        auto e = make(Expr::Kind::Filter, t);
        e->name = expect_identifier();
        attach(*e, std::move(node));
        if (at_operator("(")) parse_arguments(*e);
        node = std::move(e);
      } else if (at_name("is")) {
        next();
        auto e = make(Expr::Kind::Test, t);
        e->negated = accept_name("not");
        e->name = expect_identifier();
        attach(*e, std::move(node));
        if (at_operator("(")) {
          parse_arguments(*e);
        } else if (peek().kind == TokenKind::String || peek().kind == TokenKind::Integer ||
                   peek().kind == TokenKind::Float ||
                   (peek().kind == TokenKind::Name && !at_name("else") && !at_name("or") &&
                    !at_name("and") && !at_name("if") && !at_name("is") && !at_name("in") &&
                    !at_name("not"))) {
          // `x is divisibleby 3`, `x is equalto 'y'`: one argument without parentheses.
          attach(*e, parse_postfix(parse_primary()));
        }
        node = std::move(e);
      } else if (at_operator("(")) {
        node = parse_call(std::move(node));
      } else {
        return node;
      }
    }
  }

  std::vector<Token> tokens_;
  size_t pos_ = 0;
  int depth_ = 0;
  int loop_depth_ = 0;
};

}  // namespace

StmtList parse_template(std::string_view source, const LexerOptions& options) {
  return Parser(tokenize_template(source, options)).parse_all();
}

}  // namespace tessera::chat
