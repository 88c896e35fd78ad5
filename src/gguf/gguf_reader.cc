// GGUF reader. Layout (little-endian): "GGUF", u32 version, u64 tensor count,
// u64 metadata count, metadata (key string, u32 value type, value), tensor
// infos (name, u32 n_dims, u64 dims[n_dims], u32 type, u64 offset), padding to
// general.alignment, then the data section. Every read goes through Cursor,
// which checks it against the end of the mapping first.
#include <cstring>
#include <limits>

#include "core/error.h"
#include "gguf/gguf_file.h"

namespace tessera {

namespace {

constexpr uint32_t kMagic = 0x46554747;  // "GGUF" read as little-endian u32
constexpr int kMaxArrayDepth = 8;
constexpr uint64_t kMaxDims = 4;

class Cursor {
 public:
  Cursor(const std::string& path, const uint8_t* data, size_t size)
      : path_(path), data_(data), size_(size) {}

  size_t offset() const { return pos_; }
  size_t remaining() const { return size_ - pos_; }

  template <typename T>
  T read(const char* what) {
    need(sizeof(T), what);
    T v;
    std::memcpy(&v, data_ + pos_, sizeof(T));
    pos_ += sizeof(T);
    return v;
  }

  std::string read_string(const std::string& what) {
    const size_t at = pos_;
    const uint64_t len = read<uint64_t>(what.c_str());
    if (len > remaining()) {
      raise<FormatError>("{}: {} at byte {}: string length {} runs past the end of the file "
                         "({} bytes left)",
                         path_, what, at, len, remaining());
    }
    std::string s(reinterpret_cast<const char*>(data_ + pos_), static_cast<size_t>(len));
    pos_ += static_cast<size_t>(len);
    return s;
  }

  void need(size_t n, const std::string& what) const {
    if (n > remaining()) {
      raise<FormatError>("{}: truncated file: {} at byte {} needs {} bytes, {} left", path_, what,
                         pos_, n, remaining());
    }
  }

  const std::string& path() const { return path_; }

