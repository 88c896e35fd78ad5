#include <fmt/format.h>

#include "core/error.h"
#include "quant/quant_method.h"

namespace tessera {

namespace {

struct Entry {
  const char* name;
  std::unique_ptr<QuantMethod> (*make)();
};

// One line per method.
constexpr Entry kMethods[] = {
    {"none", make_method_none},
    {"rtn", make_method_rtn},
    {"mse", make_method_mse},
    {"gptq", make_method_gptq},
    {"dabc", make_method_dabc},
    {"mdqfo", make_method_mdqfo},
    {"awq", make_method_awq},
};

}  // namespace

std::unique_ptr<QuantMethod> make_quant_method(std::string_view name) {
  for (const Entry& e : kMethods) {
    if (name == e.name) return e.make();
  }
  raise<InvalidArgument>("unknown quantization method '{}' (known: {})", name,
                         fmt::join(quant_method_names(), ", "));
}

std::vector<std::string> quant_method_names() {
  std::vector<std::string> names;
  for (const Entry& e : kMethods) names.emplace_back(e.name);
  return names;
}

}  // namespace tessera
