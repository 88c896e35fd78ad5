#include "chat/builtins.h"

#include <algorithm>
#include <cmath>
#include <ctime>

#include "chat/template_error.h"

namespace tessera::chat {

namespace {

// Positional-or-keyword argument access for one builtin call.
class Args {
 public:
  Args(CallArgs& args, std::string_view function) : args_(args), function_(function) {}

  const Value* find(size_t index, std::string_view keyword) const {
    if (index < args_.positional.size()) return &args_.positional[index];
    for (const auto& [k, v] : args_.keyword) {
      if (k == keyword) return &v;
    }
    return nullptr;
  }
  Value get(size_t index, std::string_view keyword, Value fallback = {}) const {
    const Value* v = find(index, keyword);
    return v ? *v : fallback;
  }
  const Value& require(size_t index, std::string_view keyword) const {
    const Value* v = find(index, keyword);
    if (v == nullptr) raise<TemplateError>("{}() missing required argument '{}'", function_, keyword);
    return *v;
  }
  std::string string(size_t index, std::string_view keyword, std::string fallback = {}) const {
    const Value* v = find(index, keyword);
    if (v == nullptr || v->is_none()) return fallback;
    if (!v->is_string()) raise<TemplateError>("{}(): argument '{}' must be a string, not {}", function_, keyword, v->type_name());
    return v->as_string();
  }
  int64_t integer(size_t index, std::string_view keyword, int64_t fallback) const {
    const Value* v = find(index, keyword);
    if (v == nullptr || v->is_none()) return fallback;
    if (!v->is_int() && !v->is_bool()) raise<TemplateError>("{}(): argument '{}' must be an integer, not {}", function_, keyword, v->type_name());
    return v->as_int();
  }
  bool flag(size_t index, std::string_view keyword, bool fallback) const {
    const Value* v = find(index, keyword);
    return v ? v->truthy() : fallback;
  }
  // Positional arguments from `index` on (for select/map test and filter arguments).
  CallArgs rest(size_t index) const {
    CallArgs out;
    for (size_t i = index; i < args_.positional.size(); ++i) out.positional.push_back(args_.positional[i]);
    return out;
  }

