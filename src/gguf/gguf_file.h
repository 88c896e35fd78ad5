// GGUF reader over an mmap. Every count, length, offset and size is checked
// against the file before it is used, so a malformed or hostile file produces a
// FormatError naming the file, the field and the problem — never an
// out-of-bounds read, a crash or a huge allocation.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "core/mmap_file.h"
#include "gguf/ggml_type.h"

namespace tessera {

// GGUF metadata value types (file-format numbers).
enum class GgufValueType : uint32_t {
  UINT8 = 0, INT8 = 1, UINT16 = 2, INT16 = 3, UINT32 = 4, INT32 = 5, FLOAT32 = 6,
  BOOL = 7, STRING = 8, ARRAY = 9, UINT64 = 10, INT64 = 11, FLOAT64 = 12,
};
const char* value_type_name(GgufValueType type);

struct GgufArray;

// One metadata value. Arrays hold their element type and elements; nested arrays
// are allowed by the format and supported.
struct GgufValue {
  GgufValueType type = GgufValueType::UINT8;
  std::variant<uint64_t, int64_t, double, bool, std::string, std::shared_ptr<GgufArray>> value;

  // Conversions; each throws FormatError (naming `key`) when the stored type
  // cannot represent the request (e.g. a string read as an integer, a negative
  // value read as unsigned, or a value out of range of the target).
  uint64_t as_u64(std::string_view key) const;
  int64_t as_i64(std::string_view key) const;
  double as_f64(std::string_view key) const;
  bool as_bool(std::string_view key) const;
  const std::string& as_string(std::string_view key) const;
  const GgufArray& as_array(std::string_view key) const;
  std::string to_display_string(size_t max_array_items = 8) const;
};

struct GgufArray {
  GgufValueType element_type = GgufValueType::UINT8;
  std::vector<GgufValue> items;
};

struct GgufTensorInfo {
  std::string name;
  std::vector<int64_t> shape;  // ne[0] is the contiguous (fastest) dimension
  GgmlType type = GgmlType::F32;
  uint64_t offset = 0;         // relative to the start of the data section
  uint64_t n_bytes = 0;
  const uint8_t* data = nullptr;  // into the mapping; valid while the GgufFile lives

  int64_t n_elements() const;
};

class GgufFile {
 public:
  // Maps and validates the whole header. Throws FormatError.
  explicit GgufFile(const std::string& path);

  const std::string& path() const { return map_.path(); }
  uint32_t version() const { return version_; }
  size_t alignment() const { return alignment_; }
  size_t file_size() const { return map_.size(); }

  // Metadata in file order.
  const std::vector<std::pair<std::string, GgufValue>>& metadata() const { return metadata_; }
  const GgufValue* find(std::string_view key) const;
  bool has(std::string_view key) const { return find(key) != nullptr; }

  // Required getters throw FormatError "<path>: required key '<key>' is missing"
  // or a type error; optional getters return nullopt when the key is absent.
  uint64_t get_u64(std::string_view key) const;
  int64_t get_i64(std::string_view key) const;
  double get_f64(std::string_view key) const;
  bool get_bool(std::string_view key) const;
  std::string get_string(std::string_view key) const;
  std::optional<uint64_t> get_u64_opt(std::string_view key) const;
  std::optional<int64_t> get_i64_opt(std::string_view key) const;
  std::optional<double> get_f64_opt(std::string_view key) const;
  std::optional<bool> get_bool_opt(std::string_view key) const;
  std::optional<std::string> get_string_opt(std::string_view key) const;
  // Typed array accessors (throw when the key is missing or the elements have
  // another type; integer arrays accept any integer element type).
  std::vector<std::string> get_string_array(std::string_view key) const;
  std::vector<float> get_f32_array(std::string_view key) const;
  std::vector<int64_t> get_int_array(std::string_view key) const;

  const std::vector<GgufTensorInfo>& tensors() const { return tensors_; }
  const GgufTensorInfo* find_tensor(std::string_view name) const;
  // Throws FormatError "<path>: required tensor '<name>' is missing".
  const GgufTensorInfo& tensor(std::string_view name) const;

 private:
  MappedFile map_;
  uint32_t version_ = 0;
  size_t alignment_ = 32;
  std::vector<std::pair<std::string, GgufValue>> metadata_;
  std::map<std::string, size_t, std::less<>> metadata_index_;
  std::vector<GgufTensorInfo> tensors_;
  std::map<std::string, size_t, std::less<>> tensor_index_;
};

// GGUF v3 writer: metadata and tensors in memory, written in one pass.
class GgufWriter {
 public:
  explicit GgufWriter(size_t alignment = 32) : alignment_(alignment) {}
  void set(const std::string& key, GgufValue value);  // replaces an existing key
  void set_u32(const std::string& key, uint32_t v);
  void set_i32(const std::string& key, int32_t v);
  void set_u64(const std::string& key, uint64_t v);
  void set_f32(const std::string& key, float v);
  void set_bool(const std::string& key, bool v);
  void set_string(const std::string& key, const std::string& v);
  void set_string_array(const std::string& key, const std::vector<std::string>& v);
  void set_f32_array(const std::string& key, const std::vector<float>& v);
  void set_i32_array(const std::string& key, const std::vector<int32_t>& v);
  // Copies every metadata key of `src` (the quantizer keeps the model's keys).
  void copy_metadata(const GgufFile& src);
  // `data` must hold row_bytes(type, shape[0]) * rows bytes; it is copied.
  void add_tensor(const std::string& name, const std::vector<int64_t>& shape, GgmlType type,
                  const void* data, size_t n_bytes);
  // Writes atomically (temp file + rename). Throws Error on I/O failure.
  void write(const std::string& path) const;

 private:
  struct PendingTensor {
    std::string name;
    std::vector<int64_t> shape;
    GgmlType type;
    std::vector<uint8_t> data;
  };
  size_t alignment_;
  std::vector<std::pair<std::string, GgufValue>> metadata_;
  std::vector<PendingTensor> tensors_;
};

}  // namespace tessera
