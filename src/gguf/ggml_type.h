// Tensor element types as numbered in GGUF (ggml's enum ggml_type). The numbers
// are part of the file format.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace tessera {

enum class GgmlType : uint32_t {
  F32 = 0,
  F16 = 1,
  Q4_0 = 2,
  Q4_1 = 3,
  Q5_0 = 6,
  Q5_1 = 7,
  Q8_0 = 8,
  Q8_1 = 9,
  Q2_K = 10,
  Q3_K = 11,
  Q4_K = 12,
  Q5_K = 13,
  Q6_K = 14,
  Q8_K = 15,
  BF16 = 30,
};

struct TypeTraits {
  GgmlType type;
  const char* name;     // "Q4_K", as llama.cpp prints it
  int64_t block_size;   // elements per block
  int64_t block_bytes;  // bytes per block
  bool weight_type;     // may appear as a weight tensor in a model file
};

// Traits of a type number read from a file, or nullopt when tessera does not
// know it (the caller reports the tensor and lists supported_type_names()).
std::optional<TypeTraits> find_type_traits(uint32_t raw_type);
// Traits of a known type; never fails.
const TypeTraits& type_traits(GgmlType type);
const char* type_name(GgmlType type);
std::optional<GgmlType> type_from_name(std::string_view name);  // case-insensitive
// "F32, F16, BF16, Q4_0, ..." — the weight types tessera can load.
std::string supported_type_names();

// Bytes of one row of n elements; n must be a multiple of the block size.
inline int64_t row_bytes(GgmlType type, int64_t n) {
  const TypeTraits& t = type_traits(type);
  return n / t.block_size * t.block_bytes;
}

}  // namespace tessera
