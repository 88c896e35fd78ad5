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

namespace tessera {
namespace {

std::vector<uint64_t> chain_keys(const std::vector<int32_t>& tokens, int block_tokens) {
  std::vector<uint64_t> keys;
  for (size_t b = 0; (b + 1) * block_tokens <= tokens.size(); ++b) {
    keys.push_back(prefix_block_key(keys.empty() ? 0 : keys.back(), tokens.data() + b * block_tokens, block_tokens));
  }
  return keys;
}

TEST(PrefixBlockKey, DependsOnTokensOrderAndPreviousBlock) {
  const std::vector<int32_t> a = {1, 2, 3, 4}, b = {1, 2, 4, 3};
  EXPECT_EQ(prefix_block_key(0, a.data(), 4), prefix_block_key(0, a.data(), 4));
  EXPECT_NE(prefix_block_key(0, a.data(), 4), prefix_block_key(0, b.data(), 4));
  EXPECT_NE(prefix_block_key(0, a.data(), 4), prefix_block_key(7, a.data(), 4));
  // Same second block after different first blocks: different keys.
  const auto ka = chain_keys({1, 2, 3, 4, 9, 9, 9, 9}, 4);
  const auto kb = chain_keys({1, 2, 3, 5, 9, 9, 9, 9}, 4);
  EXPECT_NE(ka[1], kb[1]);
}

TEST(KvCachePrefix, SharedBlocksAreReferenceCountedAndNotCopied) {
  KvCache kv(small_config(8));
  const std::vector<int32_t> prompt = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10};
  const auto keys = chain_keys(prompt, 4);  // 2 full blocks
  ASSERT_TRUE(kv.reserve(0, 11));           // 3 blocks
  kv.k(0, 0, 5)[0] = 0x1234;
  kv.publish_block(0, 0, keys[0], prompt.data());
  kv.publish_block(0, 1, keys[1], prompt.data() + 4);
  EXPECT_EQ(kv.count_cached_prefix(keys.data(), prompt.data(), 2), 2);

  EXPECT_EQ(kv.attach_cached_prefix(1, keys.data(), prompt.data(), 2), 2);
  EXPECT_EQ(kv.block_table(1)[0], kv.block_table(0)[0]);
  EXPECT_EQ(kv.block_table(1)[1], kv.block_table(0)[1]);
  EXPECT_EQ(kv.block_refcount(kv.block_table(0)[1]), 2);
  EXPECT_EQ(kv.k(0, 1, 5), kv.k(0, 0, 5)) << "same storage, not a copy";
  EXPECT_EQ(kv.k(0, 1, 5)[0], 0x1234);
  EXPECT_EQ(kv.used_blocks(), 3);
  ASSERT_TRUE(kv.reserve(1, 12));  // its own third block
  EXPECT_NE(kv.block_table(1)[2], kv.block_table(0)[2]);
  EXPECT_EQ(kv.used_blocks(), 4);

  // The first owner goes: shared blocks stay used by seq 1, its private block is freed.
  kv.release(0);
  EXPECT_EQ(kv.used_blocks(), 3);
  EXPECT_EQ(kv.cached_blocks(), 0);
  EXPECT_EQ(kv.block_refcount(kv.block_table(1)[0]), 1);
  // The last owner goes: published blocks stay cached, the rest is free.
  kv.release(1);
  EXPECT_EQ(kv.used_blocks(), 0);
  EXPECT_EQ(kv.cached_blocks(), 2);
  EXPECT_EQ(kv.free_blocks(), 6);
  EXPECT_EQ(kv.attach_cached_prefix(2, keys.data(), prompt.data(), 2), 2);
  EXPECT_EQ(kv.k(0, 2, 5)[0], 0x1234) << "the cached block kept its contents";
  EXPECT_EQ(kv.cached_blocks(), 0);
  kv.release(2);
  EXPECT_EQ(kv.cached_blocks(), 2);
}

TEST(KvCachePrefix, AttachStopsAtTheFirstMissAndNeedsAnEmptySequence) {
  KvCache kv(small_config(8));
  const std::vector<int32_t> t = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12};
  const auto keys = chain_keys(t, 4);
  ASSERT_TRUE(kv.reserve(0, 12));
  kv.publish_block(0, 0, keys[0], t.data());
  kv.publish_block(0, 2, keys[2], t.data() + 8);  // block 1 never published
  EXPECT_EQ(kv.count_cached_prefix(keys.data(), t.data(), 3), 1);
  EXPECT_EQ(kv.attach_cached_prefix(1, keys.data(), t.data(), 3), 1);
  EXPECT_THROW(kv.attach_cached_prefix(1, keys.data(), t.data(), 3), InvalidArgument);
  // A key already published elsewhere is not published twice.
  ASSERT_TRUE(kv.reserve(1, 8));
  kv.publish_block(1, 1, keys[0], t.data());
  kv.release(0);
  kv.release(1);
  EXPECT_EQ(kv.cached_blocks(), 2);  // keys[0] and keys[2]
  EXPECT_THROW(kv.publish_block(1, 5, keys[1], t.data() + 4), InvalidArgument);
}

