#include "kv/kv_cache.h"

#include <gtest/gtest.h>

#include <set>

#include "core/error.h"

namespace tessera {
namespace {

KvCacheConfig small_config(int64_t blocks) {
  KvCacheConfig c;
  c.n_layers = 2;
  c.n_kv_heads = 2;
  c.head_dim_k = 4;
  c.head_dim_v = 3;
  c.block_tokens = 4;
  c.n_blocks = blocks;
  return c;
}

TEST(KvCache, ReserveAllocatesWholeBlocksAndFailsWithoutSideEffects) {
  KvCache kv(small_config(3));
  EXPECT_TRUE(kv.reserve(0, 5));  // 2 blocks
  EXPECT_EQ(kv.reserved_tokens(0), 8);
  EXPECT_EQ(kv.free_blocks(), 1);
  EXPECT_FALSE(kv.reserve(1, 9));  // needs 3, only 1 free
  EXPECT_EQ(kv.free_blocks(), 1);
  EXPECT_EQ(kv.reserved_tokens(1), 0);
  EXPECT_TRUE(kv.reserve(1, 4));
  EXPECT_EQ(kv.free_blocks(), 0);
  kv.release(0);
  EXPECT_EQ(kv.free_blocks(), 2);
  kv.truncate(1, 0);
  EXPECT_EQ(kv.free_blocks(), 3);
}

TEST(KvCache, SlotsOfDifferentTokensLayersAndSequencesNeverOverlap) {
  KvCache kv(small_config(8));
  ASSERT_TRUE(kv.reserve(0, 10));
  ASSERT_TRUE(kv.reserve(3, 7));
  std::set<const uint16_t*> seen;
  for (int layer = 0; layer < 2; ++layer) {
    for (int seq : {0, 3}) {
      for (int64_t pos = 0; pos < kv.reserved_tokens(seq); ++pos) {
        // Each K vector is 8 elements and each V vector 6: check every element.
        for (int e = 0; e < 8; ++e) EXPECT_TRUE(seen.insert(kv.k(layer, seq, pos) + e).second);
        for (int e = 0; e < 6; ++e) EXPECT_TRUE(seen.insert(kv.v(layer, seq, pos) + e).second);
      }
    }
  }
  const uint16_t* lo = *seen.begin();
  const uint16_t* hi = *seen.rbegin();
  EXPECT_LT(static_cast<size_t>(hi - lo), kv.bytes() / sizeof(uint16_t));
}

TEST(KvCache, WritesSurviveOtherSequencesGrowing) {
  KvCache kv(small_config(8));
  ASSERT_TRUE(kv.reserve(0, 4));
  kv.k(1, 0, 2)[3] = 1234;
  ASSERT_TRUE(kv.reserve(1, 12));
  ASSERT_TRUE(kv.reserve(0, 8));
  EXPECT_EQ(kv.k(1, 0, 2)[3], 1234);
}

TEST(KvCache, RejectsImpossibleConfig) {
  EXPECT_THROW(KvCache(small_config(0)), InvalidArgument);
  KvCacheConfig c = small_config(2);
  c.head_dim_k = -1;
  EXPECT_THROW((KvCache(c)), InvalidArgument);
}

}  // namespace
}  // namespace tessera