 private:
  CallArgs& args_;
  std::string_view function_;
};

const std::string& require_string(const Value& v, std::string_view what) {
  if (!v.is_string()) raise<TemplateError>("{} expects a string, got {}", what, v.type_name());
  return v.as_string();
}

// ---- strings ----

uint32_t decode_code_point(std::string_view unit) {
  const auto b0 = static_cast<unsigned char>(unit[0]);
  if (b0 < 0x80 || unit.size() == 1) return b0;
  uint32_t cp = b0 & (unit.size() == 2 ? 0x1F : (unit.size() == 3 ? 0x0F : 0x07));
  for (size_t i = 1; i < unit.size(); ++i) cp = (cp << 6) | (static_cast<unsigned char>(unit[i]) & 0x3F);
  return cp;
}

// Python's str.isspace() set.
bool is_unicode_space(uint32_t cp) {
  return (cp >= 0x09 && cp <= 0x0D) || (cp >= 0x1C && cp <= 0x20) || cp == 0x85 || cp == 0xA0 ||
         cp == 0x1680 || (cp >= 0x2000 && cp <= 0x200A) || cp == 0x2028 || cp == 0x2029 || cp == 0x202F ||
         cp == 0x205F || cp == 0x3000;
}

// str.strip/lstrip/rstrip: `chars` null strips Unicode whitespace.
std::string strip(const std::string& s, const std::string* chars, bool left, bool right) {
  const auto units = split_code_points(s);
  const auto strippable = [&](std::string_view unit) {
    if (chars == nullptr) return is_unicode_space(decode_code_point(unit));
    for (std::string_view c : split_code_points(*chars)) {
      if (c == unit) return true;
    }
    return false;
  };
  size_t begin = 0, end = units.size();
  if (left) {
    while (begin < end && strippable(units[begin])) ++begin;
  }
  if (right) {
    while (end > begin && strippable(units[end - 1])) --end;
  }
  if (begin == end) return "";
  const char* first = units[begin].data();
  const char* last = units[end - 1].data() + units[end - 1].size();
  return std::string(first, last);
}

std::string ascii_upper(std::string s) {
  for (char& c : s) {
    if (c >= 'a' && c <= 'z') c = static_cast<char>(c - 'a' + 'A');
  }
  return s;
}

std::string ascii_lower(std::string s) {
  for (char& c : s) {
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  }
  return s;
}

std::string capitalize(const std::string& s) {
  std::string out = ascii_lower(s);
  if (!out.empty() && out[0] >= 'a' && out[0] <= 'z') out[0] = static_cast<char>(out[0] - 'a' + 'A');
  return out;
}

std::string title(const std::string& s) {
  std::string out = s;
  bool at_word_start = true;
  for (char& c : out) {
    const bool alpha = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
    if (alpha) {
      if (at_word_start && c >= 'a') c = static_cast<char>(c - 'a' + 'A');
      if (!at_word_start && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
    }
    at_word_start = !alpha && !(c >= '0' && c <= '9') && !(static_cast<unsigned char>(c) & 0x80);
  }
  return out;
}

std::string replace_all(const std::string& s, const std::string& from, const std::string& to, int64_t count) {
  std::string out;
  if (from.empty()) {
    // Python inserts `to` around every code point.
    int64_t done = 0;
    for (std::string_view unit : split_code_points(s)) {
      if (count < 0 || done < count) {
        out += to;
        ++done;
      }
      out += unit;
      check_string_size(out.size());
    }
    if (count < 0 || done < count) out += to;
    return out;
  }
  size_t pos = 0;
  int64_t done = 0;
  while (count < 0 || done < count) {
    const size_t hit = s.find(from, pos);
    if (hit == std::string::npos) break;
    out.append(s, pos, hit - pos);
    out += to;
    check_string_size(out.size());
    pos = hit + from.size();
    ++done;
  }
  out.append(s, pos, std::string::npos);
  check_string_size(out.size());
  return out;
}

ValueList split(const std::string& s, const std::string* sep, int64_t max_split) {
  ValueList parts;
  if (sep == nullptr) {
    // Runs of whitespace separate; leading/trailing whitespace yields nothing.
    const auto units = split_code_points(s);
    size_t i = 0;
    while (i < units.size()) {
      while (i < units.size() && is_unicode_space(decode_code_point(units[i]))) ++i;
      if (i == units.size()) break;
      size_t j = i;
      if (max_split >= 0 && static_cast<int64_t>(parts.size()) == max_split) {
        j = units.size();
        // The remainder keeps its trailing whitespace stripped, as Python does.
        std::string rest(units[i].data(), units.back().data() + units.back().size());
        parts.push_back(Value::string(strip(rest, nullptr, false, true)));
        break;
      }
      while (j < units.size() && !is_unicode_space(decode_code_point(units[j]))) ++j;
      parts.push_back(Value::string(std::string(units[i].data(), units[j - 1].data() + units[j - 1].size())));
      i = j;
    }
    return parts;
  }
  if (sep->empty()) raise<TemplateError>("split(): empty separator");
  size_t pos = 0;
  while (max_split < 0 || static_cast<int64_t>(parts.size()) < max_split) {
    const size_t hit = s.find(*sep, pos);
    if (hit == std::string::npos) break;
    parts.push_back(Value::string(s.substr(pos, hit - pos)));
    pos = hit + sep->size();
  }
  parts.push_back(Value::string(s.substr(pos)));
  return parts;
}

bool affix_matches(const std::string& s, const Value& affix, bool prefix) {
  const auto one = [&](const Value& a) {
    const std::string& x = require_string(a, prefix ? "startswith()" : "endswith()");
    if (x.size() > s.size()) return false;
    return prefix ? s.compare(0, x.size(), x) == 0 : s.compare(s.size() - x.size(), x.size(), x) == 0;
  };
  if (affix.is_list()) {
    return std::any_of(affix.as_list().begin(), affix.as_list().end(), one);
  }
  return one(affix);
}

Value string_method(const std::string& s, const std::string& name, CallArgs& call) {
  Args args(call, name);
  if (name == "strip" || name == "lstrip" || name == "rstrip") {
    const Value chars = args.get(0, "chars");
    const std::string* set = chars.is_string() ? &chars.as_string() : nullptr;
    return Value::string(strip(s, set, name != "rstrip", name != "lstrip"));
  }
  if (name == "split") {
    const Value sep = args.get(0, "sep");
    return Value::list(split(s, sep.is_string() ? &sep.as_string() : nullptr, args.integer(1, "maxsplit", -1)));
  }
  if (name == "startswith" || name == "endswith") return Value::boolean(affix_matches(s, args.require(0, "prefix"), name == "startswith"));
  if (name == "upper") return Value::string(ascii_upper(s));
  if (name == "lower") return Value::string(ascii_lower(s));
  if (name == "title") return Value::string(title(s));
  if (name == "capitalize") return Value::string(capitalize(s));
  if (name == "replace") {
    return Value::string(replace_all(s, require_string(args.require(0, "old"), "replace()"),
                                     require_string(args.require(1, "new"), "replace()"), args.integer(2, "count", -1)));
  }
  if (name == "find" || name == "rfind" || name == "count") {
    const std::string& sub = require_string(args.require(0, "sub"), name + "()");
    if (name == "count") {
      if (sub.empty()) return Value::integer(static_cast<int64_t>(code_point_count(s)) + 1);
      int64_t n = 0;
      for (size_t pos = s.find(sub); pos != std::string::npos; pos = s.find(sub, pos + sub.size())) ++n;
      return Value::integer(n);
    }
    const size_t hit = name == "find" ? s.find(sub) : s.rfind(sub);
    return Value::integer(hit == std::string::npos ? -1 : static_cast<int64_t>(code_point_count(s.substr(0, hit))));
  }
  if (name == "join") {
    std::string out;
    bool first = true;
    for (const Value& item : iterate(args.require(0, "iterable"))) {
      if (!first) out += s;
      first = false;
      out += require_string(item, "join()");
      check_string_size(out.size());
    }
    return Value::string(std::move(out));
  }
  if (name == "splitlines") {
    ValueList lines;
    size_t pos = 0;
    while (pos < s.size()) {
      size_t end = s.find_first_of("\r\n", pos);
      if (end == std::string::npos) {
        lines.push_back(Value::string(s.substr(pos)));
        break;
      }
      lines.push_back(Value::string(s.substr(pos, end - pos)));
      pos = end + ((s[end] == '\r' && end + 1 < s.size() && s[end + 1] == '\n') ? 2 : 1);
    }
    return Value::list(std::move(lines));
  }
  const auto all_of = [&](auto pred) {
    return Value::boolean(!s.empty() && std::all_of(s.begin(), s.end(), [&](char c) { return pred(static_cast<unsigned char>(c)); }));
  };
  if (name == "isdigit") return all_of([](unsigned char c) { return c >= '0' && c <= '9'; });
  if (name == "isalpha") return all_of([](unsigned char c) { return std::isalpha(c) != 0; });
  if (name == "isalnum") return all_of([](unsigned char c) { return std::isalnum(c) != 0; });
  if (name == "isspace") return all_of([](unsigned char c) { return is_unicode_space(c); });
  if (name == "islower") return Value::boolean(ascii_lower(s) == s && ascii_upper(s) != s);
  if (name == "isupper") return Value::boolean(ascii_upper(s) == s && ascii_lower(s) != s);
  raise<TemplateError>("'str' object has no attribute '{}'", name);
}

const char* const kStringMethods[] = {"strip", "lstrip", "rstrip", "split", "startswith", "endswith", "upper",
                                      "lower", "title", "capitalize", "replace", "find", "rfind", "count", "join",
                                      "splitlines", "isdigit", "isalpha", "isalnum", "isspace", "islower", "isupper"};
const char* const kDictMethods[] = {"items", "keys", "values", "get"};

ValueList dict_items(const ValueDict& dict) {
  ValueList items;
  for (const auto& [k, v] : dict.entries) items.push_back(Value::tuple({Value::string(k), v}));
  return items;
}

Value dict_method(const ValueDict& dict, const std::string& name, CallArgs& call) {
  Args args(call, name);
  if (name == "items") return Value::list(dict_items(dict));
  if (name == "keys") {
    ValueList keys;
    for (const auto& entry : dict.entries) keys.push_back(Value::string(entry.first));
    return Value::list(std::move(keys));
  }
  if (name == "values") {
    ValueList values;
    for (const auto& entry : dict.entries) values.push_back(entry.second);
    return Value::list(std::move(values));
  }
  if (name == "get") {
    const Value& key = args.require(0, "key");
    const Value* hit = key.is_string() ? dict.find(key.as_string()) : nullptr;
    return hit ? *hit : args.get(1, "default", Value::none());
  }
  raise<TemplateError>("'dict' object has no attribute '{}'", name);
}

// ---- filters ----

// Follows a dotted attribute path ("a.b") as Jinja's attribute filters do.
Value attribute_path(const Value& item, const std::string& path) {
  Value current = item;
  size_t pos = 0;
  while (true) {
    const size_t dot = path.find('.', pos);
    const std::string part = path.substr(pos, dot == std::string::npos ? std::string::npos : dot - pos);
    if (current.is_undefined()) return current;
    if (!part.empty() && std::all_of(part.begin(), part.end(), [](char c) { return c >= '0' && c <= '9'; }) &&
        current.is_list()) {
      current = get_item(current, Value::integer(std::stoll(part)));
    } else {
      current = get_attribute(current, part);
    }
    if (dot == std::string::npos) return current;
    pos = dot + 1;
  }
}

// select/reject/selectattr/rejectattr: keeps items whose test result equals `keep`.
Value select_items(const Value& subject, Args& args, bool keep, bool by_attribute) {
  ValueList out;
  const size_t test_index = by_attribute ? 1 : 0;
  const std::string attribute = by_attribute ? args.string(0, "attribute") : "";
  const Value* test = args.find(test_index, "test");
  if (!subject.truthy()) return Value::list();  // Jinja: `if value:` guards the loop (None selects nothing)
  for (const Value& item : iterate(subject)) {
    const Value probe = by_attribute ? attribute_path(item, attribute) : item;
    bool passed;
    if (test == nullptr) {
      passed = probe.truthy();
    } else {
      CallArgs test_args = args.rest(test_index + 1);
      passed = apply_test(require_string(*test, "select test name"), probe, test_args);
    }
    if (passed == keep) out.push_back(item);
  }
  return Value::list(std::move(out));
}

Value map_items(const Value& subject, CallArgs& call) {
  Args args(call, "map");
  ValueList out;
  if (!subject.truthy()) return Value::list();  // as Jinja's map: None maps to nothing
  const Value* attribute = nullptr;
  for (const auto& [k, v] : call.keyword) {
    if (k == "attribute") attribute = &v;
  }
  if (attribute != nullptr) {
    const std::string path = require_string(*attribute, "map(attribute=...)");
    const Value fallback = args.get(99, "default");
    for (const Value& item : iterate(subject)) {
      Value v = attribute_path(item, path);
      out.push_back(v.is_undefined() && !fallback.is_undefined() ? fallback : v);
    }
    return Value::list(std::move(out));
  }
  const std::string filter = require_string(args.require(0, "filter"), "map filter name");
  for (const Value& item : iterate(subject)) {
    CallArgs filter_args = args.rest(1);
    out.push_back(apply_filter(filter, item, filter_args));
  }
  return Value::list(std::move(out));
}

Value sort_items(const Value& subject, Args& args) {
  ValueList items = iterate(subject);
  const bool reverse = args.flag(0, "reverse", false);
  const bool case_sensitive = args.flag(1, "case_sensitive", false);
  const std::string attribute = args.string(2, "attribute");
  const auto key = [&](const Value& v) {
    Value k = attribute.empty() ? v : attribute_path(v, attribute);
    if (!case_sensitive && k.is_string()) k = Value::string(ascii_lower(k.as_string()));
    return k;
  };
  std::stable_sort(items.begin(), items.end(), [&](const Value& a, const Value& b) {
    const int c = compare_values(key(a), key(b));
    return reverse ? c > 0 : c < 0;
  });
  return Value::list(std::move(items));
}

Value min_max(const Value& subject, Args& args, bool want_max) {
  const ValueList items = iterate(subject);
  if (items.empty()) return Value();
  const bool case_sensitive = args.flag(0, "case_sensitive", false);
  const std::string attribute = args.string(1, "attribute");
  const auto key = [&](const Value& v) {
    Value k = attribute.empty() ? v : attribute_path(v, attribute);
    if (!case_sensitive && k.is_string()) k = Value::string(ascii_lower(k.as_string()));
    return k;
  };
  size_t best = 0;
  for (size_t i = 1; i < items.size(); ++i) {
    const int c = compare_values(key(items[i]), key(items[best]));
    if (want_max ? c > 0 : c < 0) best = i;
  }
  return items[best];
}

Value to_int(const Value& v, Value fallback) {
  if (v.is_int() || v.is_bool()) return Value::integer(v.as_int());
  if (v.is_float()) {
    if (!std::isfinite(v.as_double())) return fallback;
    return Value::integer(static_cast<int64_t>(v.as_double()));
  }
  if (v.is_string()) {
    const std::string s = strip(v.as_string(), nullptr, true, true);
    char* end = nullptr;
    errno = 0;
    const long long i = std::strtoll(s.c_str(), &end, 10);
    if (!s.empty() && end == s.c_str() + s.size() && errno == 0) return Value::integer(i);
    const double d = std::strtod(s.c_str(), &end);
    if (!s.empty() && end == s.c_str() + s.size() && std::isfinite(d)) return Value::integer(static_cast<int64_t>(d));
  }
  return fallback;
}

Value to_float(const Value& v, Value fallback) {
  if (v.is_number()) return Value::floating(v.as_double());
  if (v.is_string()) {
    const std::string s = strip(v.as_string(), nullptr, true, true);
    char* end = nullptr;
    const double d = std::strtod(s.c_str(), &end);
    if (!s.empty() && end == s.c_str() + s.size()) return Value::floating(d);
  }
  return fallback;
}

std::string indent_text(const std::string& s, const std::string& pad, bool first, bool blank) {
  std::string out;
  size_t pos = 0;
  bool first_line = true;
  while (true) {
    const size_t nl = s.find('\n', pos);
    const std::string line = s.substr(pos, nl == std::string::npos ? std::string::npos : nl - pos);
    const bool indent_this = (first_line ? first : true) && (blank || !strip(line, nullptr, true, true).empty());
    if (indent_this) out += pad;
    out += line;
    check_string_size(out.size());
    if (nl == std::string::npos) break;
    out += '\n';
    pos = nl + 1;
    first_line = false;
  }
  return out;
}

}  // namespace

ValueList iterate(const Value& value) {
  switch (value.kind()) {
    case Value::Kind::Undefined: return {};
    case Value::Kind::List: return value.as_list();
    case Value::Kind::Dict: {
      ValueList keys;
      for (const auto& entry : value.as_dict().entries) keys.push_back(Value::string(entry.first));
      return keys;
    }
    case Value::Kind::String: {
      ValueList chars;
      for (std::string_view unit : split_code_points(value.as_string())) chars.push_back(Value::string(std::string(unit)));
      return chars;
    }
    default: raise<TemplateError>("'{}' object is not iterable", value.type_name());
  }
}

int64_t length_of(const Value& value) {
  switch (value.kind()) {
    case Value::Kind::Undefined: return 0;
    case Value::Kind::String: return static_cast<int64_t>(code_point_count(value.as_string()));
    case Value::Kind::List: return static_cast<int64_t>(value.as_list().size());
    case Value::Kind::Dict: return static_cast<int64_t>(value.as_dict().entries.size());
    default: raise<TemplateError>("object of type '{}' has no len()", value.type_name());
  }
}

Value apply_filter(const std::string& name, const Value& subject, CallArgs& call) {
  Args args(call, name);
  if (name == "trim") {
    const Value chars = args.get(0, "chars");
    return Value::string(strip(to_output_string(subject), chars.is_string() ? &chars.as_string() : nullptr, true, true));
  }
  if (name == "length" || name == "count") return Value::integer(length_of(subject));
  if (name == "upper") return Value::string(ascii_upper(to_output_string(subject)));
  if (name == "lower") return Value::string(ascii_lower(to_output_string(subject)));
  if (name == "capitalize") return Value::string(capitalize(to_output_string(subject)));
  if (name == "title") return Value::string(title(to_output_string(subject)));
  if (name == "string") return Value::string(to_output_string(subject));
  if (name == "safe") return subject;
  if (name == "tojson") {
    // transformers' tojson: json.dumps(x, ensure_ascii=False, indent, separators, sort_keys).
    const Value indent = args.get(1, "indent");
    if (!indent.is_undefined() && !indent.is_none() && !indent.is_int()) {
      raise<TemplateError>("tojson(): indent must be an integer");
    }
    std::string item_sep, key_sep;
    const Value separators = args.get(2, "separators");
    if (separators.is_list() && separators.as_list().size() == 2) {
      item_sep = require_string(separators.as_list()[0], "tojson separators");
      key_sep = require_string(separators.as_list()[1], "tojson separators");
    }
    const int indent_width = indent.is_int() ? static_cast<int>(std::clamp<int64_t>(indent.as_int(), 0, 64)) : -1;
    return Value::string(to_json_text(subject, indent_width, args.flag(3, "sort_keys", false), item_sep, key_sep));
  }
  if (name == "default" || name == "d") {
    const bool boolean = args.flag(1, "boolean", false);
    if (subject.is_undefined() || (boolean && !subject.truthy())) return args.get(0, "default_value", Value::string(""));
    return subject;
  }
  if (name == "first" || name == "last") {
    const ValueList items = iterate(subject);
    if (items.empty()) return Value::undefined(name + " item of an empty sequence");
    return name == "first" ? items.front() : items.back();
  }
  if (name == "join") {
    const std::string sep = args.string(0, "d");
    const std::string attribute = args.string(1, "attribute");
    std::string out;
    bool first = true;
    for (const Value& item : iterate(subject)) {
      if (!first) out += sep;
      first = false;
      out += to_output_string(attribute.empty() ? item : attribute_path(item, attribute));
      check_string_size(out.size());
    }
    return Value::string(std::move(out));
  }
  if (name == "replace") {
    return Value::string(replace_all(to_output_string(subject), to_output_string(args.require(0, "old")),
                                     to_output_string(args.require(1, "new")), args.integer(2, "count", -1)));
  }
  if (name == "items") {
    if (subject.is_undefined()) return Value::list();
    if (!subject.is_dict()) raise<TemplateError>("items filter expects a mapping, got {}", subject.type_name());
    return Value::list(dict_items(subject.as_dict()));
  }
  if (name == "list") return Value::list(iterate(subject));
  if (name == "dictsort") {
    if (!subject.is_dict()) raise<TemplateError>("dictsort filter expects a mapping, got {}", subject.type_name());
    const bool case_sensitive = args.flag(0, "case_sensitive", false);
    const std::string by = args.string(1, "by", "key");
    if (by != "key" && by != "value") raise<TemplateError>("dictsort(): 'by' must be 'key' or 'value'");
    const bool reverse = args.flag(2, "reverse", false);
    ValueList items = dict_items(subject.as_dict());
    std::stable_sort(items.begin(), items.end(), [&](const Value& a, const Value& b) {
      Value x = a.as_list()[by == "key" ? 0 : 1], y = b.as_list()[by == "key" ? 0 : 1];
      if (!case_sensitive && x.is_string()) x = Value::string(ascii_lower(x.as_string()));
      if (!case_sensitive && y.is_string()) y = Value::string(ascii_lower(y.as_string()));
      const int c = compare_values(x, y);
      return reverse ? c > 0 : c < 0;
    });
    return Value::list(std::move(items));
  }
  if (name == "selectattr") return select_items(subject, args, true, true);
  if (name == "rejectattr") return select_items(subject, args, false, true);
  if (name == "select") return select_items(subject, args, true, false);
  if (name == "reject") return select_items(subject, args, false, false);
  if (name == "map") return map_items(subject, call);
  if (name == "unique") {
    ValueList out;
    for (const Value& item : iterate(subject)) {
      if (std::none_of(out.begin(), out.end(), [&](const Value& seen) { return values_equal(seen, item); })) out.push_back(item);
    }
    return Value::list(std::move(out));
  }
  if (name == "sort") return sort_items(subject, args);
  if (name == "reverse") {
    if (subject.is_string()) {
      auto units = split_code_points(subject.as_string());
      std::string out;
      for (auto it = units.rbegin(); it != units.rend(); ++it) out += *it;
      return Value::string(std::move(out));
    }
    ValueList items = iterate(subject);
    std::reverse(items.begin(), items.end());
    return Value::list(std::move(items));
  }
  if (name == "min") return min_max(subject, args, false);
  if (name == "max") return min_max(subject, args, true);
  if (name == "sum") {
    const std::string attribute = args.string(0, "attribute");
    Value total = args.get(1, "start", Value::integer(0));
    for (const Value& item : iterate(subject)) {
      const Value v = attribute.empty() ? item : attribute_path(item, attribute);
      if (!v.is_number() || !total.is_number()) raise<TemplateError>("sum(): unsupported operand type {}", v.type_name());
      total = (total.is_float() || v.is_float()) ? Value::floating(total.as_double() + v.as_double())
                                                 : Value::integer(total.as_int() + v.as_int());
    }
    return total;
  }
  if (name == "abs") {
    if (subject.is_float()) return Value::floating(std::fabs(subject.as_double()));
    if (subject.is_int() || subject.is_bool()) return Value::integer(subject.as_int() < 0 ? -subject.as_int() : subject.as_int());
    raise<TemplateError>("bad operand type for abs(): '{}'", subject.type_name());
  }
  if (name == "int") return to_int(subject, args.get(0, "default", Value::integer(0)));
  if (name == "float") return to_float(subject, args.get(0, "default", Value::floating(0.0)));
  if (name == "round") {
    if (!subject.is_number()) raise<TemplateError>("round filter expects a number, got {}", subject.type_name());
    const int64_t precision = std::clamp<int64_t>(args.integer(0, "precision", 0), 0, 15);
    const std::string method = args.string(1, "method", "common");
    const double scale = std::pow(10.0, static_cast<double>(precision));
    double x = subject.as_double() * scale;
    // Python's round(): halves go to the even neighbour (the default FP rounding mode).
    if (method == "common") x = std::nearbyint(x);
    else if (method == "floor") x = std::floor(x);
    else if (method == "ceil") x = std::ceil(x);
    else raise<TemplateError>("round(): method must be common, floor or ceil");
    return Value::floating(x / scale);
  }
  if (name == "indent") {
    const Value width = args.get(0, "width", Value::integer(4));
    const std::string pad = width.is_string() ? width.as_string()
                                              : std::string(static_cast<size_t>(std::clamp<int64_t>(args.integer(0, "width", 4), 0, 256)), ' ');
    return Value::string(indent_text(to_output_string(subject), pad, args.flag(1, "first", false), args.flag(2, "blank", false)));
  }
  raise<TemplateError>("no filter named '{}'", name);
}

bool apply_test(const std::string& name, const Value& subject, CallArgs& call) {
  Args args(call, name);
  if (name == "defined") return !subject.is_undefined();
  if (name == "undefined") return subject.is_undefined();
  if (name == "none") return subject.is_none();
  if (name == "boolean") return subject.is_bool();
  if (name == "true") return subject.is_bool() && subject.as_bool();
  if (name == "false") return subject.is_bool() && !subject.as_bool();
  if (name == "integer") return subject.is_int();
  if (name == "float") return subject.is_float();
  if (name == "number") return subject.is_number();
  if (name == "string") return subject.is_string();
  if (name == "mapping") return subject.is_dict();
  if (name == "iterable") return subject.is_list() || subject.is_dict() || subject.is_string() || subject.is_undefined();
  if (name == "sequence") return subject.is_list() || subject.is_dict() || subject.is_string();
  if (name == "callable") return subject.is_function();
  if (name == "even" || name == "odd" || name == "divisibleby") {
    if (!subject.is_int() && !subject.is_bool()) raise<TemplateError>("'{}' test expects an integer, got {}", name, subject.type_name());
    const int64_t n = subject.as_int();
    if (name == "even") return n % 2 == 0;
    if (name == "odd") return n % 2 != 0;
    const int64_t d = args.integer(0, "num", 1);
    if (d == 0) raise<TemplateError>("divisibleby 0");
    return n % d == 0;
  }
  if (name == "lower") return subject.is_string() && ascii_lower(subject.as_string()) == subject.as_string();
  if (name == "upper") return subject.is_string() && ascii_upper(subject.as_string()) == subject.as_string();
  if (name == "sameas") {
    const Value& other = args.require(0, "other");
    if (subject.object_identity() != nullptr) return subject.object_identity() == other.object_identity();
    return subject.kind() == other.kind() && values_equal(subject, other);
  }
  if (name == "in") {
    const Value& container = args.require(0, "seq");
    if (container.is_string()) return subject.is_string() && container.as_string().find(subject.as_string()) != std::string::npos;
    if (container.is_dict()) return subject.is_string() && container.as_dict().find(subject.as_string()) != nullptr;
    for (const Value& item : iterate(container)) {
      if (values_equal(item, subject)) return true;
    }
    return false;
  }
  if (name == "equalto" || name == "eq" || name == "==") return values_equal(subject, args.require(0, "other"));
  if (name == "ne" || name == "!=") return !values_equal(subject, args.require(0, "other"));
  if (name == "lt" || name == "lessthan" || name == "<") return compare_values(subject, args.require(0, "other")) < 0;
  if (name == "le" || name == "<=") return compare_values(subject, args.require(0, "other")) <= 0;
  if (name == "gt" || name == "greaterthan" || name == ">") return compare_values(subject, args.require(0, "other")) > 0;
  if (name == "ge" || name == ">=") return compare_values(subject, args.require(0, "other")) >= 0;
  raise<TemplateError>("no test named '{}'", name);
}

bool has_method(const Value& object, std::string_view name) {
  if (object.is_string()) {
    return std::any_of(std::begin(kStringMethods), std::end(kStringMethods), [&](const char* m) { return name == m; });
  }
  if (object.is_dict()) {
    return std::any_of(std::begin(kDictMethods), std::end(kDictMethods), [&](const char* m) { return name == m; });
  }
  return false;
}

Value call_method(const Value& object, const std::string& name, CallArgs& args) {
  if (object.is_string()) return string_method(object.as_string(), name, args);
  if (object.is_dict()) return dict_method(object.as_dict(), name, args);
  raise<TemplateError>("'{}' object has no method '{}'", object.type_name(), name);
}

Value global_function(const std::string& name) {
  if (name == "range") {
    return Value::function(name, [](CallArgs& call) {
      Args args(call, "range");
      if (call.positional.empty()) raise<TemplateError>("range expected at least 1 argument");
      int64_t start = 0, stop = 0, step = 1;
      if (call.positional.size() == 1) {
        stop = args.integer(0, "stop", 0);
      } else {
        start = args.integer(0, "start", 0);
        stop = args.integer(1, "stop", 0);
        step = args.integer(2, "step", 1);
      }
      if (step == 0) raise<TemplateError>("range() arg 3 must not be zero");
      // A range is materialised as a list; bound it like any other allocation.
      constexpr int64_t kMaxRange = 1 << 20;
      const double n = std::ceil((static_cast<double>(stop) - static_cast<double>(start)) / static_cast<double>(step));
      if (n > kMaxRange) raise<TemplateError>("range() of {} items exceeds the limit of {}", n, kMaxRange);
      ValueList items;
      for (int64_t i = start; step > 0 ? i < stop : i > stop; i += step) items.push_back(Value::integer(i));
      return Value::list(std::move(items));
    });
  }
  if (name == "namespace" || name == "dict") {
    const bool is_namespace = name == "namespace";
    return Value::function(name, [is_namespace](CallArgs& call) {
      ValueDict attributes;
      for (const Value& initial : call.positional) {
        if (!initial.is_dict()) raise<TemplateError>("namespace()/dict() positional argument must be a mapping");
        for (const auto& [k, v] : initial.as_dict().entries) attributes.set(k, v);
      }
      for (const auto& [k, v] : call.keyword) attributes.set(k, v);
      return is_namespace ? Value::namespace_object(std::move(attributes)) : Value::dict(std::move(attributes));
    });
  }
  if (name == "raise_exception") {
    return Value::function(name, [](CallArgs& call) -> Value {
      const std::string message = call.positional.empty() ? std::string() : to_output_string(call.positional[0]);
      throw TemplateRaised(message);
    });
  }
  if (name == "strftime_now") {
    return Value::function(name, [](CallArgs& call) {
      Args args(call, "strftime_now");
      const std::string format = args.string(0, "format");
      const std::time_t now = std::time(nullptr);
      std::tm local{};
      localtime_r(&now, &local);
      char buf[256];
      const size_t n = std::strftime(buf, sizeof buf, format.c_str(), &local);
      return Value::string(std::string(buf, n));
    });
  }
  return Value::undefined("'" + name + "'");
}

Value get_attribute(const Value& object, const std::string& name) {
  switch (object.kind()) {
    case Value::Kind::Undefined:
      raise<TemplateError>("{} is undefined (reading attribute '{}')", object.undefined_description(), name);
    case Value::Kind::Dict:
    case Value::Kind::Namespace: {
      const Value* hit = object.as_dict().find(name);
      return hit ? *hit : Value::undefined(fmt::format("'{} object' has no attribute '{}'", object.type_name(), name));
    }
    default: return Value::undefined(fmt::format("'{} object' has no attribute '{}'", object.type_name(), name));
  }
}

Value get_item(const Value& object, const Value& key) {
  switch (object.kind()) {
    case Value::Kind::Undefined:
      raise<TemplateError>("{} is undefined (reading item {})", object.undefined_description(), to_repr(key));
    case Value::Kind::Dict:
    case Value::Kind::Namespace: {
      if (!key.is_string()) return Value::undefined(fmt::format("dict has no item {}", to_repr(key)));
      return get_attribute(object, key.as_string());
    }
    case Value::Kind::List:
    case Value::Kind::String: {
      if (!key.is_int() && !key.is_bool()) {
        if (key.is_string() && object.is_list()) return Value::undefined(fmt::format("list has no attribute {}", to_repr(key)));
        raise<TemplateError>("{} indices must be integers, not {}", object.type_name(), key.type_name());
      }
      const int64_t n = length_of(object);
      int64_t i = key.as_int();
      if (i < 0) i += n;
      if (i < 0 || i >= n) return Value::undefined(fmt::format("{} index {} out of range", object.type_name(), key.as_int()));
      if (object.is_list()) return object.as_list()[static_cast<size_t>(i)];
      const auto units = split_code_points(object.as_string());
      return Value::string(std::string(units[static_cast<size_t>(i)]));
    }
    default: return Value::undefined(fmt::format("'{} object' has no item {}", object.type_name(), to_repr(key)));
  }
}

Value get_slice(const Value& object, const Value& start_v, const Value& stop_v, const Value& step_v) {
  if (object.is_undefined()) raise<TemplateError>("{} is undefined (slicing)", object.undefined_description());
  if (!object.is_list() && !object.is_string()) raise<TemplateError>("'{}' object is not subscriptable", object.type_name());
  const auto bound = [](const Value& v, const char* what) -> std::optional<int64_t> {
    if (v.is_undefined() || v.is_none()) return std::nullopt;
    if (!v.is_int() && !v.is_bool()) raise<TemplateError>("slice {} must be an integer, not {}", what, v.type_name());
    return v.as_int();
  };
  const int64_t step = bound(step_v, "step").value_or(1);
  if (step == 0) raise<TemplateError>("slice step cannot be zero");
  std::vector<std::string_view> units;
  if (object.is_string()) units = split_code_points(object.as_string());
  const int64_t n = object.is_list() ? static_cast<int64_t>(object.as_list().size()) : static_cast<int64_t>(units.size());
  // Python's slice.indices().
  const auto clamp_index = [&](std::optional<int64_t> v, int64_t fallback) {
    if (!v) return fallback;
    int64_t i = *v;
    if (i < 0) i += n;
    if (step > 0) return std::clamp<int64_t>(i, 0, n);
    return std::clamp<int64_t>(i, -1, n - 1);
  };
  const int64_t start = clamp_index(bound(start_v, "start"), step > 0 ? 0 : n - 1);
  const int64_t stop = clamp_index(bound(stop_v, "stop"), step > 0 ? n : -1);
  if (object.is_list()) {
    ValueList out;
    for (int64_t i = start; step > 0 ? i < stop : i > stop; i += step) out.push_back(object.as_list()[static_cast<size_t>(i)]);
    return Value::list(std::move(out));
  }
  std::string out;
  for (int64_t i = start; step > 0 ? i < stop : i > stop; i += step) out += units[static_cast<size_t>(i)];
  return Value::string(std::move(out));
}

}  // namespace tessera::chat
