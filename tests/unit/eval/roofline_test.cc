#include "eval/roofline.h"

#include <gtest/gtest.h>

#include <cstdint>
#include <span>
#include <vector>

namespace tessera {
namespace {

TEST(ReadSpans, ReadsAllButTheUnalignedEdgesOfEveryPiece) {
  // Pieces of awkward sizes and alignments, split over 1, 2 and 3 threads: a
  // thread's share may cut a piece anywhere, and each cut piece loses at most
  // its unaligned head (< 64 bytes) and its tail below one loop iteration
  // (< 256 bytes).
  std::vector<uint8_t> buffer(3 << 20, 1);
  const std::vector<std::span<const uint8_t>> spans = {
      {buffer.data() + 3, 1000003}, {buffer.data() + 1100000, 17}, {buffer.data() + 1200001, 1500000}};
  int64_t total = 0;
  for (const auto& s : spans) total += static_cast<int64_t>(s.size());
  for (int threads : {1, 2, 3}) {
    ThreadPool pool(threads);
    const ReadPass pass = read_spans(spans, pool);
    const int64_t pieces = static_cast<int64_t>(spans.size()) + threads - 1;
    EXPECT_LE(pass.bytes, total) << threads;
    EXPECT_GT(pass.bytes, total - 320 * pieces) << threads;
    EXPECT_EQ(pass.bytes % 128, 0) << threads;  // whole iterations of either loop
    EXPECT_GT(pass.seconds, 0) << threads;
    EXPECT_GT(pass.gbps(), 0) << threads;
  }
}

TEST(ReadSpans, NothingToReadIsZeroNotADivisionByZero) {
  ThreadPool pool(2);
  EXPECT_EQ(read_spans({}, pool).bytes, 0);
  EXPECT_EQ(read_spans({}, pool).gbps(), 0);
  const uint8_t byte = 0;
  const std::vector<std::span<const uint8_t>> tiny = {{&byte, 1}};
  EXPECT_EQ(read_spans(tiny, pool).bytes, 0);
}

}  // namespace
}  // namespace tessera
