#include <gtest/gtest.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "../temp_file.h"
#include "core/error.h"
#include "gguf/gguf_file.h"

namespace tessera {
namespace {

std::vector<uint8_t> read_all(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

void write_all(const std::string& path, const std::vector<uint8_t>& bytes) {
  std::ofstream out(path, std::ios::binary);
  out.write(reinterpret_cast<const char*>(bytes.data()), static_cast<std::streamsize>(bytes.size()));
}

std::string valid_file() {
  GgufWriter w;
  w.set_string("general.architecture", "llama");
  w.set_u32("llama.block_count", 2);
  w.set_f32("llama.rope.freq_base", 10000.0f);
  w.set_bool("flag", true);
  w.set_i32("negative", -5);
  w.set_string_array("tokenizer.ggml.tokens", {"a", "bb", "ccc"});
  w.set_f32_array("scores", {0.5f, -1.0f});
  std::vector<float> data(64);
  for (int i = 0; i < 64; ++i) data[i] = static_cast<float>(i);
  w.add_tensor("weight", {32, 2}, GgmlType::F32, data.data(), data.size() * sizeof(float));
  std::vector<uint8_t> q8(34, 1);
  w.add_tensor("q", {32}, GgmlType::Q8_0, q8.data(), q8.size());
  const std::string path = unique_temp_path("gguf_valid.gguf");
  w.write(path);
  return path;
}

std::string expect_format_error(const std::string& path) {
  try {
    GgufFile f(path);
  } catch (const FormatError& e) {
    return e.what();
  }
  ADD_FAILURE() << "no FormatError for " << path;
  return {};
}

TEST(Gguf, WriterReaderRoundTrip) {
  GgufFile f(valid_file());
  EXPECT_EQ(f.version(), 3u);
  EXPECT_EQ(f.get_string("general.architecture"), "llama");
  EXPECT_EQ(f.get_u64("llama.block_count"), 2u);
  EXPECT_FLOAT_EQ(static_cast<float>(f.get_f64("llama.rope.freq_base")), 10000.0f);
  EXPECT_TRUE(f.get_bool("flag"));
  EXPECT_EQ(f.get_i64("negative"), -5);
  EXPECT_EQ(f.get_string_array("tokenizer.ggml.tokens"), (std::vector<std::string>{"a", "bb", "ccc"}));
  EXPECT_EQ(f.get_f32_array("scores"), (std::vector<float>{0.5f, -1.0f}));
  EXPECT_FALSE(f.get_u64_opt("missing").has_value());
  const GgufTensorInfo& t = f.tensor("weight");
  EXPECT_EQ(t.shape, (std::vector<int64_t>{32, 2}));
  EXPECT_EQ(t.n_bytes, 256u);
  EXPECT_EQ(reinterpret_cast<const float*>(t.data)[63], 63.0f);
  EXPECT_EQ(f.tensor("q").type, GgmlType::Q8_0);
  EXPECT_EQ(reinterpret_cast<uintptr_t>(f.tensor("q").data) % 32, 0u);
}

TEST(Gguf, GetterErrorsNameTheKey) {
  GgufFile f(valid_file());
  try {
    f.get_u64("negative");
    FAIL();
  } catch (const FormatError& e) {
    EXPECT_NE(std::string(e.what()).find("negative"), std::string::npos);
  }
  EXPECT_THROW(f.get_string("llama.block_count"), FormatError);
  try {
    f.get_u64("llama.context_length");
    FAIL();
  } catch (const FormatError& e) {
    EXPECT_NE(std::string(e.what()).find("required key 'llama.context_length' is missing"), std::string::npos);
  }
  EXPECT_THROW(f.tensor("nope"), FormatError);
}

TEST(Gguf, EveryTruncationIsAnErrorNotACrash) {
  const auto bytes = read_all(valid_file());
  const std::string path = unique_temp_path("gguf_truncated.gguf");
  // The file ends with the 34-byte Q8_0 tensor padded to 64 bytes; cutting
  // only that padding leaves a complete file.
  const size_t complete = bytes.size() - 30;
  for (size_t len = 0; len < complete; len += (len < 400 ? 1 : 7)) {
    write_all(path, std::vector<uint8_t>(bytes.begin(), bytes.begin() + len));
    EXPECT_THROW(GgufFile{path}, FormatError) << "length " << len;
  }
}

TEST(Gguf, CorruptHeadersGiveSpecificErrors) {
  const auto good = read_all(valid_file());
  const std::string path = unique_temp_path("gguf_corrupt.gguf");
  auto patch = [&](size_t offset, const void* v, size_t n) {
    auto b = good;
    std::memcpy(b.data() + offset, v, n);
    write_all(path, b);
    return expect_format_error(path);
  };
  EXPECT_NE(patch(0, "GGUX", 4).find("magic"), std::string::npos);
  const uint32_t v1 = 1;
  EXPECT_NE(patch(4, &v1, 4).find("version"), std::string::npos);
  const uint64_t huge = uint64_t{1} << 60;
  EXPECT_NE(patch(8, &huge, 8).find("tensor count"), std::string::npos);
  EXPECT_NE(patch(16, &huge, 8).find("metadata count"), std::string::npos);
  // First key's length field starts at byte 24.
  EXPECT_NE(patch(24, &huge, 8).find("past the end"), std::string::npos);
}

TEST(Gguf, TensorProblemsAreReported) {
  const std::string path = unique_temp_path("gguf_tensor.gguf");
  auto bytes = read_all(valid_file());
  // Find the tensor info of "weight": name, n_dims, dims, type, offset.
  const std::string name = "weight";
  auto it = std::search(bytes.begin(), bytes.end(), name.begin(), name.end());
  ASSERT_NE(it, bytes.end());
  const size_t info = static_cast<size_t>(it - bytes.begin()) + name.size();
  const size_t type_at = info + 4 + 16;
  const size_t offset_at = type_at + 4;

  auto b = bytes;
  const uint32_t bad_type = 99;
  std::memcpy(b.data() + type_at, &bad_type, 4);
  write_all(path, b);
  EXPECT_NE(expect_format_error(path).find("unknown type 99"), std::string::npos);

  b = bytes;
  const uint64_t far = uint64_t{1} << 32;
  std::memcpy(b.data() + offset_at, &far, 8);
  write_all(path, b);
  EXPECT_NE(expect_format_error(path).find("past end of file"), std::string::npos);

  b = bytes;
  const uint32_t dims = 7;
  std::memcpy(b.data() + info, &dims, 4);
  write_all(path, b);
  EXPECT_NE(expect_format_error(path).find("dimensions"), std::string::npos);

  b = bytes;
  const uint64_t misaligned = 4;
  std::memcpy(b.data() + offset_at, &misaligned, 8);
  write_all(path, b);
  EXPECT_NE(expect_format_error(path).find("alignment"), std::string::npos);
}

TEST(Gguf, MissingFileIsAClearError) {
  EXPECT_THROW(GgufFile("/nonexistent/model.gguf"), Error);
}

}  // namespace
}  // namespace tessera
