#include "gguf/ggml_type.h"

#include <algorithm>
#include <array>
#include <cctype>

namespace tessera {

namespace {

// Block sizes and bytes per block are part of the GGUF format (ggml's type
// traits): e.g. Q4_0 packs 32 weights as one fp16 scale + 16 bytes of nibbles.
constexpr std::array<TypeTraits, 15> kTypes = {{
    {GgmlType::F32, "F32", 1, 4, true},
    {GgmlType::F16, "F16", 1, 2, true},
    {GgmlType::BF16, "BF16", 1, 2, true},
    {GgmlType::Q4_0, "Q4_0", 32, 18, true},
    {GgmlType::Q4_1, "Q4_1", 32, 20, true},
    {GgmlType::Q5_0, "Q5_0", 32, 22, true},
    {GgmlType::Q5_1, "Q5_1", 32, 24, true},
    {GgmlType::Q8_0, "Q8_0", 32, 34, true},
    {GgmlType::Q8_1, "Q8_1", 32, 36, false},
    {GgmlType::Q2_K, "Q2_K", 256, 84, true},
    {GgmlType::Q3_K, "Q3_K", 256, 110, true},
    {GgmlType::Q4_K, "Q4_K", 256, 144, true},
    {GgmlType::Q5_K, "Q5_K", 256, 176, true},
    {GgmlType::Q6_K, "Q6_K", 256, 210, true},
    {GgmlType::Q8_K, "Q8_K", 256, 292, false},
}};

}  // namespace

std::optional<TypeTraits> find_type_traits(uint32_t raw_type) {
  for (const auto& t : kTypes) {
    if (static_cast<uint32_t>(t.type) == raw_type) return t;
  }
  return std::nullopt;
}

const TypeTraits& type_traits(GgmlType type) {
  for (const auto& t : kTypes) {
    if (t.type == type) return t;
  }
  return kTypes[0];  // unreachable for valid enum values
}

const char* type_name(GgmlType type) { return type_traits(type).name; }

std::optional<GgmlType> type_from_name(std::string_view name) {
  for (const auto& t : kTypes) {
    const std::string_view n = t.name;
    if (n.size() == name.size() &&
        std::equal(n.begin(), n.end(), name.begin(), [](char a, char b) {
          return std::toupper(static_cast<unsigned char>(a)) ==
                 std::toupper(static_cast<unsigned char>(b));
        })) {
      return t.type;
    }
  }
  return std::nullopt;
}

std::string supported_type_names() {
  std::string out;
  for (const auto& t : kTypes) {
    if (!t.weight_type) continue;
    if (!out.empty()) out += ", ";
    out += t.name;
  }
  return out;
}

}  // namespace tessera
