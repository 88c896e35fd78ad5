#include "eval/saved_logits.h"

#include <gtest/gtest.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "../temp_file.h"

#include "core/error.h"

namespace tessera {
namespace {

// Two windows of 6 tokens: 2 scored rows each (positions 3 and 4).
const SavedLogitsHeader kHeader{5, 6, 2};

std::vector<int32_t> tokens() { return {1, 10, 11, 12, 13, 14, 1, 20, 21, 22, 23, 24}; }

std::vector<float> row(int r) {
  return {-0.5f * r, -1.0f - r, -2.25f, -3.0f + 0.001f * r, -20.0f};
}

void write_file(const std::string& path, int rows) {
  SavedLogitsWriter w(path, kHeader, tokens());
  for (int r = 0; r < rows; ++r) w.write_row(row(r).data());
  w.close();
}

TEST(SavedLogits, RoundTripsHeaderTokensAndFp16Rows) {
  const std::string path = unique_temp_path("eval_roundtrip.tslp");
  write_file(path, 4);
  EXPECT_EQ(std::filesystem::file_size(path), 20u + 12 * 4 + 4 * 5 * 2);
  SavedLogitsReader r(path);
  EXPECT_EQ(r.header().n_vocab, 5u);
  EXPECT_EQ(r.header().n_ctx, 6u);
  EXPECT_EQ(r.header().n_chunks, 2u);
  EXPECT_EQ(r.header().first_scored(), 3);
  EXPECT_EQ(r.header().scored_per_chunk(), 2);
  EXPECT_EQ(r.tokens(), tokens());
  for (int i = 0; i < 4; ++i) {
    std::vector<float> got(5), expected(5);
    r.read_row(got.data());
    round_to_half(row(i).data(), expected.data(), 5);
    EXPECT_EQ(got, expected);
    for (int v = 0; v < 5; ++v) EXPECT_NEAR(got[v], row(i)[v], 1e-2);
  }
  std::filesystem::remove(path);
}

TEST(SavedLogits, TheWriterChecksItsRowCount) {
  const std::string path = unique_temp_path("eval_short.tslp");
  EXPECT_THROW(write_file(path, 3), Error);
  std::filesystem::remove(path);
}

TEST(SavedLogits, TruncatedOrForeignFilesAreFormatErrors) {
  const std::string path = unique_temp_path("eval_bad.tslp");
  write_file(path, 4);
  std::filesystem::resize_file(path, std::filesystem::file_size(path) - 2);
  EXPECT_THROW(SavedLogitsReader{path}, FormatError);

  std::ofstream(path, std::ios::binary | std::ios::trunc) << "GGUF and then some other bytes";
  try {
    SavedLogitsReader r(path);
    FAIL() << "read a foreign file";
  } catch (const FormatError& e) {
    EXPECT_NE(std::string(e.what()).find("not a tessera saved-logits file"), std::string::npos) << e.what();
  }
  std::filesystem::remove(path);
  EXPECT_THROW(SavedLogitsReader{path}, Error);  // missing
}

}  // namespace
}  // namespace tessera
