#include "chat/interpreter.h"

#include <algorithm>
#include <cmath>
#include <unordered_map>

#include "chat/builtins.h"
#include "chat/template_error.h"

namespace tessera::chat {

namespace {

// A TemplateError that already names its source position; outer nodes pass
// it through unchanged so the innermost (most precise) position is reported.
class LocatedError : public TemplateError {
 public:
  using TemplateError::TemplateError;
};

enum class Flow { Normal, Break, Continue };

[[noreturn]] void type_error(const char* op, const Value& a, const Value& b) {
  if (a.is_undefined()) raise<TemplateError>("{} is undefined", a.undefined_description());
  if (b.is_undefined()) raise<TemplateError>("{} is undefined", b.undefined_description());
  raise<TemplateError>("unsupported operand type(s) for {}: '{}' and '{}'", op, a.type_name(), b.type_name());
}

// 64-bit integer arithmetic; Python's integers are unbounded, so overflow is
// reported rather than wrapped.
template <typename Op>
int64_t checked(Op op, int64_t x, int64_t y) {
  int64_t result = 0;
  if (op(x, y, &result)) raise<TemplateError>("integer overflow");
  return result;
}
constexpr auto kAdd = [](int64_t x, int64_t y, int64_t* r) { return __builtin_add_overflow(x, y, r); };
constexpr auto kSub = [](int64_t x, int64_t y, int64_t* r) { return __builtin_sub_overflow(x, y, r); };
constexpr auto kMul = [](int64_t x, int64_t y, int64_t* r) { return __builtin_mul_overflow(x, y, r); };

// Python's floor division and modulo (results take the divisor's sign).
int64_t floor_div(int64_t a, int64_t b) {
  if (b == -1 && a == INT64_MIN) raise<TemplateError>("integer overflow");
  int64_t q = a / b;
  if ((a % b != 0) && ((a < 0) != (b < 0))) --q;
  return q;
}

int64_t floor_mod(int64_t a, int64_t b) {
  if (b == -1) return 0;
  int64_t r = a % b;
  if (r != 0 && ((r < 0) != (b < 0))) r += b;
  return r;
}

Value arithmetic(const std::string& op, const Value& a, const Value& b) {
  if (op == "+") {
    if (a.is_string() && b.is_string()) {
      check_string_size(a.as_string().size() + b.as_string().size());
      return Value::string(a.as_string() + b.as_string());
    }
    if (a.is_list() && b.is_list()) {
      ValueList items = a.as_list();
      items.insert(items.end(), b.as_list().begin(), b.as_list().end());
      return Value::list(std::move(items));
    }
  }
  if (op == "*") {
    const Value* text = a.is_string() || a.is_list() ? &a : (b.is_string() || b.is_list() ? &b : nullptr);
    const Value* count = text == &a ? &b : &a;
    if (text != nullptr && (count->is_int() || count->is_bool())) {
      const int64_t n = std::max<int64_t>(0, count->as_int());
      if (text->is_string()) {
        const double size = static_cast<double>(text->as_string().size()) * static_cast<double>(n);
        if (size > static_cast<double>(kMaxStringBytes)) check_string_size(kMaxStringBytes + 1);
        std::string out;
        for (int64_t i = 0; i < n; ++i) out += text->as_string();
        return Value::string(std::move(out));
      }
      const double size = static_cast<double>(text->as_list().size()) * static_cast<double>(n);
      if (size > static_cast<double>(1 << 20)) raise<TemplateError>("list repetition too large");
      ValueList out;
      for (int64_t i = 0; i < n; ++i) out.insert(out.end(), text->as_list().begin(), text->as_list().end());
      return Value::list(std::move(out));
    }
  }
  if (!a.is_number() || !b.is_number()) type_error(op.c_str(), a, b);
  const bool ints = !a.is_float() && !b.is_float();
  if (op == "/") {
    if (b.as_double() == 0) raise<TemplateError>("division by zero");
    return Value::floating(a.as_double() / b.as_double());
  }
  if (ints) {
    const int64_t x = a.as_int(), y = b.as_int();
    if (op == "+") return Value::integer(checked(kAdd, x, y));
    if (op == "-") return Value::integer(checked(kSub, x, y));
    if (op == "*") return Value::integer(checked(kMul, x, y));
    if (op == "//" || op == "%") {
      if (y == 0) raise<TemplateError>("integer division or modulo by zero");
      return Value::integer(op == "//" ? floor_div(x, y) : floor_mod(x, y));
    }
    if (op == "**") {
      if (y < 0) return Value::floating(std::pow(static_cast<double>(x), static_cast<double>(y)));
      int64_t result = 1;
      for (int64_t i = 0; i < y; ++i) {
        result = checked(kMul, result, x);
        if (result == 0 || result == 1) break;
      }
      return Value::integer(result);
    }
  }
  const double x = a.as_double(), y = b.as_double();
  if (op == "+") return Value::floating(x + y);
  if (op == "-") return Value::floating(x - y);
  if (op == "*") return Value::floating(x * y);
  if (op == "**") return Value::floating(std::pow(x, y));
  if (op == "//" || op == "%") {
    if (y == 0) raise<TemplateError>("float division or modulo by zero");
    const double q = std::floor(x / y);
    return Value::floating(op == "//" ? q : x - q * y);
  }
  type_error(op.c_str(), a, b);
}

bool contains(const Value& container, const Value& item) {
  if (container.is_undefined()) return false;
  if (container.is_string()) {
    if (!item.is_string()) raise<TemplateError>("'in <string>' requires string as left operand, not {}", item.type_name());
    return container.as_string().find(item.as_string()) != std::string::npos;
  }
  if (container.is_dict() || container.is_namespace()) {
    return item.is_string() && container.as_dict().find(item.as_string()) != nullptr;
  }
  if (container.is_list()) {
    for (const Value& v : container.as_list()) {
      if (values_equal(v, item)) return true;
    }
    return false;
  }
  raise<TemplateError>("argument of type '{}' is not iterable", container.type_name());
}

class Renderer {
 public:
  Renderer(const ValueDict& globals, const RenderLimits& limits) : globals_(globals), limits_(limits) {
    frames_.emplace_back();
  }

