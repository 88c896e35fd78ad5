#include "core/huge_pages.h"

#include <gtest/gtest.h>

#include <cstdint>
#include <cstdlib>
#include <cstring>

namespace tessera {
namespace {

constexpr size_t kHugePage = size_t{2} << 20;

uintptr_t address(const void* p) { return reinterpret_cast<uintptr_t>(p); }

TEST(HugePages, LargeBuffersStartOnAHugePageAndAreUsableToTheirEnd) {
  // Not a multiple of 2 MiB: the partial tail is allocated too.
  for (size_t bytes : {kHugePage, 5 * kHugePage + 12345}) {
    uint8_t* p = allocate_huge_page_aligned(bytes);
    ASSERT_NE(p, nullptr);
    EXPECT_EQ(address(p) % kHugePage, 0u) << bytes;
    std::memset(p, 0xA5, bytes);
    EXPECT_EQ(p[0], 0xA5);
    EXPECT_EQ(p[bytes - 1], 0xA5);
    std::free(p);
  }
}

TEST(HugePages, SmallBuffersAreCacheLineAligned) {
  for (size_t bytes : {size_t{0}, size_t{1}, size_t{1000}, kHugePage - 1}) {
    uint8_t* p = allocate_huge_page_aligned(bytes);
    ASSERT_NE(p, nullptr) << bytes;
    EXPECT_EQ(address(p) % 64, 0u) << bytes;
    if (bytes > 0) std::memset(p, 1, bytes);
    std::free(p);
  }
}

}  // namespace
}  // namespace tessera
