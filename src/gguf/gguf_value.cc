#include <fmt/format.h>

#include <cmath>
#include <limits>

#include "core/error.h"
#include "gguf/gguf_file.h"

namespace tessera {

const char* value_type_name(GgufValueType type) {
  switch (type) {
    case GgufValueType::UINT8: return "uint8";
    case GgufValueType::INT8: return "int8";
    case GgufValueType::UINT16: return "uint16";
    case GgufValueType::INT16: return "int16";
    case GgufValueType::UINT32: return "uint32";
    case GgufValueType::INT32: return "int32";
    case GgufValueType::FLOAT32: return "float32";
    case GgufValueType::BOOL: return "bool";
    case GgufValueType::STRING: return "string";
    case GgufValueType::ARRAY: return "array";
    case GgufValueType::UINT64: return "uint64";
    case GgufValueType::INT64: return "int64";
    case GgufValueType::FLOAT64: return "float64";
  }
  return "unknown";
}

namespace {

[[noreturn]] void type_error(std::string_view key, const GgufValue& v, const char* wanted) {
  raise<FormatError>("key '{}' holds a {}, expected {}", key, value_type_name(v.type), wanted);
}

}  // namespace

uint64_t GgufValue::as_u64(std::string_view key) const {
  if (const auto* u = std::get_if<uint64_t>(&value)) return *u;
  if (const auto* i = std::get_if<int64_t>(&value)) {
    if (*i < 0) raise<FormatError>("key '{}' is negative ({}), expected a non-negative integer", key, *i);
    return static_cast<uint64_t>(*i);
  }
  type_error(key, *this, "an integer");
}

int64_t GgufValue::as_i64(std::string_view key) const {
  if (const auto* i = std::get_if<int64_t>(&value)) return *i;
  if (const auto* u = std::get_if<uint64_t>(&value)) {
    if (*u > static_cast<uint64_t>(std::numeric_limits<int64_t>::max())) {
      raise<FormatError>("key '{}' = {} is too large", key, *u);
    }
    return static_cast<int64_t>(*u);
  }
  type_error(key, *this, "an integer");
}

double GgufValue::as_f64(std::string_view key) const {
  if (const auto* d = std::get_if<double>(&value)) return *d;
  if (const auto* i = std::get_if<int64_t>(&value)) return static_cast<double>(*i);
  if (const auto* u = std::get_if<uint64_t>(&value)) return static_cast<double>(*u);
  type_error(key, *this, "a number");
}

bool GgufValue::as_bool(std::string_view key) const {
  if (const auto* b = std::get_if<bool>(&value)) return *b;
  type_error(key, *this, "a bool");
}

const std::string& GgufValue::as_string(std::string_view key) const {
  if (const auto* s = std::get_if<std::string>(&value)) return *s;
  type_error(key, *this, "a string");
}

const GgufArray& GgufValue::as_array(std::string_view key) const {
  if (const auto* a = std::get_if<std::shared_ptr<GgufArray>>(&value)) return **a;
  type_error(key, *this, "an array");
}

std::string GgufValue::to_display_string(size_t max_array_items) const {
  struct Visitor {
    size_t max_items;
    std::string operator()(uint64_t v) const { return std::to_string(v); }
    std::string operator()(int64_t v) const { return std::to_string(v); }
    std::string operator()(double v) const { return fmt::format("{}", v); }
    std::string operator()(bool v) const { return v ? "true" : "false"; }
    std::string operator()(const std::string& v) const {
      std::string s = v.size() > 200 ? v.substr(0, 200) + "..." : v;
      return "\"" + s + "\"";
    }
    std::string operator()(const std::shared_ptr<GgufArray>& a) const {
      std::string s = fmt::format("[{} x {}: ", a->items.size(), value_type_name(a->element_type));
      for (size_t i = 0; i < a->items.size() && i < max_items; ++i) {
        s += (i ? ", " : "") + a->items[i].to_display_string(max_items);
      }
      if (a->items.size() > max_items) s += ", ...";
      return s + "]";
    }
  };
  return std::visit(Visitor{max_array_items}, value);
}

int64_t GgufTensorInfo::n_elements() const {
  int64_t n = 1;
  for (int64_t d : shape) n *= d;
  return n;
}

}  // namespace tessera
