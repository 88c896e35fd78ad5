// Saved log-probabilities: what `tessera perplexity --save-logits` writes and
// `--kl` reads back, so a configuration (quantization, KV precision, ...) can
// be compared with a baseline token by token. Format (docs/formats.md, "Saved
// logits"), little-endian:
//
//   char[4]  magic "TSLP"
//   u32      version (1)
//   u32      n_vocab
//   u32      n_ctx          window size in tokens
//   u32      n_chunks       windows
//   i32      tokens[n_chunks * n_ctx]   each window as evaluated (BOS first
//                                       when the vocabulary adds one)
//   then, window by window, for each scored position i = n_ctx/2 .. n_ctx-2
//   (the distribution predicting token i+1): n_vocab fp16 log-probabilities.
//
// Full distributions in fp16, not top-K: KL needs every term, and fp16 keeps
// a 262k-token vocabulary at 0.5 MiB per position.
#pragma once

#include <cstdint>
#include <cstdio>
#include <string>
#include <vector>

namespace tessera {

struct SavedLogitsHeader {
  uint32_t n_vocab = 0;
  uint32_t n_ctx = 0;
  uint32_t n_chunks = 0;

  int64_t first_scored() const { return n_ctx / 2; }
  int64_t scored_per_chunk() const { return static_cast<int64_t>(n_ctx) - 1 - first_scored(); }
};

// Writes the header and tokens at construction, then one row per call.
class SavedLogitsWriter {
 public:
  // tokens.size() must be n_chunks * n_ctx. Throws Error when the file
  // cannot be created or written.
  SavedLogitsWriter(const std::string& path, const SavedLogitsHeader& header, const std::vector<int32_t>& tokens);
  ~SavedLogitsWriter();
  SavedLogitsWriter(const SavedLogitsWriter&) = delete;
  SavedLogitsWriter& operator=(const SavedLogitsWriter&) = delete;

  void write_row(const float* log_probs);  // n_vocab values, stored as fp16
  // Flushes and checks that every row announced by the header was written.
  void close();

 private:
  void write(const void* data, size_t n);

  std::string path_;
  std::FILE* file_;
  SavedLogitsHeader header_;
  int64_t rows_written_ = 0;
  std::vector<uint16_t> half_;
};

// y = x rounded to fp16 and widened back: the values a saved file holds.
void round_to_half(const float* x, float* y, int64_t n);

class SavedLogitsReader {
 public:
  // Reads and validates the header and tokens: FormatError for a file that is
  // not a saved-logits file, has another version or is shorter than its
  // header announces.
  explicit SavedLogitsReader(const std::string& path);
  ~SavedLogitsReader();
  SavedLogitsReader(const SavedLogitsReader&) = delete;
  SavedLogitsReader& operator=(const SavedLogitsReader&) = delete;

  const std::string& path() const { return path_; }
  const SavedLogitsHeader& header() const { return header_; }
  const std::vector<int32_t>& tokens() const { return tokens_; }
  // The next row, widened to float.
  void read_row(float* log_probs);

 private:
  void read(void* data, size_t n);

  std::string path_;
  std::FILE* file_;
  SavedLogitsHeader header_;
  std::vector<int32_t> tokens_;
  std::vector<uint16_t> half_;
};

}  // namespace tessera
