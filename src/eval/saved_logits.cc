#include "eval/saved_logits.h"

#include <immintrin.h>
#include <sys/stat.h>

#include <cstring>

#include "core/error.h"

namespace tessera {

namespace {

constexpr char kMagic[4] = {'T', 'S', 'L', 'P'};
constexpr uint32_t kVersion = 1;
constexpr size_t kHeaderBytes = 4 + 4 * 4;

// fp32 <-> fp16, round to nearest even (F16C is part of the baseline ISA).
void to_half(const float* x, uint16_t* y, int64_t n) {
  int64_t i = 0;
  for (; i + 8 <= n; i += 8) {
    const __m128i h = _mm256_cvtps_ph(_mm256_loadu_ps(x + i), _MM_FROUND_TO_NEAREST_INT);
    _mm_storeu_si128(reinterpret_cast<__m128i*>(y + i), h);
  }
  for (; i < n; ++i) y[i] = _cvtss_sh(x[i], _MM_FROUND_TO_NEAREST_INT);
}

void from_half(const uint16_t* x, float* y, int64_t n) {
  int64_t i = 0;
  for (; i + 8 <= n; i += 8) {
    _mm256_storeu_ps(y + i, _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(x + i))));
  }
  for (; i < n; ++i) y[i] = _cvtsh_ss(x[i]);
}

int64_t total_rows(const SavedLogitsHeader& h) { return static_cast<int64_t>(h.n_chunks) * h.scored_per_chunk(); }

}  // namespace

void round_to_half(const float* x, float* y, int64_t n) {
  int64_t i = 0;
  for (; i + 8 <= n; i += 8) {
    _mm256_storeu_ps(y + i, _mm256_cvtph_ps(_mm256_cvtps_ph(_mm256_loadu_ps(x + i), _MM_FROUND_TO_NEAREST_INT)));
  }
  for (; i < n; ++i) y[i] = _cvtsh_ss(_cvtss_sh(x[i], _MM_FROUND_TO_NEAREST_INT));
}

SavedLogitsWriter::SavedLogitsWriter(const std::string& path, const SavedLogitsHeader& header,
                                     const std::vector<int32_t>& tokens)
    : path_(path), file_(std::fopen(path.c_str(), "wb")), header_(header), half_(header.n_vocab) {
  if (file_ == nullptr) raise("{}: cannot create: {}", path, std::strerror(errno));
  if (tokens.size() != static_cast<size_t>(header.n_chunks) * header.n_ctx) {
    raise("{}: {} tokens for {} windows of {}", path, tokens.size(), header.n_chunks, header.n_ctx);
  }
  write(kMagic, 4);
  const uint32_t fields[4] = {kVersion, header.n_vocab, header.n_ctx, header.n_chunks};
  write(fields, sizeof(fields));
  write(tokens.data(), tokens.size() * sizeof(int32_t));
}

SavedLogitsWriter::~SavedLogitsWriter() {
  if (file_ != nullptr) std::fclose(file_);
}

void SavedLogitsWriter::write(const void* data, size_t n) {
  if (std::fwrite(data, 1, n, file_) != n) raise("{}: write failed: {}", path_, std::strerror(errno));
}

void SavedLogitsWriter::write_row(const float* log_probs) {
  to_half(log_probs, half_.data(), header_.n_vocab);
  write(half_.data(), half_.size() * sizeof(uint16_t));
  ++rows_written_;
}

void SavedLogitsWriter::close() {
  if (rows_written_ != total_rows(header_)) {
    raise("{}: {} rows written, the header announces {}", path_, rows_written_, total_rows(header_));
  }
  const int rc = std::fclose(file_);
  file_ = nullptr;
  if (rc != 0) raise("{}: write failed: {}", path_, std::strerror(errno));
}

SavedLogitsReader::SavedLogitsReader(const std::string& path) : path_(path), file_(std::fopen(path.c_str(), "rb")) {
  if (file_ == nullptr) raise("{}: cannot open: {}", path, std::strerror(errno));
  char magic[4];
  read(magic, 4);
  if (std::memcmp(magic, kMagic, 4) != 0) raise<FormatError>("{}: not a tessera saved-logits file", path);
  uint32_t fields[4];
  read(fields, sizeof(fields));
  if (fields[0] != kVersion) {
    raise<FormatError>("{}: saved-logits version {}, this build reads version {}", path, fields[0], kVersion);
  }
  header_ = {fields[1], fields[2], fields[3]};
  if (header_.n_vocab == 0 || header_.n_ctx < 4 || header_.n_chunks == 0) {
    raise<FormatError>("{}: bad header (n_vocab {}, n_ctx {}, n_chunks {})", path, header_.n_vocab, header_.n_ctx,
                       header_.n_chunks);
  }
  // The size is checked before anything is allocated from the header.
  struct stat st {};
  const uint64_t n_tokens = static_cast<uint64_t>(header_.n_chunks) * header_.n_ctx;
  const uint64_t expected = kHeaderBytes + n_tokens * sizeof(int32_t) +
                            static_cast<uint64_t>(total_rows(header_)) * header_.n_vocab * sizeof(uint16_t);
  if (::fstat(fileno(file_), &st) != 0 || static_cast<uint64_t>(st.st_size) != expected) {
    raise<FormatError>("{}: {} bytes, the header (n_vocab {}, n_ctx {}, n_chunks {}) announces {}", path,
                       static_cast<uint64_t>(st.st_size), header_.n_vocab, header_.n_ctx, header_.n_chunks, expected);
  }
  tokens_.resize(n_tokens);
  read(tokens_.data(), tokens_.size() * sizeof(int32_t));
  half_.resize(header_.n_vocab);
}

SavedLogitsReader::~SavedLogitsReader() {
  if (file_ != nullptr) std::fclose(file_);
}

void SavedLogitsReader::read(void* data, size_t n) {
  if (std::fread(data, 1, n, file_) != n) raise<FormatError>("{}: truncated saved-logits file", path_);
}

void SavedLogitsReader::read_row(float* log_probs) {
  read(half_.data(), half_.size() * sizeof(uint16_t));
  from_half(half_.data(), log_probs, header_.n_vocab);
}

}  // namespace tessera
