// The template language's library: filters (`x | trim`), tests (`x is string`),
// methods of str/dict (`s.strip()`, `d.items()`), global functions (range,
// namespace, dict, raise_exception, strftime_now) and attribute/item lookup,
// each with Python/Jinja2 semantics. Unknown names and wrong argument types
// raise TemplateError.
#pragma once

#include <string>
#include <string_view>

#include "chat/value.h"

namespace tessera::chat {

Value apply_filter(const std::string& name, const Value& subject, CallArgs& args);
bool apply_test(const std::string& name, const Value& subject, CallArgs& args);

// True when `object.name(...)` is a built-in method call (str and dict methods).
bool has_method(const Value& object, std::string_view name);
Value call_method(const Value& object, const std::string& name, CallArgs& args);

// range, namespace, dict, raise_exception, strftime_now; Undefined otherwise.
Value global_function(const std::string& name);

// Jinja's `obj.name` and `obj[key]`: a missing attribute or key, or an index
// out of range, gives Undefined; looking into Undefined raises TemplateError.
Value get_attribute(const Value& object, const std::string& name);
Value get_item(const Value& object, const Value& key);
// obj[start:stop:step] on lists and strings (Python slice semantics).
Value get_slice(const Value& object, const Value& start, const Value& stop, const Value& step);

// The items a for loop (or a filter) iterates: list items, dict keys, string
// code points; Undefined iterates as empty.
ValueList iterate(const Value& value);

// Python's `len`.
int64_t length_of(const Value& value);

}  // namespace tessera::chat
