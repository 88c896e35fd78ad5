// Values of the template language: the Python objects a Jinja2 chat template
// sees (None, bool, int, float, str, list, dict, namespace, callables) plus
// Jinja's Undefined. Lists, dicts and namespaces are shared by reference like
// Python objects; strings are UTF-8 and indexed by code point like Python str.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace tessera::chat {

class Value;
using ValueList = std::vector<Value>;

// Insertion-ordered string-keyed map (Python dict order).
struct ValueDict {
  std::vector<std::pair<std::string, Value>> entries;

  const Value* find(std::string_view key) const;
  Value* find(std::string_view key);
  void set(const std::string& key, Value value);
};

// Call arguments: positional then keyword, in source order.
struct CallArgs {
  std::vector<Value> positional;
  std::vector<std::pair<std::string, Value>> keyword;
};

using NativeFunction = std::function<Value(CallArgs&)>;

class Value {
 public:
  enum class Kind { Undefined, None, Bool, Int, Float, String, List, Dict, Namespace, Function };

  Value() = default;  // Undefined
  // Undefined that remembers what was looked up, for error messages.
  static Value undefined(std::string what);
  static Value none();
  static Value boolean(bool b);
  static Value integer(int64_t i);
  static Value floating(double d);
  static Value string(std::string s);
  static Value list(ValueList items = {});
  // A list that prints as a Python tuple ("(1, 2)"); otherwise a list.
  static Value tuple(ValueList items);
  static Value dict(ValueDict entries = {});
  static Value namespace_object(ValueDict attributes = {});
  static Value function(std::string name, NativeFunction fn);

  Kind kind() const { return kind_; }
  bool is_undefined() const { return kind_ == Kind::Undefined; }
  bool is_none() const { return kind_ == Kind::None; }
  bool is_bool() const { return kind_ == Kind::Bool; }
  bool is_int() const { return kind_ == Kind::Int; }
  bool is_float() const { return kind_ == Kind::Float; }
  bool is_number() const { return kind_ == Kind::Int || kind_ == Kind::Float || kind_ == Kind::Bool; }
  bool is_string() const { return kind_ == Kind::String; }
  bool is_list() const { return kind_ == Kind::List; }
  bool is_tuple() const { return kind_ == Kind::List && tuple_; }
  bool is_dict() const { return kind_ == Kind::Dict; }
  bool is_namespace() const { return kind_ == Kind::Namespace; }
  bool is_function() const { return kind_ == Kind::Function; }

  bool as_bool() const { return bool_; }
  int64_t as_int() const { return int_; }  // Int or Bool
  double as_double() const;                // any number
  const std::string& as_string() const { return *string_; }
  ValueList& as_list() const { return *list_; }
  ValueDict& as_dict() const { return *dict_; }  // Dict or Namespace
  const std::string& function_name() const { return *string_; }
  std::string undefined_description() const { return string_ ? *string_ : "value"; }
  Value call(CallArgs& args) const { return (*function_)(args); }

  // Identity of shared objects (Python `is`), for cycle detection.
  const void* object_identity() const;

  // Python truthiness: None, False, 0, "", [] and {} are false; Undefined is false.
  bool truthy() const;
  // Python type name for error messages ("str", "list", "undefined", ...).
  const char* type_name() const;

 private:
  Kind kind_ = Kind::Undefined;
  bool bool_ = false;
  bool tuple_ = false;
  int64_t int_ = 0;
  double float_ = 0;
  std::shared_ptr<const std::string> string_;  // String value or function name
  std::shared_ptr<ValueList> list_;
  std::shared_ptr<ValueDict> dict_;
  std::shared_ptr<NativeFunction> function_;
};

// Maximum nesting of lists/dicts in conversions, comparison, repr and tojson;
// deeper (or self-containing) values raise TemplateError instead of overflowing
// the stack.
inline constexpr int kMaxValueDepth = 256;

// JSON -> Value (objects keep their key order: sorted for nlohmann::json,
// insertion order for nlohmann::ordered_json).
Value value_from_json(const nlohmann::json& json);
Value value_from_json(const nlohmann::ordered_json& json);

// Python semantics for the template's operators.
bool values_equal(const Value& a, const Value& b);
// -1, 0, 1 like Python's <; throws TemplateError for unorderable types.
int compare_values(const Value& a, const Value& b);
// str(value) as Jinja prints it: None -> "None", True -> "True", 1.0 -> "1.0",
// lists/dicts in Python repr; Undefined -> "".
std::string to_output_string(const Value& value);
// repr(value): strings quoted as Python quotes them.
std::string to_repr(const Value& value);
// json.dumps(value, ensure_ascii=False, indent=indent, separators=..., sort_keys=...)
// as transformers' `tojson` filter calls it; indent < 0 means None.
// item_separator/key_separator empty: json.dumps' defaults for the indent.
std::string to_json_text(const Value& value, int indent, bool sort_keys, std::string item_separator = {},
                         std::string key_separator = {});

// Longest string any operation may build (concatenation, repetition, join,
// tojson, ...); longer raises TemplateError instead of exhausting memory.
inline constexpr size_t kMaxStringBytes = size_t{16} << 20;
// Raises TemplateError when `size` exceeds kMaxStringBytes.
void check_string_size(size_t size);

// UTF-8 code point helpers: Python indexes str by code point.
std::vector<std::string_view> split_code_points(std::string_view text);
size_t code_point_count(std::string_view text);

}  // namespace tessera::chat