 private:
  const std::string& path_;
  const uint8_t* data_;
  size_t size_;
  size_t pos_ = 0;
};

// Smallest encoding of one value of a type: bounds element counts by what the
// rest of the file could hold, so a hostile count cannot trigger a huge allocation.
size_t min_encoded_size(GgufValueType t) {
  switch (t) {
    case GgufValueType::UINT8: case GgufValueType::INT8: case GgufValueType::BOOL: return 1;
    case GgufValueType::UINT16: case GgufValueType::INT16: return 2;
    case GgufValueType::UINT32: case GgufValueType::INT32: case GgufValueType::FLOAT32: return 4;
    case GgufValueType::UINT64: case GgufValueType::INT64: case GgufValueType::FLOAT64: return 8;
    case GgufValueType::STRING: return 8;
    case GgufValueType::ARRAY: return 12;
  }
  return 1;
}

bool valid_value_type(uint32_t t) { return t <= static_cast<uint32_t>(GgufValueType::FLOAT64); }

GgufValue read_value(Cursor& c, GgufValueType type, const std::string& key, int depth) {
  GgufValue v;
  v.type = type;
  switch (type) {
    case GgufValueType::UINT8: v.value = uint64_t{c.read<uint8_t>(key.c_str())}; break;
    case GgufValueType::INT8: v.value = int64_t{c.read<int8_t>(key.c_str())}; break;
    case GgufValueType::UINT16: v.value = uint64_t{c.read<uint16_t>(key.c_str())}; break;
    case GgufValueType::INT16: v.value = int64_t{c.read<int16_t>(key.c_str())}; break;
    case GgufValueType::UINT32: v.value = uint64_t{c.read<uint32_t>(key.c_str())}; break;
    case GgufValueType::INT32: v.value = int64_t{c.read<int32_t>(key.c_str())}; break;
    case GgufValueType::UINT64: v.value = c.read<uint64_t>(key.c_str()); break;
    case GgufValueType::INT64: v.value = c.read<int64_t>(key.c_str()); break;
    case GgufValueType::FLOAT32: v.value = double{c.read<float>(key.c_str())}; break;
    case GgufValueType::FLOAT64: v.value = c.read<double>(key.c_str()); break;
    case GgufValueType::BOOL: {
      const uint8_t b = c.read<uint8_t>(key.c_str());
      if (b > 1) raise<FormatError>("{}: key '{}': bool value {} is not 0 or 1", c.path(), key, b);
      v.value = b != 0;
      break;
    }
    case GgufValueType::STRING: v.value = c.read_string("value of key '" + key + "'"); break;
    case GgufValueType::ARRAY: {
      if (depth >= kMaxArrayDepth) {
        raise<FormatError>("{}: key '{}': arrays nested deeper than {}", c.path(), key, kMaxArrayDepth);
      }
      const uint32_t raw_elem = c.read<uint32_t>(key.c_str());
      if (!valid_value_type(raw_elem)) {
        raise<FormatError>("{}: key '{}': unknown array element type {}", c.path(), key, raw_elem);
      }
      const auto elem = static_cast<GgufValueType>(raw_elem);
      const size_t at = c.offset();
      const uint64_t count = c.read<uint64_t>(key.c_str());
      if (count > c.remaining() / min_encoded_size(elem)) {
        raise<FormatError>("{}: key '{}' at byte {}: array count {} of {} runs past the end of "
                           "the file",
                           c.path(), key, at, count, value_type_name(elem));
      }
      auto array = std::make_shared<GgufArray>();
      array->element_type = elem;
      array->items.reserve(static_cast<size_t>(count));
      for (uint64_t i = 0; i < count; ++i) array->items.push_back(read_value(c, elem, key, depth + 1));
      v.value = std::move(array);
      break;
    }
  }
  return v;
}

bool mul_overflows(uint64_t a, uint64_t b, uint64_t* out) { return __builtin_mul_overflow(a, b, out); }

}  // namespace

GgufFile::GgufFile(const std::string& path) : map_(path) {
  const std::string& p = map_.path();
  Cursor c(p, map_.data(), map_.size());
  if (map_.size() < 4) raise<FormatError>("{}: not a GGUF file: only {} bytes, no magic", p, map_.size());
  const uint32_t magic = c.read<uint32_t>("magic");
  if (magic != kMagic) {
    raise<FormatError>("{}: not a GGUF file: bad magic 0x{:08x} (expected \"GGUF\")", p, magic);
  }
  version_ = c.read<uint32_t>("version");
  if (version_ != 2 && version_ != 3) {
    raise<FormatError>("{}: unsupported GGUF version {} (supported: 2, 3)", p, version_);
  }
  const uint64_t n_tensors = c.read<uint64_t>("tensor count");
  const uint64_t n_kv = c.read<uint64_t>("metadata count");
  // A key-value pair takes at least 13 bytes, a tensor info at least 32.
  if (n_kv > c.remaining() / 13) {
    raise<FormatError>("{}: metadata count {} is impossible for a file of {} bytes", p, n_kv, map_.size());
  }
  if (n_tensors > c.remaining() / 32) {
    raise<FormatError>("{}: tensor count {} is impossible for a file of {} bytes", p, n_tensors,
                       map_.size());
  }

  metadata_.reserve(static_cast<size_t>(n_kv));
  for (uint64_t i = 0; i < n_kv; ++i) {
    std::string key = c.read_string(fmt::format("metadata key #{}", i));
    const uint32_t raw_type = c.read<uint32_t>(key.c_str());
    if (!valid_value_type(raw_type)) {
      raise<FormatError>("{}: key '{}' has unknown value type {}", p, key, raw_type);
    }
    GgufValue value = read_value(c, static_cast<GgufValueType>(raw_type), key, 0);
    if (metadata_index_.count(key) != 0) raise<FormatError>("{}: duplicate metadata key '{}'", p, key);
    metadata_index_.emplace(key, metadata_.size());
    metadata_.emplace_back(std::move(key), std::move(value));
  }

  if (const GgufValue* a = find("general.alignment")) {
    uint64_t align = 0;
    try {
      align = a->as_u64("general.alignment");
    } catch (const FormatError& e) {
      raise<FormatError>("{}: {}", p, e.what());
    }
    if (align == 0 || (align & (align - 1)) != 0 || align > (1u << 20)) {
      raise<FormatError>("{}: general.alignment {} is not a power of two up to 1 MiB", p, align);
    }
    alignment_ = static_cast<size_t>(align);
  }

  tensors_.reserve(static_cast<size_t>(n_tensors));
  for (uint64_t i = 0; i < n_tensors; ++i) {
    GgufTensorInfo t;
    t.name = c.read_string(fmt::format("name of tensor #{}", i));
    const uint32_t n_dims = c.read<uint32_t>(t.name.c_str());
    if (n_dims == 0 || n_dims > kMaxDims) {
      raise<FormatError>("{}: tensor '{}' has {} dimensions (1..{} supported)", p, t.name, n_dims, kMaxDims);
    }
    uint64_t n_elements = 1;
    for (uint32_t d = 0; d < n_dims; ++d) {
      const uint64_t dim = c.read<uint64_t>(t.name.c_str());
      if (dim == 0 || dim > (uint64_t{1} << 40) || mul_overflows(n_elements, dim, &n_elements) ||
          n_elements > (uint64_t{1} << 50)) {
        raise<FormatError>("{}: tensor '{}' has an impossible dimension {} (dim {})", p, t.name, dim, d);
      }
      t.shape.push_back(static_cast<int64_t>(dim));
    }
    const uint32_t raw_type = c.read<uint32_t>(t.name.c_str());
    const auto traits = find_type_traits(raw_type);
    if (!traits) {
      raise<FormatError>("{}: tensor '{}' has unknown type {}; supported: {}", p, t.name, raw_type,
                         supported_type_names());
    }
    t.type = traits->type;
    if (t.shape[0] % traits->block_size != 0) {
      raise<FormatError>("{}: tensor '{}' of type {}: row length {} is not a multiple of the "
                         "block size {}",
                         p, t.name, traits->name, t.shape[0], traits->block_size);
    }
    t.n_bytes = n_elements / static_cast<uint64_t>(traits->block_size) *
                static_cast<uint64_t>(traits->block_bytes);
    t.offset = c.read<uint64_t>(t.name.c_str());
    if (t.offset % alignment_ != 0) {
      raise<FormatError>("{}: tensor '{}' offset {} is not a multiple of the alignment {}", p,
                         t.name, t.offset, alignment_);
    }
    if (tensor_index_.count(t.name) != 0) raise<FormatError>("{}: duplicate tensor name '{}'", p, t.name);
    tensor_index_.emplace(t.name, tensors_.size());
    tensors_.push_back(std::move(t));
  }

  // The data section starts at the next multiple of the alignment.
  const size_t data_start = (c.offset() + alignment_ - 1) / alignment_ * alignment_;
  if (n_tensors > 0 && data_start > map_.size()) {
    raise<FormatError>("{}: truncated file: the data section would start at byte {} but the file "
                       "has {} bytes",
                       p, data_start, map_.size());
  }
  const uint64_t data_size = map_.size() > data_start ? map_.size() - data_start : 0;
  for (auto& t : tensors_) {
    if (t.offset > data_size || t.n_bytes > data_size - t.offset) {
      raise<FormatError>("{}: tensor '{}' data (offset {}, {} bytes) runs past end of file "
                         "(data section holds {} bytes)",
                         p, t.name, t.offset, t.n_bytes, data_size);
    }
    t.data = map_.data() + data_start + t.offset;
  }
}

const GgufValue* GgufFile::find(std::string_view key) const {
  const auto it = metadata_index_.find(key);
  return it == metadata_index_.end() ? nullptr : &metadata_[it->second].second;
}

namespace {

template <typename F>
auto with_path(const std::string& path, F&& f) -> decltype(f()) {
  try {
    return f();
  } catch (const FormatError& e) {
    raise<FormatError>("{}: {}", path, e.what());
  }
}

}  // namespace

#define TESSERA_GGUF_GETTER(NAME, TYPE, CONVERT)                                         \
  TYPE GgufFile::NAME(std::string_view key) const {                                      \
    const GgufValue* v = find(key);                                                      \
    if (v == nullptr) raise<FormatError>("{}: required key '{}' is missing", path(), key); \
    return with_path(path(), [&] { return TYPE(v->CONVERT(key)); });                     \
  }                                                                                      \
  std::optional<TYPE> GgufFile::NAME##_opt(std::string_view key) const {                 \
    const GgufValue* v = find(key);                                                      \
    if (v == nullptr) return std::nullopt;                                               \
    return with_path(path(), [&] { return TYPE(v->CONVERT(key)); });                     \
  }