  ~Renderer() {
    // Namespace attributes are the only assignable references, so every
    // reference cycle passes through a namespace; emptying them frees cycles.
    for (auto& ns : namespaces_) ns.as_dict().entries.clear();
  }

  std::string run(const StmtList& program) {
    exec_list(program);
    return std::move(out_);
  }

 private:
  using Frame = std::unordered_map<std::string, Value>;

  void charge(uint64_t steps) {
    steps_ += steps;
    if (steps_ > limits_.max_steps) {
      raise<TemplateError>("template exceeded its evaluation budget of {} steps", limits_.max_steps);
    }
  }
  void charge_string(const Value& v) {
    if (v.is_string()) charge(v.as_string().size() / 64);
  }

  [[noreturn]] static void rethrow_located(const SourcePos& pos) {
    try {
      throw;
    } catch (const LocatedError&) {
      throw;
    } catch (const TemplateRaised&) {
      throw;
    } catch (const TemplateError& e) {
      throw LocatedError(fmt::format("template error at line {}, column {}: {}", pos.line, pos.column, e.what()));
    }
  }

  Value lookup(const std::string& name) const {
    for (auto it = frames_.rbegin(); it != frames_.rend(); ++it) {
      auto hit = it->find(name);
      if (hit != it->end()) return hit->second;
    }
    if (const Value* v = globals_.find(name)) return *v;
    Value builtin = global_function(name);
    return builtin;
  }

  void assign(const std::vector<std::string>& targets, const Value& value) {
    Frame& frame = frames_.back();
    if (targets.size() == 1) {
      frame[targets[0]] = value;
      return;
    }
    const ValueList items = iterate(value);
    if (items.size() != targets.size()) {
      raise<TemplateError>("cannot unpack {} values into {} names", items.size(), targets.size());
    }
    for (size_t i = 0; i < targets.size(); ++i) frame[targets[i]] = items[i];
  }

  // ---- statements ----

  Flow exec_list(const StmtList& list) {
    for (const StmtPtr& s : list) {
      const Flow flow = exec(*s);
      if (flow != Flow::Normal) return flow;
    }
    return Flow::Normal;
  }

  void write(const std::string& text) {
    if (out_.size() + text.size() > limits_.max_output_bytes) {
      raise<TemplateError>("template output exceeds the limit of {} bytes", limits_.max_output_bytes);
    }
    out_ += text;
  }

