#include "core/huge_pages.h"

#include <sys/mman.h>

#include <cstdlib>

namespace tessera {

namespace {
constexpr size_t kHugePage = size_t{2} << 20;
constexpr size_t kCacheLine = 64;
}  // namespace

uint8_t* allocate_huge_page_aligned(size_t bytes) {
  const size_t alignment = bytes >= kHugePage ? kHugePage : kCacheLine;
  // aligned_alloc wants a size that is a multiple of the alignment.
  const size_t size = (bytes + alignment - 1) / alignment * alignment;
  void* p = std::aligned_alloc(alignment, size == 0 ? alignment : size);
  // Only the whole huge pages inside `bytes` are advised: a touch of the
  // partial last one would fault in all 2 MiB of it, while small pages keep
  // the rounding's tail untouched and free. Advisory: a failure only means
  // small pages.
  if (p != nullptr && alignment == kHugePage) ::madvise(p, bytes / kHugePage * kHugePage, MADV_HUGEPAGE);
  return static_cast<uint8_t*>(p);
}

}  // namespace tessera
