// Syntax tree of a parsed template. Nodes own their children; the tree is
// immutable after parsing, so one parsed template can render many times.
#pragma once

#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "chat/value.h"

namespace tessera::chat {

struct Expr;
struct Stmt;
using ExprPtr = std::unique_ptr<Expr>;
using StmtPtr = std::unique_ptr<Stmt>;
using StmtList = std::vector<StmtPtr>;

struct SourcePos {
  int line = 1;
  int column = 1;
};

struct Expr {
  enum class Kind {
    Literal,      // literal
    Name,         // name
    ListLiteral,  // children: items; name "tuple" for (a, b) and bare a, b
    DictLiteral,  // children: key0, value0, key1, value1, ...
    Attribute,    // children[0].name
    Subscript,    // children[0][children[1]]
    Slice,        // children[0][children[1]:children[2]:children[3]] (null = omitted)
    Call,         // children[0](children[1..], keywords)
    Filter,       // children[0] | name(children[1..], keywords)
    Test,         // children[0] is [not] name(children[1..])
    Unary,        // name ("-", "+") children[0]
    Binary,       // children[0] name children[1]: + - * / // % ** ~ in "not in"
    Compare,      // children[0] ops[0] children[1] ops[1] children[2] ... (chained)
    And,
    Or,
    Not,
    Conditional,  // children[0] if children[1] else children[2] (null: undefined)
  };

  Kind kind;
  SourcePos pos;
  std::string name;
  Value literal;
  bool negated = false;  // `is not`
  int height = 1;        // 1 + the tallest child's height (bounded by the parser)
  std::vector<ExprPtr> children;
  std::vector<std::pair<std::string, ExprPtr>> keywords;
  std::vector<std::string> ops;
};

struct Stmt {
  enum class Kind {
    Text,      // text
    Output,    // {{ expr }}
    If,        // branches, else_body
    For,       // targets in expr [if filter]: body [else else_body]
    Set,       // targets = expr, or object_name.attribute = expr
    SetBlock,  // {% set target %}body{% endset %}
    Break,
    Continue,
    Scope,     // body rendered in place (e.g. transformers' {% generation %})
    Macro,     // {% macro targets[0](params) %}body{% endmacro %}
  };

  Kind kind;
  SourcePos pos;
  std::string text;
  ExprPtr expr;
  ExprPtr filter;
  std::vector<std::pair<ExprPtr, StmtList>> branches;
  StmtList body;
  StmtList else_body;
  std::vector<std::string> targets;
  std::string attribute;  // Set on a namespace: targets[0].attribute
  std::vector<std::pair<std::string, ExprPtr>> params;  // Macro parameters (default or null)
};

}  // namespace tessera::chat
