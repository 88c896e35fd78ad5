// How the SIMD kernels walk a packed 16-row group (layouts: packed_impl.h):
// tokens in tiles, and the software prefetch that keeps memory busy while the
// tiles compute. Shared by packed_avx2.cc and packed_avx512.cc; the tiles
// themselves are ISA-specific.
//
// Everything here has internal linkage (an unnamed namespace) on purpose:
// each ISA's translation unit is compiled with its own -m flags, and an inline
// function with external linkage would be merged by the linker into one copy,
// possibly the AVX-512 one, which would then run on an AVX2-only CPU.
#pragma once

#include <immintrin.h>

#include <algorithm>
#include <cstdint>
#include <vector>

namespace tessera::packed {
namespace {

// A streaming tile reads each weight once; software prefetches this far ahead
// of the block being multiplied keep more line requests in flight than the
// hardware prefetcher alone. The distance is per ISA because each was
// measured on the machines that run that translation unit's kernels:
//  - AVX2 (the 2026-12-02/03 Zen 3 VMs): 1-2 KiB best, whole-model decode,
//    2 threads (1 KiB for the legacy blocks and 4 or 8 KiB for the K blocks
//    were slower).
//  - AVX-512: on the Xeon VMs 0.5-4 KiB and no prefetch at all measured within
//    the noise once the weights sat on huge pages; on the 2026-12-04 Zen 5 VM
//    an 8-token tile (a serving step of 8 sequences) streamed its weights at
//    16-17 GB/s per thread with 2 KiB against 25-26 GB/s from cache, and at
//    the cache's rate with 8 KiB (bench/probes/kernel_stream.cc; one token
//    within the noise). docs/performance.md, eleventh session.
constexpr int64_t kPrefetchAheadAvx2 = 2048;
constexpr int64_t kPrefetchAheadAvx512 = 8192;
#if defined(__AVX512F__)
constexpr int64_t kPrefetchAhead = kPrefetchAheadAvx512;
#else
constexpr int64_t kPrefetchAhead = kPrefetchAheadAvx2;
#endif

// Prefetches slice i of n of a block's cache lines, kPrefetchAhead bytes
// ahead. A K super-block (2368 or 3360 bytes) prefetched in one burst of 37 or
// 53 lines at its start stalls the loads behind it; one slice per sub-block
// spreads them over the block (tinyllama Q4_K_M decode, AVX2, 2 threads: 40.1
// -> 46.5 tok/s with the distance above).
inline void prefetch_slice(const uint8_t* block, int64_t block_bytes, int i, int n) {
  const int64_t lines = (block_bytes + 63) / 64;
  for (int64_t l = lines * i / n; l < lines * (i + 1) / n; ++l) {
    _mm_prefetch(reinterpret_cast<const char*>(block + kPrefetchAhead + 64 * l), _MM_HINT_T0);
  }
}
inline void prefetch_block(const uint8_t* block, int64_t bytes) { prefetch_slice(block, bytes, 0, 1); }

// Bytes a tile prefetches while it works: a share of the next group (see
// gemm_tokens). Empty for a tile that streams its own group (kStream).
struct PrefetchWindow {
  const uint8_t* begin = nullptr;
  int64_t bytes = 0;
};

// Issues a window's cache lines evenly over a tile's n_steps calls of step()
// (an error accumulator, so the counts are exact without a division per step).
class SpreadPrefetch {
 public:
  SpreadPrefetch(PrefetchWindow w, int64_t n_steps)
      : line_(w.begin), lines_((w.bytes + 63) / 64), steps_(std::max<int64_t>(1, n_steps)) {}
  void step() {
    for (acc_ += lines_; acc_ >= steps_; acc_ -= steps_, line_ += 64) {
      _mm_prefetch(reinterpret_cast<const char*>(line_), _MM_HINT_T0);
    }
  }