  Flow exec(const Stmt& s) {
    charge(1);
    try {
      switch (s.kind) {
        case Stmt::Kind::Text: write(s.text); return Flow::Normal;
        case Stmt::Kind::Output: write(to_output_string(eval(*s.expr))); return Flow::Normal;
        case Stmt::Kind::If:
          for (const auto& [condition, body] : s.branches) {
            if (eval(*condition).truthy()) return exec_list(body);
          }
          return exec_list(s.else_body);
        case Stmt::Kind::For: return exec_for(s);
        case Stmt::Kind::Set: {
          const Value value = eval(*s.expr);
          if (s.attribute.empty()) {
            assign(s.targets, value);
          } else {
            const Value target = lookup(s.targets[0]);
            if (!target.is_namespace()) {
              raise<TemplateError>("cannot assign attribute '{}' on '{}': not a namespace", s.attribute, s.targets[0]);
            }
            target.as_dict().set(s.attribute, value);
          }
          return Flow::Normal;
        }
        case Stmt::Kind::SetBlock: {
          std::string saved = std::move(out_);
          out_.clear();
          const Flow flow = exec_list(s.body);
          std::string captured = std::move(out_);
          out_ = std::move(saved);
          assign(s.targets, Value::string(std::move(captured)));
          return flow;
        }
        case Stmt::Kind::Break: return Flow::Break;
        case Stmt::Kind::Continue: return Flow::Continue;
        case Stmt::Kind::Scope: return exec_list(s.body);
        case Stmt::Kind::Macro: {
          const Stmt* macro = &s;
          frames_.back()[s.targets[0]] =
              Value::function(s.targets[0], [this, macro](CallArgs& args) { return call_macro(*macro, args); });
          return Flow::Normal;
        }
      }
    } catch (const TemplateError&) {
      rethrow_located(s.pos);
    }
    return Flow::Normal;
  }

  Flow exec_for(const Stmt& s) {
    const Value iterable = eval(*s.expr);
    if (iterable.is_none() || iterable.is_number() || iterable.is_bool()) {
      raise<TemplateError>("'{}' object is not iterable", iterable.type_name());
    }
    ValueList items;
    if (s.filter) {
      // The loop filter sees the loop targets but not `loop`, and runs before
      // the loop, so loop.length counts only the items it keeps.
      for (const Value& item : iterate(iterable)) {
        frames_.emplace_back();
        assign(s.targets, item);
        const bool keep = eval(*s.filter).truthy();
        frames_.pop_back();
        if (keep) items.push_back(item);
      }
    } else {
      items = iterate(iterable);
    }
    if (items.empty()) return exec_list(s.else_body);

    const auto n = static_cast<int64_t>(items.size());
    auto cycle_index = std::make_shared<int64_t>(0);
    const Value cycle = Value::function("loop.cycle", [cycle_index](CallArgs& args) {
      if (args.positional.empty()) raise<TemplateError>("loop.cycle() needs at least one argument");
      return args.positional[static_cast<size_t>(*cycle_index) % args.positional.size()];
    });
    for (int64_t i = 0; i < n; ++i) {
      *cycle_index = i;
      charge(1);
      ValueDict loop;
      loop.set("index", Value::integer(i + 1));
      loop.set("index0", Value::integer(i));
      loop.set("revindex", Value::integer(n - i));
      loop.set("revindex0", Value::integer(n - i - 1));
      loop.set("first", Value::boolean(i == 0));
      loop.set("last", Value::boolean(i == n - 1));
      loop.set("length", Value::integer(n));
      loop.set("depth", Value::integer(1));
      loop.set("depth0", Value::integer(0));
      loop.set("previtem", i > 0 ? items[static_cast<size_t>(i - 1)] : Value::undefined("'loop.previtem'"));
      loop.set("nextitem", i + 1 < n ? items[static_cast<size_t>(i + 1)] : Value::undefined("'loop.nextitem'"));
      loop.set("cycle", cycle);
      // Each iteration gets a fresh scope: assignments do not carry over to
      // the next iteration nor leak out of the loop (Jinja2's scoping).
      frames_.emplace_back();
      frames_.back()["loop"] = Value::dict(std::move(loop));
      Flow flow;
      try {
        assign(s.targets, items[static_cast<size_t>(i)]);
        flow = exec_list(s.body);
      } catch (...) {
        frames_.pop_back();
        throw;
      }
      frames_.pop_back();
      if (flow == Flow::Break) break;
    }
    return Flow::Normal;
  }

