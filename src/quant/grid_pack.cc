#include <algorithm>
#include <cmath>
#include <cstring>
#include <type_traits>
#include <vector>

#include "core/error.h"
#include "core/thread_pool.h"
#include "quant/blocks.h"
#include "quant/grid.h"
#include "quant/half.h"

namespace tessera {

std::optional<GridLayout> grid_layout(GgmlType type) {
  switch (type) {
    case GgmlType::Q4_0: return GridLayout{kQK, 4, false, false};
    case GgmlType::Q4_1: return GridLayout{kQK, 4, true, false};
    case GgmlType::Q5_0: return GridLayout{kQK, 5, false, false};
    case GgmlType::Q5_1: return GridLayout{kQK, 5, true, false};
    case GgmlType::Q8_0: return GridLayout{kQK, 8, false, false};
    case GgmlType::Q2_K: return GridLayout{16, 2, true, true};
    case GgmlType::Q3_K: return GridLayout{16, 3, false, true};
    case GgmlType::Q4_K: return GridLayout{32, 4, true, true};
    case GgmlType::Q5_K: return GridLayout{32, 5, true, true};
    case GgmlType::Q6_K: return GridLayout{16, 6, false, true};
    default: return std::nullopt;
  }
}

GridRange grid_range(const GridLayout& layout, int bits) {
  GridRange r;
  r.offset = layout.offset;
  r.offset_nonpositive = layout.k_type;
  if (layout.offset) {
    r.qmin = 0;
    r.qmax = (1 << bits) - 1;
  } else if (bits == 8) {
    r.qmin = -127;
    r.qmax = 127;
  } else {
    r.qmin = -(1 << (bits - 1));
    r.qmax = (1 << (bits - 1)) - 1;
  }
  return r;
}

double grid_error(const float* x, const float* w, int n, const Grid& g, const GridRange& r) {
  double e = 0.0;
  for (int i = 0; i < n; ++i) {
    const double diff = static_cast<double>(x[i]) - (g.d * static_cast<float>(grid_code(x[i], g, r)) + g.m);
    e += (w != nullptr ? w[i] : 1.0) * diff * diff;
  }
  return e;
}

QuantSpec spec_for_bits(int bits, bool asym) {
  if (bits < 2 || bits > 8) raise<InvalidArgument>("--bits must be 2 to 8, got {}", bits);
  GgmlType type;
  if (bits <= 4) {
    type = asym ? GgmlType::Q4_1 : GgmlType::Q4_0;
  } else if (bits == 5) {
    type = asym ? GgmlType::Q5_1 : GgmlType::Q5_0;
  } else if (asym) {
    raise<InvalidArgument>("no asymmetric standard type holds {} bits (Q5_1 is the widest)", bits);
  } else {
    type = GgmlType::Q8_0;
  }
  return QuantSpec{type, bits, kQK, !asym};
}

QuantSpec k_spec_for_bits(int bits) {
  if (bits < 2 || bits > 8) raise<InvalidArgument>("--bits must be 2 to 8, got {}", bits);
  static constexpr GgmlType kByBits[] = {GgmlType::Q2_K, GgmlType::Q3_K, GgmlType::Q4_K, GgmlType::Q5_K,
                                         GgmlType::Q6_K, GgmlType::Q8_0, GgmlType::Q8_0};
  const GgmlType type = kByBits[bits - 2];
  const GridLayout layout = *grid_layout(type);
  return QuantSpec{type, bits, layout.sub_block, !layout.offset};
}

void check_grid_spec(const QuantSpec& spec, int64_t cols) {
  const auto layout = grid_layout(spec.type);
  if (!layout) {
    raise<InvalidArgument>("type {} is not written by the grid quantizers (use Q4_0, Q4_1, Q5_0, Q5_1, Q8_0, Q2_K, Q3_K, "
                           "Q4_K, Q5_K or Q6_K)",
                           type_name(spec.type));
  }
  if (spec.bits < 2 || spec.bits > layout->code_bits) {
    raise<InvalidArgument>("{} bits do not fit {} (2 to {} bits)", spec.bits, type_name(spec.type), layout->code_bits);
  }
  if (spec.symmetric == layout->offset) {
    raise<InvalidArgument>("{} is {}; ask for {} or another type", type_name(spec.type),
                           layout->offset ? "asymmetric (scale and offset)" : "symmetric (scale only)",
                           layout->offset ? "--asym" : "no --asym");
  }
  if (spec.group <= 0 || spec.group % layout->sub_block != 0) {
    raise<InvalidArgument>("group {} is not a multiple of {}'s block of {} weights", spec.group,
                           type_name(spec.type), layout->sub_block);
  }
  if (cols > 0 && cols % spec.group != 0) {
    raise<InvalidArgument>("group {} does not divide the row length {}", spec.group, cols);
  }
  if (cols > 0 && cols % type_traits(spec.type).block_size != 0) {
    raise<InvalidArgument>("row length {} is not a multiple of {}'s block size {}", cols, type_name(spec.type),
                           type_traits(spec.type).block_size);
  }
}

namespace {

// Stored grid of a legacy block: d and m as fp16, as the file holds them.
Grid stored_legacy_grid(const Grid& g, uint16_t* d16, uint16_t* m16) {
  *d16 = float_to_half(g.d);
  *m16 = float_to_half(g.m);
  return Grid{half_to_float(*d16), half_to_float(*m16)};
}

// Codes in storage form: symmetric types store q + 2^(code_bits-1).
void codes_of_block(const float* x, const Grid& g, const GridRange& r, int code_bias, int n, int* codes) {
  for (int i = 0; i < n; ++i) codes[i] = grid_code(x[i], g, r) + code_bias;
}

void pack_legacy_block(GgmlType type, const float* x, const Grid& fitted, const GridRange& r, uint8_t* out) {
  uint16_t d16, m16;
  const Grid g = stored_legacy_grid(fitted, &d16, &m16);
  int c[kQK];
  switch (type) {
    case GgmlType::Q4_0: {
      BlockQ4_0 b{};
      b.d = d16;
      codes_of_block(x, Grid{g.d, 0.0f}, r, 8, kQK, c);
      for (int j = 0; j < kQK / 2; ++j) b.qs[j] = static_cast<uint8_t>(c[j] | (c[j + kQK / 2] << 4));
      std::memcpy(out, &b, sizeof(b));
      break;
    }
    case GgmlType::Q4_1: {
      BlockQ4_1 b{};
      b.d = d16;
      b.m = m16;
      codes_of_block(x, g, r, 0, kQK, c);
      for (int j = 0; j < kQK / 2; ++j) b.qs[j] = static_cast<uint8_t>(c[j] | (c[j + kQK / 2] << 4));
      std::memcpy(out, &b, sizeof(b));
      break;
    }
    case GgmlType::Q5_0:
    case GgmlType::Q5_1: {
      const bool offset = type == GgmlType::Q5_1;
      codes_of_block(x, offset ? g : Grid{g.d, 0.0f}, r, offset ? 0 : 16, kQK, c);
      uint8_t qs[kQK / 2];
      uint32_t qh = 0;
      for (int j = 0; j < kQK / 2; ++j) {
        qs[j] = static_cast<uint8_t>((c[j] & 0xF) | ((c[j + kQK / 2] & 0xF) << 4));
        qh |= static_cast<uint32_t>((c[j] >> 4) & 1) << j;
        qh |= static_cast<uint32_t>((c[j + kQK / 2] >> 4) & 1) << (j + kQK / 2);
      }
      if (offset) {
        BlockQ5_1 b{};
        b.d = d16;
        b.m = m16;
        std::memcpy(b.qh, &qh, 4);
        std::memcpy(b.qs, qs, sizeof(qs));
        std::memcpy(out, &b, sizeof(b));
      } else {
        BlockQ5_0 b{};
        b.d = d16;
        std::memcpy(b.qh, &qh, 4);
        std::memcpy(b.qs, qs, sizeof(qs));
        std::memcpy(out, &b, sizeof(b));
      }
      break;
    }
    case GgmlType::Q8_0: {
      BlockQ8_0 b{};
      b.d = d16;
      codes_of_block(x, Grid{g.d, 0.0f}, r, 0, kQK, c);
      for (int j = 0; j < kQK; ++j) b.qs[j] = static_cast<int8_t>(c[j]);
      std::memcpy(out, &b, sizeof(b));
      break;
    }
    default: break;  // check_grid_spec admits only the types above and the K types
  }
}

// The K types with an offset: x = D*sc_j*q - Dmin*mn_j with sub-block scale
// and min codes in [0, max_code] and fp16 D, Dmin per 256 weights -- Q4_K and
// Q5_K (eight sub-blocks of 32, 6-bit codes), Q2_K (sixteen of 16, 4-bit
// codes). The fitted (d_j, m_j <= 0) are rounded to that form; the weights'
// codes are re-derived on the stored grid, into c.
struct KOffsetScales {
  uint16_t d = 0, dmin = 0;
  uint8_t sc[16] = {}, mn[16] = {};
};
KOffsetScales pack_k_offset_grids(const float* x, const Grid* fitted, int n_sub, int max_code, const GridRange& r,
                                  int* c) {
  float max_d = 0.0f, max_neg_m = 0.0f;
  for (int j = 0; j < n_sub; ++j) {
    max_d = std::max(max_d, fitted[j].d);
    max_neg_m = std::max(max_neg_m, -fitted[j].m);
  }
  KOffsetScales k;
  k.d = float_to_half(max_d / static_cast<float>(max_code));
  k.dmin = float_to_half(max_neg_m / static_cast<float>(max_code));
  const float D = half_to_float(k.d), Dmin = half_to_float(k.dmin);
  const int sub = kQKK / n_sub;
  for (int j = 0; j < n_sub; ++j) {
    k.sc[j] = D > 0.0f ? static_cast<uint8_t>(std::clamp(static_cast<int>(std::nearbyint(fitted[j].d / D)), 0, max_code))
                       : 0;
    k.mn[j] = Dmin > 0.0f
                  ? static_cast<uint8_t>(std::clamp(static_cast<int>(std::nearbyint(-fitted[j].m / Dmin)), 0, max_code))
                  : 0;
    // The same products the dequantizer forms, so the nearest code is nearest to what it will read.
    const Grid g{D * static_cast<float>(k.sc[j]), -(Dmin * static_cast<float>(k.mn[j]))};
    codes_of_block(x + sub * j, g, r, 0, sub, c + sub * j);
  }
  return k;
}

// Q4_K and Q5_K: 6-bit scales and mins, the codes' low nibbles of sub-blocks
// 2p and 2p+1 in qs[32p + l]; Q5_K also keeps their bit 4 in bits 2p and
// 2p+1 of qh[l].
template <typename Block>
void pack_q45_k_block(const float* x, const Grid* fitted, const GridRange& r, uint8_t* out) {
  int c[kQKK];
  const KOffsetScales k = pack_k_offset_grids(x, fitted, 8, 63, r, c);
  Block b{};
  b.d = k.d;
  b.dmin = k.dmin;
  q4k_set_scales_mins(k.sc, k.mn, b.scales);
  for (int p = 0; p < 4; ++p) {
    for (int l = 0; l < 32; ++l) {
      const int lo = c[64 * p + l], hi = c[64 * p + 32 + l];
      b.qs[32 * p + l] = static_cast<uint8_t>((lo & 0xF) | ((hi & 0xF) << 4));
      if constexpr (std::is_same_v<Block, BlockQ5_K>) {
        b.qh[l] |= static_cast<uint8_t>((((lo >> 4) & 1) << (2 * p)) | (((hi >> 4) & 1) << (2 * p + 1)));
      }
    }
  }
  std::memcpy(out, &b, sizeof(b));
}

// Where weight e (0..255) of a Q2_K / Q3_K block keeps its 2 low code bits:
// byte qs[32 (e / 128) + e % 32], bits 2 ((e % 128) / 32) -- four 32-weight
// runs per 32 bytes, one bit pair each.
inline int k2_byte(int e) { return 32 * (e / 128) + e % 32; }
inline int k2_shift(int e) { return 2 * ((e % 128) / 32); }

// Q2_K: sixteen sub-blocks of 16, scales[j] = sc_j | mn_j << 4.
void pack_q2_k_block(const float* x, const Grid* fitted, const GridRange& r, uint8_t* out) {
  int c[kQKK];
  const KOffsetScales k = pack_k_offset_grids(x, fitted, 16, 15, r, c);
  BlockQ2_K b{};
  b.d = k.d;
  b.dmin = k.dmin;
  for (int j = 0; j < 16; ++j) b.scales[j] = static_cast<uint8_t>(k.sc[j] | (k.mn[j] << 4));
  for (int e = 0; e < kQKK; ++e) b.qs[k2_byte(e)] |= static_cast<uint8_t>(c[e] << k2_shift(e));
  std::memcpy(out, &b, sizeof(b));
}

// Q3_K: sixteen sub-blocks of 16, x = D*sc_j*v with v in [-4, 3], signed 6-bit
// sc_j (stored + 32) and fp16 D. The sub-block scale of largest magnitude is
// stored as -32 (D takes its sign: the full 6-bit range serves it); the code
// u = v + 4 keeps its low bits in qs and bit 2 in hmask[e % 32], bit
// 4 (e / 128) + (e % 128) / 32.
void pack_q3_k_block(const float* x, const Grid* fitted, const GridRange& r, uint8_t* out) {
  float loudest = 0.0f;
  for (int j = 0; j < 16; ++j) {
    if (std::fabs(fitted[j].d) > std::fabs(loudest)) loudest = fitted[j].d;
  }
  BlockQ3_K b{};
  b.d = float_to_half(-loudest / 32.0f);
  const float D = half_to_float(b.d);
  int c[kQKK];
  for (int j = 0; j < 16; ++j) {
    const int sc = D != 0.0f ? std::clamp(static_cast<int>(std::nearbyint(fitted[j].d / D)), -32, 31) : 0;
    const int stored = sc + 32;
    if (j < 8) {
      b.scales[j] |= static_cast<uint8_t>(stored & 0xF);
    } else {
      b.scales[j - 8] |= static_cast<uint8_t>((stored & 0xF) << 4);
    }
    b.scales[8 + j % 4] |= static_cast<uint8_t>((stored >> 4) << (2 * (j / 4)));
    codes_of_block(x + 16 * j, Grid{D * static_cast<float>(sc), 0.0f}, r, 4, 16, c + 16 * j);
  }
  for (int e = 0; e < kQKK; ++e) {
    b.qs[k2_byte(e)] |= static_cast<uint8_t>((c[e] & 3) << k2_shift(e));
    b.hmask[e % 32] |= static_cast<uint8_t>((c[e] >> 2) << (4 * (e / 128) + (e % 128) / 32));
  }
  std::memcpy(out, &b, sizeof(b));
}

// Q6_K: sixteen sub-blocks of 16, x = D*sc_j*(q - 32) with signed 8-bit sc_j
// and fp16 D per 256 weights. The fitted d_j (either sign: rtn maps a group's
// signed extreme to code -32) become sc_j = round(d_j / D), D = max|d_j| / 127.
void pack_q6_k_block(const float* x, const Grid* fitted, const GridRange& r, uint8_t* out) {
  float max_abs_d = 0.0f;
  for (int j = 0; j < 16; ++j) max_abs_d = std::max(max_abs_d, std::fabs(fitted[j].d));
  BlockQ6_K b{};
  b.d = float_to_half(max_abs_d / 127.0f);
  const float D = half_to_float(b.d);
  int c[kQKK];
  for (int j = 0; j < 16; ++j) {
    const int sc = D > 0.0f ? std::clamp(static_cast<int>(std::nearbyint(fitted[j].d / D)), -127, 127) : 0;
    b.scales[j] = static_cast<int8_t>(sc);
    codes_of_block(x + 16 * j, Grid{D * static_cast<float>(sc), 0.0f}, r, 32, 16, c + 16 * j);
  }
  uint8_t u[kQKK];
  for (int i = 0; i < kQKK; ++i) u[i] = static_cast<uint8_t>(c[i]);
  q6k_set_quants(u, b);
  std::memcpy(out, &b, sizeof(b));
}

}  // namespace

QuantizedMatrix pack_with_fitter(MatrixRef w, const QuantSpec& spec, const QuantStats& stats,
                                 const GroupFitter& fitter, ThreadPool& pool) {
  check_grid_spec(spec, w.cols);
  if (!stats.importance.empty() && static_cast<int64_t>(stats.importance.size()) != w.cols) {
    raise<InvalidArgument>("importance has {} entries for {} columns", stats.importance.size(), w.cols);
  }
  const GridLayout layout = *grid_layout(spec.type);
  const GridRange range = grid_range(layout, spec.bits);
  const int64_t rb = row_bytes(spec.type, w.cols);
  const int64_t block_bytes = type_traits(spec.type).block_bytes;
  const float* importance = stats.importance.empty() ? nullptr : stats.importance.data();
  QuantizedMatrix out;
  out.type = spec.type;
  out.data.resize(static_cast<size_t>(rb * w.rows));
  pool.parallel_for(w.rows, 1, [&](int64_t begin, int64_t end) {
    const int64_t n_sub = w.cols / layout.sub_block;
    std::vector<Grid> grids(static_cast<size_t>(n_sub));
    for (int64_t row = begin; row < end; ++row) {
      const float* x = w.data + row * w.cols;
      for (int64_t g0 = 0; g0 < w.cols; g0 += spec.group) {
        const Grid g = fitter(x + g0, importance != nullptr ? importance + g0 : nullptr, spec.group, range);
        for (int64_t s = g0 / layout.sub_block; s < (g0 + spec.group) / layout.sub_block; ++s) grids[s] = g;
      }
      uint8_t* dst = out.data.data() + row * rb;
      if (layout.k_type) {
        const int64_t subs_per_block = kQKK / layout.sub_block;
        for (int64_t sb = 0; sb < w.cols / kQKK; ++sb) {
          const Grid* block_grids = grids.data() + sb * subs_per_block;
          const float* xb = x + sb * kQKK;
          uint8_t* ob = dst + sb * block_bytes;
          switch (spec.type) {
            case GgmlType::Q2_K: pack_q2_k_block(xb, block_grids, range, ob); break;
            case GgmlType::Q3_K: pack_q3_k_block(xb, block_grids, range, ob); break;
            case GgmlType::Q4_K: pack_q45_k_block<BlockQ4_K>(xb, block_grids, range, ob); break;
            case GgmlType::Q5_K: pack_q45_k_block<BlockQ5_K>(xb, block_grids, range, ob); break;
            default: pack_q6_k_block(xb, block_grids, range, ob); break;
          }
        }
      } else {
        for (int64_t blk = 0; blk < w.cols / kQK; ++blk) {
          pack_legacy_block(spec.type, x + blk * kQK, grids[blk], range, dst + blk * block_bytes);
        }
      }
    }
  });
  return out;
}

}  // namespace tessera
