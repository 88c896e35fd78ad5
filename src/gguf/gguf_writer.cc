#include <cstdio>
#include <cstring>
#include <filesystem>
#include <string>

#include <unistd.h>

#include "core/error.h"
#include "gguf/gguf_file.h"

namespace tessera {

namespace {

class Output {
 public:
  explicit Output(const std::string& path) : path_(path), f_(std::fopen(path.c_str(), "wb")) {
    if (f_ == nullptr) raise("{}: cannot open for writing", path);
  }
  ~Output() {
    if (f_ != nullptr) std::fclose(f_);
  }
  void bytes(const void* p, size_t n) {
    if (n != 0 && std::fwrite(p, 1, n, f_) != n) raise("{}: write failed", path_);
    written_ += n;
  }
  template <typename T>
  void pod(T v) { bytes(&v, sizeof(T)); }
  void string(const std::string& s) {
    pod<uint64_t>(s.size());
    bytes(s.data(), s.size());
  }
  void pad_to(size_t alignment) {
    static const uint8_t zeros[64] = {};
    while (written_ % alignment != 0) {
      const size_t n = std::min<size_t>(sizeof(zeros), alignment - written_ % alignment);
      bytes(zeros, n);
    }
  }
  void close() {
    if (std::fclose(f_) != 0) {
      f_ = nullptr;
      raise("{}: write failed", path_);
    }
    f_ = nullptr;
  }