  // A macro sees the template's top-level variables and its parameters (not
  // the caller's locals) and returns its rendered body as a string. Macro
  // calls nest (recursion included) at most kMaxMacroDepth deep.
  Value call_macro(const Stmt& macro, CallArgs& args) {
    constexpr int kMaxMacroDepth = 32;
    if (macro_depth_ >= kMaxMacroDepth) {
      raise<TemplateError>("macro '{}' nested deeper than {} calls", macro.targets[0], kMaxMacroDepth);
    }
    if (args.positional.size() > macro.params.size()) {
      raise<TemplateError>("macro '{}' takes {} arguments, {} given", macro.targets[0], macro.params.size(),
                           args.positional.size());
    }
    Frame locals;
    for (size_t i = 0; i < macro.params.size(); ++i) {
      const auto& [param, fallback] = macro.params[i];
      Value value;
      if (i < args.positional.size()) {
        value = args.positional[i];
      } else {
        bool given = false;
        for (const auto& [k, v] : args.keyword) {
          if (k == param) {
            value = v;
            given = true;
          }
        }
        if (!given && fallback) value = eval(*fallback);
        if (!given && !fallback) value = Value::undefined("'" + param + "'");
      }
      locals[param] = value;
    }
    for (const auto& keyword : args.keyword) {
      const auto& k = keyword.first;  // a named variable: lambdas cannot capture structured bindings in clang 14
      if (std::none_of(macro.params.begin(), macro.params.end(), [&](const auto& p) { return p.first == k; })) {
        raise<TemplateError>("macro '{}' has no parameter named '{}'", macro.targets[0], k);
      }
    }
    std::vector<Frame> saved_frames = std::move(frames_);
    frames_.clear();
    frames_.push_back(saved_frames.front());
    frames_.push_back(std::move(locals));
    std::string saved_out = std::move(out_);
    out_.clear();
    ++macro_depth_;
    const auto restore = [&] {
      --macro_depth_;
      frames_ = std::move(saved_frames);
      std::swap(out_, saved_out);
    };
    try {
      exec_list(macro.body);
    } catch (...) {
      restore();
      throw;
    }
    restore();
    return Value::string(std::move(saved_out));
  }

  // ---- expressions ----

  CallArgs eval_arguments(const Expr& e, size_t first_child) {
    CallArgs args;
    for (size_t i = first_child; i < e.children.size(); ++i) args.positional.push_back(eval(*e.children[i]));
    for (const auto& [k, v] : e.keywords) args.keyword.emplace_back(k, eval(*v));
    return args;
  }

  Value eval(const Expr& e) {
    charge(1);
    try {
      Value v = eval_node(e);
      charge_string(v);
      return v;
    } catch (const TemplateError&) {
      rethrow_located(e.pos);
    }
  }

