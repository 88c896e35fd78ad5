// What one block of an AMX-INT8 packed kernel would cost (docs/performance.md,
// "AMX tiles for the packed kernels: tried, not kept"). The packed layout's
// eight lane registers of a 32-column block are an AMX B tile as they stand,
// and up to 16 tokens' activations an A tile; but a block has its own scale,
// so each block's 16 x 16 int32 dot products must leave the tile (a tile
// store) before the next block's are added. This times, per block:
//   dp only:  TDPBSUD into alternating accumulators (the instruction's rate)
//   block:    load B, load A (16 rows, a prepared-activation stride), zero C,
//             TDPBSUD, store C: what a block-scaled kernel needs
//   no store: the same without the store (what a row-scaled kernel needs)
// for 2, 8 and 16 token rows, in ns per block and MACs per ns. Then whether
// vector work hides behind the tiles: 16 token rows' block sequence alone,
// 32 independent FMAs per block pair alone (eight chains), and both.
//
//   g++ -O2 -mamx-tile -mamx-int8 -mavx512f bench/probes/amx_tiles.cc -o /tmp/amx_tiles && /tmp/amx_tiles
//
// Needs a CPU with AMX and Linux 5.16+ (the process asks for the tile state).
// g++ 12's AVX-512 headers warn about their own "undefined" registers (GCC bug 105593).
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"

#include <immintrin.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <initializer_list>
#include <vector>

namespace {

struct alignas(64) TileConfig {
  uint8_t palette_id;
  uint8_t start_row;
  uint8_t reserved[14];
  uint16_t colsb[16];
  uint8_t rows[16];
};

// Tiles 0-1: C (rows x 16 int32), 4-5: A (rows x 32 bytes), 6-7: B (8 x 64 bytes).
void configure(int rows) {
  TileConfig c{};
  c.palette_id = 1;
  for (int i = 0; i < 2; ++i) {
    c.rows[i] = static_cast<uint8_t>(rows);
    c.colsb[i] = 64;
    c.rows[4 + i] = static_cast<uint8_t>(rows);
    c.colsb[4 + i] = 32;
    c.rows[6 + i] = 8;
    c.colsb[6 + i] = 64;
  }
  // g++ 12 does not see ldtilecfg read the whole struct: keep every store.
  __asm__ volatile("" : : "r"(&c) : "memory");
  _tile_loadconfig(&c);
}

enum class Mode { kDpOnly, kBlock, kNoStore, kFmaOnly, kBlockAndFma };

double ns_per_block(Mode mode, int rows) {
  constexpr int64_t kCols = 2048, kStride = 2496;  // a prepared Q8_K row of 2048 columns
  static std::vector<int8_t> x(16 * kStride);
  static std::vector<uint8_t> w(kCols / 32 * 512);
  alignas(64) static int32_t c[2][16][16];
  configure(rows);
  _tile_loadd(4, x.data(), kStride);
  _tile_loadd(5, x.data(), kStride);
  _tile_loadd(6, w.data(), 64);
  _tile_loadd(7, w.data(), 64);
  _tile_zero(0);
  _tile_zero(1);
  __m512 acc[8];
  for (int i = 0; i < 8; ++i) acc[i] = _mm512_set1_ps(static_cast<float>(i));
  const __m512 m = _mm512_set1_ps(1.0001f);
  constexpr int kPasses = 2000;
  const auto t0 = std::chrono::steady_clock::now();
  for (int p = 0; p < kPasses; ++p) {
    for (int64_t b = 0; b < kCols / 32; b += 2) {
      const int8_t* a = x.data() + 32 * b;
      const uint8_t* bw = w.data() + 512 * b;
      if (mode == Mode::kFmaOnly || mode == Mode::kBlockAndFma) {
        for (int k = 0; k < 32; ++k) acc[k % 8] = _mm512_fmadd_ps(acc[k % 8], m, m);
        if (mode == Mode::kFmaOnly) continue;
      }
      if (mode == Mode::kDpOnly) {
        _tile_dpbsud(0, 4, 6);
        _tile_dpbsud(1, 5, 7);
        continue;
      }
      _tile_loadd(6, bw, 64);
      _tile_loadd(4, a, kStride);
      const bool store = mode != Mode::kNoStore;
      if (store) _tile_zero(0);
      _tile_dpbsud(0, 4, 6);
      if (store) _tile_stored(0, c[0], 64);
      _tile_loadd(7, bw + 512, 64);
      _tile_loadd(5, a + 32, kStride);
      if (store) _tile_zero(1);
      _tile_dpbsud(1, 5, 7);
      if (store) _tile_stored(1, c[1], 64);
    }
  }
  _tile_stored(0, c[0], 64);
  const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  _tile_release();
  float sink = 0;
  for (const __m512& v : acc) sink += _mm512_reduce_add_ps(v);
  if (sink == 12345.0f) std::printf(" ");  // keeps the FMAs
  return s * 1e9 / (static_cast<double>(kPasses) * (kCols / 32));
}

}  // namespace

int main() {
  constexpr int kArchReqXcompPerm = 0x1023, kXfeatureXtileData = 18;
  if (syscall(SYS_arch_prctl, kArchReqXcompPerm, kXfeatureXtileData) != 0) {
    std::fprintf(stderr, "the kernel does not give this process the AMX tile state\n");
    return 1;
  }
  std::printf("ns per 32-column block (int8 MACs per ns), one thread, median of 5\n");
  std::printf("rows   dp only          block            no store\n");
  for (int rows : {2, 8, 16}) {
    std::printf("%4d", rows);
    for (Mode mode : {Mode::kDpOnly, Mode::kBlock, Mode::kNoStore}) {
      std::vector<double> t;
      for (int r = 0; r < 5; ++r) t.push_back(ns_per_block(mode, rows));
      std::sort(t.begin(), t.end());
      std::printf("   %5.2f (%6.0f)", t[2], rows * 16 * 32 / t[2]);
    }
    std::printf("\n");
  }
  auto median = [](Mode mode) {
    std::vector<double> t;
    for (int r = 0; r < 5; ++r) t.push_back(ns_per_block(mode, 16));
    std::sort(t.begin(), t.end());
    return t[2];
  };
  std::printf("16 rows, ns per block: block %.2f, FMAs %.2f, both %.2f\n", median(Mode::kBlock),
              median(Mode::kFmaOnly), median(Mode::kBlockAndFma));
}