 private:
  const uint8_t* line_;
  int64_t lines_, steps_, acc_ = 0;
};

// A tile's prefetch while it works on slice i of n of block blk: ahead of
// itself when it streams its group (kStream), else its share of the next group.
template <bool kStream>
inline void tile_prefetch(const uint8_t* blk, int64_t block_bytes, int i, int n, SpreadPrefetch& next_lines) {
  if constexpr (kStream) {
    prefetch_slice(blk, block_bytes, i, n);
  } else {
    next_lines.step();
  }
}

// One tile of n tokens, 1 <= n <= kTile (Tile<kTile>, Tile<kTile - 1>, ...
// down to the one that fits); kLanes: its weights come from `lanes`.
template <template <int> class Tile, int kTile, bool kStream, bool kLanes = false>
void tile_of(int64_t n, const uint8_t* group, const uint8_t* lanes, int64_t cols, const uint8_t* x, int64_t xp_stride,
             float* y, int64_t y_stride, int n_rows, PrefetchWindow next) {
  if (n == kTile) {
    Tile<kTile>::template run<kStream, kLanes>(group, lanes, cols, x, xp_stride, y, y_stride, n_rows, next);
  } else if constexpr (kTile > 1) {
    tile_of<Tile, kTile - 1, kStream, kLanes>(n, group, lanes, cols, x, xp_stride, y, y_stride, n_rows, next);
  }
}

// A thread's buffer for one group's lane registers (below), 64-byte aligned;
// it grows to the widest matrix the thread has multiplied, and stays.
inline uint8_t* lane_buffer(int64_t bytes) {
  thread_local std::vector<uint8_t> buf;
  if (buf.size() < static_cast<size_t>(bytes + 64)) buf.resize(static_cast<size_t>(bytes + 64));
  const auto address = reinterpret_cast<uintptr_t>(buf.data());
  return buf.data() + (64 - address % 64) % 64;
}

// Tokens in as few tiles of at most kTile as hold them (the widest tile is
// measured per type and ISA, at the kernels' entry points).
//
// Prefetch. One tile (decode, small batches) streams its group from memory
// and prefetches ahead of itself (into the next group at its end; kStream).
// Several tiles walk the group while it sits in cache, and each prefetches an
// equal share of the next group meanwhile: the memory traffic spreads over
// all of a group's compute instead of stalling its first tile (a serving step
// of 8 sequences, 2 threads: the first tile cost 1.6x the others when it
// streamed its own group; docs/performance.md). The first group a thread
// takes is not prefetched; the last one's window runs past it (harmless).
//
// Lanes (kLaneTile > 0). Tiles that walk a group in cache each unpack its
// weights (nibbles and high bits into bytes) for themselves: about a seventh
// of a Q4_K prefill tile's instructions, a fifth of Q6_K's. With kLaneTile, the
// group is unpacked once into lane registers, one 64-byte register of
// unsigned weights per 4 columns (register r holds u(row i, column 4r + m) at
// byte 4i + m: what a tile unpacks, stored in column order), and tiles of up
// to kLaneTile tokens load them; the float work and its order do not change.
//
// Tile<NT> provides group_bytes(cols) and run<kStream, kLanes>(group, lanes,
// cols, x, x_stride, y, y_stride, n_rows, next); with kLaneTile, also
// unpack_lanes(group, cols, lanes) and tiles that read lanes when kLanes.
//
// kStreamTile >= kTile: up to that many tokens (a decode batch) go in one
// streaming tile, which reads the group once; a long prefill's tiles stay at
// kTile (kLaneTile), where a type's registers and L1 serve it best (both
// measured per type).
template <template <int> class Tile, int kTile, int kStreamTile = kTile, int kLaneTile = 0>
void gemm_tokens(const uint8_t* group, int64_t cols, const uint8_t* xp, int64_t xp_stride, int64_t n_tokens, float* y,
                 int64_t y_stride, int n_rows) {
  static_assert(kTile >= 1 && kTile <= kStreamTile && kStreamTile <= 16 && kLaneTile <= 16);
  if (n_tokens <= 0) return;
  if (n_tokens <= kStreamTile) {
    tile_of<Tile, kStreamTile, true>(n_tokens, group, nullptr, cols, xp, xp_stride, y, y_stride, n_rows,
                                     PrefetchWindow{});
    return;
  }
  constexpr bool kLanes = kLaneTile > 0;
  constexpr int kWidest = kLanes ? kLaneTile : kTile;
  uint8_t* lanes = nullptr;
  if constexpr (kLanes) {
    lanes = lane_buffer(cols * 16);
    Tile<1>::unpack_lanes(group, cols, lanes);
  }
  const int64_t group_bytes = Tile<1>::group_bytes(cols);
  const int64_t n_tiles = (n_tokens + kWidest - 1) / kWidest;
  for (int64_t i = 0; i < n_tiles; ++i) {
    // Tiles of balanced widths (8 tokens in tiles of at most 6: 4 + 4, not
    // 6 + 2): a narrow tile unpacks the group for few tokens.
    const int64_t t = n_tokens * i / n_tiles, t_end = n_tokens * (i + 1) / n_tiles;
    const int64_t share_begin = group_bytes * i / n_tiles, share_end = group_bytes * (i + 1) / n_tiles;
    tile_of<Tile, kWidest, false, kLanes>(t_end - t, group, lanes, cols, xp + t * xp_stride, xp_stride,
                                          y + t * y_stride, y_stride, n_rows,
                                          PrefetchWindow{group + group_bytes + share_begin, share_end - share_begin});
  }
}

// gemm_tokens' Tile<NT> interface for the tile function `tile_fn` (an
// expression in NT and kStream naming it, parenthesized when it holds commas,
// e.g. (q45k_tile<true, NT, kStream>)) whose 16-row groups are
// `group_bytes_expr` bytes long (an expression of `cols`).
#define TESSERA_PACKED_TILE(Name, tile_fn, group_bytes_expr)                                                   \
  template <int NT>                                                                                             \
  struct Name {                                                                                                 \
    static int64_t group_bytes(int64_t cols) { return group_bytes_expr; }                                       \
    template <bool kStream, bool kLanes>                                                                        \
    static void run(const uint8_t* g, const uint8_t*, int64_t c, const uint8_t* xp, int64_t xs, float* y,       \
                    int64_t ys, int rows, ::tessera::packed::PrefetchWindow next) {                             \
      static_assert(!kLanes, "this tile reads no lanes");                                                       \
      tile_fn(g, c, xp, xs, y, ys, rows, next);                                                                 \
    }                                                                                                           \
  };

// The same for a tile function that also takes the lanes (after the group;
// `tile_fn` may name kLanes), and `unpack_fn`, which unpacks a group into them.
#define TESSERA_PACKED_LANE_TILE(Name, tile_fn, group_bytes_expr, unpack_fn)                                   \
  template <int NT>                                                                                             \
  struct Name {                                                                                                 \
    static int64_t group_bytes(int64_t cols) { return group_bytes_expr; }                                       \
    static void unpack_lanes(const uint8_t* g, int64_t c, uint8_t* lanes) { unpack_fn(g, c, lanes); }           \
    template <bool kStream, bool kLanes>                                                                        \
    static void run(const uint8_t* g, const uint8_t* lanes, int64_t c, const uint8_t* xp, int64_t xs, float* y, \
                    int64_t ys, int rows, ::tessera::packed::PrefetchWindow next) {                             \
      tile_fn(g, lanes, c, xp, xs, y, ys, rows, next);                                                          \
    }                                                                                                           \
  };

}  // namespace
}  // namespace tessera::packed