  Value eval_node(const Expr& e) {
    switch (e.kind) {
      case Expr::Kind::Literal: return e.literal;
      case Expr::Kind::Name: {
        Value v = lookup(e.name);
        if (v.is_undefined()) return Value::undefined("'" + e.name + "'");
        return v;
      }
      case Expr::Kind::ListLiteral: {
        ValueList items;
        for (const auto& child : e.children) items.push_back(eval(*child));
        return e.name == "tuple" ? Value::tuple(std::move(items)) : Value::list(std::move(items));
      }
      case Expr::Kind::DictLiteral: {
        ValueDict dict;
        for (size_t i = 0; i + 1 < e.children.size(); i += 2) {
          const Value key = eval(*e.children[i]);
          if (!key.is_string()) raise<TemplateError>("dict keys must be strings here, got {}", key.type_name());
          dict.set(key.as_string(), eval(*e.children[i + 1]));
        }
        return Value::dict(std::move(dict));
      }
      case Expr::Kind::Attribute: return get_attribute(eval(*e.children[0]), e.name);
      case Expr::Kind::Subscript: {
        const Value object = eval(*e.children[0]);
        return get_item(object, eval(*e.children[1]));
      }
      case Expr::Kind::Slice: {
        const Value object = eval(*e.children[0]);
        const auto part = [&](size_t i) { return e.children[i] ? eval(*e.children[i]) : Value(); };
        return get_slice(object, part(1), part(2), part(3));
      }
      case Expr::Kind::Call: return eval_call(e);
      case Expr::Kind::Filter: {
        const Value subject = eval(*e.children[0]);
        CallArgs args = eval_arguments(e, 1);
        return apply_filter(e.name, subject, args);
      }
      case Expr::Kind::Test: {
        const Value subject = eval(*e.children[0]);
        CallArgs args = eval_arguments(e, 1);
        return Value::boolean(apply_test(e.name, subject, args) != e.negated);
      }
      case Expr::Kind::Unary: {
        const Value v = eval(*e.children[0]);
        if (!v.is_number()) raise<TemplateError>("bad operand type for unary {}: '{}'", e.name, v.type_name());
        if (e.name == "+") return v.is_bool() ? Value::integer(v.as_int()) : v;
        if (v.is_float()) return Value::floating(-v.as_double());
        return Value::integer(checked(kSub, 0, v.as_int()));
      }
      case Expr::Kind::Binary: {
        const Value a = eval(*e.children[0]);
        const Value b = eval(*e.children[1]);
        if (e.name == "~") {
          std::string s = to_output_string(a);
          const std::string t = to_output_string(b);
          check_string_size(s.size() + t.size());
          return Value::string(s + t);
        }
        return arithmetic(e.name, a, b);
      }
      case Expr::Kind::Compare: {
        Value left = eval(*e.children[0]);
        for (size_t i = 0; i < e.ops.size(); ++i) {
          Value right = eval(*e.children[i + 1]);
          const std::string& op = e.ops[i];
          bool result;
          if (op == "==") result = values_equal(left, right);
          else if (op == "!=") result = !values_equal(left, right);
          else if (op == "in") result = contains(right, left);
          else if (op == "not in") result = !contains(right, left);
          else {
            if (left.is_undefined() || right.is_undefined()) type_error(op.c_str(), left, right);
            const int c = compare_values(left, right);
            result = op == "<" ? c < 0 : op == "<=" ? c <= 0 : op == ">" ? c > 0 : c >= 0;
          }
          if (!result) return Value::boolean(false);
          left = std::move(right);
        }
        return Value::boolean(true);
      }
      // `and`/`or` return an operand, like Python.
      case Expr::Kind::And: {
        Value a = eval(*e.children[0]);
        return a.truthy() ? eval(*e.children[1]) : a;
      }
      case Expr::Kind::Or: {
        Value a = eval(*e.children[0]);
        return a.truthy() ? a : eval(*e.children[1]);
      }
      case Expr::Kind::Not: return Value::boolean(!eval(*e.children[0]).truthy());
      case Expr::Kind::Conditional: {
        if (eval(*e.children[1]).truthy()) return eval(*e.children[0]);
        return e.children[2] ? eval(*e.children[2]) : Value::undefined("conditional without else");
      }
    }
    raise<TemplateError>("unknown expression");
  }

  Value eval_call(const Expr& e) {
    const Expr& callee = *e.children[0];
    if (callee.kind == Expr::Kind::Attribute) {
      const Value object = eval(*callee.children[0]);
      if (has_method(object, callee.name)) {
        CallArgs args = eval_arguments(e, 1);
        return call_method(object, callee.name, args);
      }
      const Value fn = get_attribute(object, callee.name);
      if (!fn.is_function()) raise<TemplateError>("'{}' object has no method '{}'", object.type_name(), callee.name);
      CallArgs args = eval_arguments(e, 1);
      return fn.call(args);
    }
    const Value fn = eval(callee);
    if (fn.is_undefined()) raise<TemplateError>("{} is undefined (called as a function)", fn.undefined_description());
    if (!fn.is_function()) raise<TemplateError>("'{}' object is not callable", fn.type_name());
    CallArgs args = eval_arguments(e, 1);
    Value result = fn.call(args);
    if (result.is_namespace()) namespaces_.push_back(result);
    return result;
  }

  const ValueDict& globals_;
  RenderLimits limits_;
  std::vector<Frame> frames_;
  std::vector<Value> namespaces_;
  std::string out_;
  uint64_t steps_ = 0;
  int macro_depth_ = 0;
};

}  // namespace

std::string render_template(const StmtList& program, const ValueDict& globals, const RenderLimits& limits) {
  return Renderer(globals, limits).run(program);
}

}  // namespace tessera::chat