TESSERA_GGUF_GETTER(get_u64, uint64_t, as_u64)
TESSERA_GGUF_GETTER(get_i64, int64_t, as_i64)
TESSERA_GGUF_GETTER(get_f64, double, as_f64)
TESSERA_GGUF_GETTER(get_bool, bool, as_bool)
TESSERA_GGUF_GETTER(get_string, std::string, as_string)
#undef TESSERA_GGUF_GETTER

namespace {

const GgufArray& required_array(const GgufFile& f, std::string_view key) {
  const GgufValue* v = f.find(key);
  if (v == nullptr) raise<FormatError>("{}: required key '{}' is missing", f.path(), key);
  return with_path(f.path(), [&]() -> const GgufArray& { return v->as_array(key); });
}

}  // namespace

std::vector<std::string> GgufFile::get_string_array(std::string_view key) const {
  const GgufArray& a = required_array(*this, key);
  std::vector<std::string> out;
  out.reserve(a.items.size());
  with_path(path(), [&] {
    for (const auto& item : a.items) out.push_back(item.as_string(key));
    return 0;
  });
  return out;
}

std::vector<float> GgufFile::get_f32_array(std::string_view key) const {
  const GgufArray& a = required_array(*this, key);
  std::vector<float> out;
  out.reserve(a.items.size());
  with_path(path(), [&] {
    for (const auto& item : a.items) out.push_back(static_cast<float>(item.as_f64(key)));
    return 0;
  });
  return out;
}

std::vector<int64_t> GgufFile::get_int_array(std::string_view key) const {
  const GgufArray& a = required_array(*this, key);
  std::vector<int64_t> out;
  out.reserve(a.items.size());
  with_path(path(), [&] {
    for (const auto& item : a.items) out.push_back(item.as_i64(key));
    return 0;
  });
  return out;
}

const GgufTensorInfo* GgufFile::find_tensor(std::string_view name) const {
  const auto it = tensor_index_.find(name);
  return it == tensor_index_.end() ? nullptr : &tensors_[it->second];
}

const GgufTensorInfo& GgufFile::tensor(std::string_view name) const {
  const GgufTensorInfo* t = find_tensor(name);
  if (t == nullptr) raise<FormatError>("{}: required tensor '{}' is missing", path(), name);
  return *t;
}

}  // namespace tessera