TEST(KvCachePrefix, CachedBlocksAreEvictedLeastRecentlyReleasedFirst) {
  KvCache kv(small_config(4));
  const std::vector<int32_t> ta = {1, 1, 1, 1, 2, 2, 2, 2}, tb = {3, 3, 3, 3};
  const auto ka = chain_keys(ta, 4);
  const auto kb = chain_keys(tb, 4);
  ASSERT_TRUE(kv.reserve(0, 8));
  kv.publish_block(0, 0, ka[0], ta.data());
  kv.publish_block(0, 1, ka[1], ta.data() + 4);
  ASSERT_TRUE(kv.reserve(1, 4));
  kv.publish_block(1, 0, kb[0], tb.data());
  kv.release(0);  // releases ka[1] then ka[0]
  kv.release(1);  // then kb[0]
  EXPECT_EQ(kv.cached_blocks(), 3);
  EXPECT_EQ(kv.free_blocks(), 1);
  EXPECT_EQ(kv.available_blocks(), 4);
  // Needs 2 blocks: the free one, then the oldest cached one (ka's tail).
  ASSERT_TRUE(kv.reserve(2, 8));
  EXPECT_EQ(kv.count_cached_prefix(ka.data(), ta.data(), 2), 1);
  EXPECT_EQ(kv.count_cached_prefix(kb.data(), tb.data(), 1), 1);
  ASSERT_TRUE(kv.reserve(3, 4));  // evicts ka[0]
  EXPECT_EQ(kv.count_cached_prefix(ka.data(), ta.data(), 2), 0);
  EXPECT_EQ(kv.count_cached_prefix(kb.data(), tb.data(), 1), 1);
  EXPECT_FALSE(kv.reserve(4, 8)) << "one cached block left, two needed: nothing is evicted";
  EXPECT_EQ(kv.count_cached_prefix(kb.data(), tb.data(), 1), 1);
  EXPECT_EQ(kv.used_blocks(), 3);
  kv.clear_prefix_cache();
  EXPECT_EQ(kv.cached_blocks(), 0);
  EXPECT_EQ(kv.free_blocks(), 1);
  EXPECT_EQ(kv.count_cached_prefix(kb.data(), tb.data(), 1), 0);
}

// A published key is not trusted on its own: a prompt whose block collides
// with a cached key (crafted, or a 64-bit accident) must not attach that
// block's KV. Simulated by looking the cached key up with other tokens.
TEST(KvCachePrefix, AKeyWithDifferentTokensIsNotAHit) {
  KvCache kv(small_config(4));
  const std::vector<int32_t> mine = {5, 6, 7, 8}, theirs = {5, 6, 7, 9};
  const auto keys = chain_keys(mine, 4);
  ASSERT_TRUE(kv.reserve(0, 4));
  kv.publish_block(0, 0, keys[0], mine.data());
  kv.release(0);
  EXPECT_EQ(kv.count_cached_prefix(keys.data(), theirs.data(), 1), 0);
  EXPECT_EQ(kv.attach_cached_prefix(1, keys.data(), theirs.data(), 1), 0);
  EXPECT_EQ(kv.cached_blocks(), 1) << "the mismatching lookup attached nothing";
  EXPECT_EQ(kv.attach_cached_prefix(2, keys.data(), mine.data(), 1), 1);
}

}  // namespace
}  // namespace tessera