 private:
  std::string path_;
  std::FILE* f_;
  size_t written_ = 0;
};

void write_value(Output& out, const GgufValue& v) {
  switch (v.type) {
    case GgufValueType::UINT8: out.pod<uint8_t>(static_cast<uint8_t>(std::get<uint64_t>(v.value))); break;
    case GgufValueType::INT8: out.pod<int8_t>(static_cast<int8_t>(std::get<int64_t>(v.value))); break;
    case GgufValueType::UINT16: out.pod<uint16_t>(static_cast<uint16_t>(std::get<uint64_t>(v.value))); break;
    case GgufValueType::INT16: out.pod<int16_t>(static_cast<int16_t>(std::get<int64_t>(v.value))); break;
    case GgufValueType::UINT32: out.pod<uint32_t>(static_cast<uint32_t>(std::get<uint64_t>(v.value))); break;
    case GgufValueType::INT32: out.pod<int32_t>(static_cast<int32_t>(std::get<int64_t>(v.value))); break;
    case GgufValueType::UINT64: out.pod<uint64_t>(std::get<uint64_t>(v.value)); break;
    case GgufValueType::INT64: out.pod<int64_t>(std::get<int64_t>(v.value)); break;
    case GgufValueType::FLOAT32: out.pod<float>(static_cast<float>(std::get<double>(v.value))); break;
    case GgufValueType::FLOAT64: out.pod<double>(std::get<double>(v.value)); break;
    case GgufValueType::BOOL: out.pod<uint8_t>(std::get<bool>(v.value) ? 1 : 0); break;
    case GgufValueType::STRING: out.string(std::get<std::string>(v.value)); break;
    case GgufValueType::ARRAY: {
      const auto& a = *std::get<std::shared_ptr<GgufArray>>(v.value);
      out.pod<uint32_t>(static_cast<uint32_t>(a.element_type));
      out.pod<uint64_t>(a.items.size());
      for (const auto& item : a.items) write_value(out, item);
      break;
    }
  }
}

GgufValue make(GgufValueType t, decltype(GgufValue::value) v) {
  GgufValue g;
  g.type = t;
  g.value = std::move(v);
  return g;
}

template <typename T, typename F>
GgufValue make_array(GgufValueType elem, const std::vector<T>& items, F&& convert) {
  auto a = std::make_shared<GgufArray>();
  a->element_type = elem;
  a->items.reserve(items.size());
  for (const auto& x : items) a->items.push_back(make(elem, convert(x)));
  return make(GgufValueType::ARRAY, std::move(a));
}

}  // namespace

void GgufWriter::set(const std::string& key, GgufValue value) {
  for (auto& kv : metadata_) {
    if (kv.first == key) {
      kv.second = std::move(value);
      return;
    }
  }
  metadata_.emplace_back(key, std::move(value));
}

void GgufWriter::set_u32(const std::string& k, uint32_t v) { set(k, make(GgufValueType::UINT32, uint64_t{v})); }
void GgufWriter::set_i32(const std::string& k, int32_t v) { set(k, make(GgufValueType::INT32, int64_t{v})); }
void GgufWriter::set_u64(const std::string& k, uint64_t v) { set(k, make(GgufValueType::UINT64, v)); }
void GgufWriter::set_f32(const std::string& k, float v) { set(k, make(GgufValueType::FLOAT32, double{v})); }
void GgufWriter::set_bool(const std::string& k, bool v) { set(k, make(GgufValueType::BOOL, v)); }
void GgufWriter::set_string(const std::string& k, const std::string& v) {
  set(k, make(GgufValueType::STRING, v));
}
void GgufWriter::set_string_array(const std::string& k, const std::vector<std::string>& v) {
  set(k, make_array(GgufValueType::STRING, v, [](const std::string& s) { return s; }));
}
void GgufWriter::set_f32_array(const std::string& k, const std::vector<float>& v) {
  set(k, make_array(GgufValueType::FLOAT32, v, [](float x) { return double{x}; }));
}
void GgufWriter::set_i32_array(const std::string& k, const std::vector<int32_t>& v) {
  set(k, make_array(GgufValueType::INT32, v, [](int32_t x) { return int64_t{x}; }));
}

void GgufWriter::copy_metadata(const GgufFile& src) {
  for (const auto& [key, value] : src.metadata()) set(key, value);
}

void GgufWriter::add_tensor(const std::string& name, const std::vector<int64_t>& shape,
                            GgmlType type, const void* data, size_t n_bytes) {
  if (shape.empty() || shape.size() > 4) raise<InvalidArgument>("tensor '{}': 1 to 4 dimensions", name);
  int64_t n = 1;
  for (int64_t d : shape) {
    if (d <= 0) raise<InvalidArgument>("tensor '{}': dimensions must be positive", name);
    n *= d;
  }
  const TypeTraits& t = type_traits(type);
  if (shape[0] % t.block_size != 0) {
    raise<InvalidArgument>("tensor '{}': row length {} is not a multiple of {}'s block size {}",
                           name, shape[0], t.name, t.block_size);
  }
  const size_t expected = static_cast<size_t>(n / t.block_size * t.block_bytes);
  if (n_bytes != expected) {
    raise<InvalidArgument>("tensor '{}': {} bytes given, {} expected for {} {}", name, n_bytes,
                           expected, n, t.name);
  }
  for (const auto& p : tensors_) {
    if (p.name == name) raise<InvalidArgument>("duplicate tensor name '{}'", name);
  }
  const auto* bytes = static_cast<const uint8_t*>(data);
  tensors_.push_back({name, shape, type, std::vector<uint8_t>(bytes, bytes + n_bytes)});
}

void GgufWriter::write(const std::string& path) const {
  // The temporary name carries the process id so that two processes writing the
  // same path never share a half-written file; the last rename wins whole.
  const std::string tmp = path + ".tmp." + std::to_string(::getpid());
  // On any failure the temporary file is removed: no half-written output is left behind.
  try {
    Output out(tmp);
    out.pod<uint32_t>(0x46554747);
    out.pod<uint32_t>(3);
    out.pod<uint64_t>(tensors_.size());
    // general.alignment is written when it differs from the default of 32.
    const bool write_alignment = alignment_ != 32;
    out.pod<uint64_t>(metadata_.size() + (write_alignment ? 1 : 0));
    for (const auto& [key, value] : metadata_) {
      if (key == "general.alignment") raise<InvalidArgument>("set the alignment in the constructor");
      out.string(key);
      out.pod<uint32_t>(static_cast<uint32_t>(value.type));
      write_value(out, value);
    }
    if (write_alignment) {
      out.string("general.alignment");
      out.pod<uint32_t>(static_cast<uint32_t>(GgufValueType::UINT32));
      out.pod<uint32_t>(static_cast<uint32_t>(alignment_));
    }
    uint64_t offset = 0;
    for (const auto& t : tensors_) {
      out.string(t.name);
      out.pod<uint32_t>(static_cast<uint32_t>(t.shape.size()));
      for (int64_t d : t.shape) out.pod<uint64_t>(static_cast<uint64_t>(d));
      out.pod<uint32_t>(static_cast<uint32_t>(t.type));
      out.pod<uint64_t>(offset);
      offset += (t.data.size() + alignment_ - 1) / alignment_ * alignment_;
    }
    out.pad_to(alignment_);
    for (const auto& t : tensors_) {
      out.bytes(t.data.data(), t.data.size());
      out.pad_to(alignment_);
    }
    out.close();
    std::error_code ec;
    std::filesystem::rename(tmp, path, ec);
    if (ec) raise("{}: cannot rename {} into place: {}", path, tmp, ec.message());
  } catch (...) {
    std::error_code ignored;
    std::filesystem::remove(tmp, ignored);
    throw;
  }
}

}  // namespace tessera
