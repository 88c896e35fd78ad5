// Packing of GGUF rows into 16-row groups, activation preparation, the
// portable reference kernels and the registry (layouts: packed_impl.h).
#include "kernels/packed.h"

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <string_view>
#include <type_traits>
#include <vector>

#include "core/error.h"
#include "core/huge_pages.h"
#include "core/mmap_file.h"
#include "kernels/matmul.h"
#include "kernels/packed_impl.h"
#include "kernels/vec_dot.h"
#include "quant/blocks.h"
#include "quant/half.h"

namespace tessera {

namespace avx512 {
void packed_gemm_q4_0(const uint8_t*, int64_t, const uint8_t*, int64_t, int64_t, float*, int64_t, int);
void packed_gemm_q5_0(const uint8_t*, int64_t, const uint8_t*, int64_t, int64_t, float*, int64_t, int);
void packed_gemm_q8_0(const uint8_t*, int64_t, const uint8_t*, int64_t, int64_t, float*, int64_t, int);
void packed_gemm_q4_1(const uint8_t*, int64_t, const uint8_t*, int64_t, int64_t, float*, int64_t, int);
void packed_gemm_q5_1(const uint8_t*, int64_t, const uint8_t*, int64_t, int64_t, float*, int64_t, int);
void packed_gemm_q4_k(const uint8_t*, int64_t, const uint8_t*, int64_t, int64_t, float*, int64_t, int);
void packed_gemm_q5_k(const uint8_t*, int64_t, const uint8_t*, int64_t, int64_t, float*, int64_t, int);
void packed_gemm_q6_k(const uint8_t*, int64_t, const uint8_t*, int64_t, int64_t, float*, int64_t, int);
void packed_gemm_q3_k(const uint8_t*, int64_t, const uint8_t*, int64_t, int64_t, float*, int64_t, int);
void packed_gemm_q2_k(const uint8_t*, int64_t, const uint8_t*, int64_t, int64_t, float*, int64_t, int);
void packed_gemm_f16(const uint8_t*, int64_t, const uint8_t*, int64_t, int64_t, float*, int64_t, int);
void packed_gemm_bf16(const uint8_t*, int64_t, const uint8_t*, int64_t, int64_t, float*, int64_t, int);
void row_scaled_gemm_q4_0(const uint8_t*, int64_t, const uint8_t*, int64_t, int64_t, float*, int64_t, int);
void row_scaled_gemm_q8_0(const uint8_t*, int64_t, const uint8_t*, int64_t, int64_t, float*, int64_t, int);
}  // namespace avx512
namespace avx2 {
void packed_gemm_q4_0(const uint8_t*, int64_t, const uint8_t*, int64_t, int64_t, float*, int64_t, int);
void packed_gemm_q5_0(const uint8_t*, int64_t, const uint8_t*, int64_t, int64_t, float*, int64_t, int);
void packed_gemm_q8_0(const uint8_t*, int64_t, const uint8_t*, int64_t, int64_t, float*, int64_t, int);
void packed_gemm_q4_1(const uint8_t*, int64_t, const uint8_t*, int64_t, int64_t, float*, int64_t, int);
void packed_gemm_q5_1(const uint8_t*, int64_t, const uint8_t*, int64_t, int64_t, float*, int64_t, int);
void packed_gemm_q4_k(const uint8_t*, int64_t, const uint8_t*, int64_t, int64_t, float*, int64_t, int);
void packed_gemm_q5_k(const uint8_t*, int64_t, const uint8_t*, int64_t, int64_t, float*, int64_t, int);
void packed_gemm_q6_k(const uint8_t*, int64_t, const uint8_t*, int64_t, int64_t, float*, int64_t, int);
void packed_gemm_q3_k(const uint8_t*, int64_t, const uint8_t*, int64_t, int64_t, float*, int64_t, int);
void packed_gemm_q2_k(const uint8_t*, int64_t, const uint8_t*, int64_t, int64_t, float*, int64_t, int);
void packed_gemm_f16(const uint8_t*, int64_t, const uint8_t*, int64_t, int64_t, float*, int64_t, int);
void packed_gemm_bf16(const uint8_t*, int64_t, const uint8_t*, int64_t, int64_t, float*, int64_t, int);
void row_scaled_gemm_q4_0(const uint8_t*, int64_t, const uint8_t*, int64_t, int64_t, float*, int64_t, int);
void row_scaled_gemm_q8_0(const uint8_t*, int64_t, const uint8_t*, int64_t, int64_t, float*, int64_t, int);
void prepare_token_row(const float* x, uint8_t* out, int64_t n);
}  // namespace avx2

namespace {

using namespace packed;

// ---- unsigned quants of one GGUF row, per type --------------------------

// Q4_1 and Q5_1: weights d·q + m, a min per block besides the scale.
constexpr bool has_mins(GgmlType type) { return type == GgmlType::Q4_1 || type == GgmlType::Q5_1; }
constexpr bool has_fifth_bit(GgmlType type) { return type == GgmlType::Q5_0 || type == GgmlType::Q5_1; }

// In every 4- and 5-bit GGUF legacy block the 16 nibble bytes come last, the
// 5th bits (Q5_0, Q5_1: 32 bits) just before them.
int64_t gguf_nibbles_at(GgmlType type) { return type_traits(type).block_bytes - 16; }
int64_t gguf_fifth_bits_at(GgmlType type) { return type_traits(type).block_bytes - 20; }

// u(c) of the 32 columns of a legacy block (Q4_0: q + 8, Q5_0: q + 16, Q8_0: q + 128;
// Q4_1, Q5_1: q, their weights being d·q + m).
void legacy_block_quants(GgmlType type, const uint8_t* block, uint8_t u[32]) {
  if (type == GgmlType::Q8_0) {
    const auto& b = *reinterpret_cast<const BlockQ8_0*>(block);
    for (int c = 0; c < 32; ++c) u[c] = static_cast<uint8_t>(b.qs[c] + 128);
    return;
  }
  if (type != GgmlType::Q4_0 && type != GgmlType::Q4_1 && !has_fifth_bit(type)) {
    raise("legacy_block_quants: {} is not a packed legacy type", type_name(type));
  }
  const uint8_t* qs = block + gguf_nibbles_at(type);
  uint32_t qh = 0;
  if (has_fifth_bit(type)) std::memcpy(&qh, block + gguf_fifth_bits_at(type), 4);
  for (int c = 0; c < 16; ++c) {
    u[c] = static_cast<uint8_t>((qs[c] & 0x0F) | (((qh >> c) & 1) << 4));
    u[c + 16] = static_cast<uint8_t>((qs[c] >> 4) | (((qh >> (c + 16)) & 1) << 4));
  }
}

// Q6_K: u(c) = q + 32 of the 256 columns (ggml's layout: two halves of 128,
// each four runs of 32 from ql's low / high nibbles and qh's bit pairs).
void q6k_quants(const BlockQ6_K& b, uint8_t u[256]) {
  for (int half = 0; half < 2; ++half) {
    const uint8_t* ql = b.ql + 64 * half;
    const uint8_t* qh = b.qh + 32 * half;
    uint8_t* y = u + 128 * half;
    for (int l = 0; l < 32; ++l) {
      y[l] = static_cast<uint8_t>((ql[l] & 0x0F) | ((qh[l] & 3) << 4));
      y[l + 32] = static_cast<uint8_t>((ql[l + 32] & 0x0F) | (((qh[l] >> 2) & 3) << 4));
      y[l + 64] = static_cast<uint8_t>((ql[l] >> 4) | (((qh[l] >> 4) & 3) << 4));
      y[l + 96] = static_cast<uint8_t>((ql[l + 32] >> 4) | (((qh[l] >> 6) & 3) << 4));
    }
  }
}

// Q3_K: u(c) = q + 4 of the 256 columns and the sixteen scales (6-bit - 32).
// ggml's layout: two halves of 128 columns, each four runs of 32 from bit
// pairs 2s of qs[32·half + l] and bit 4·half + s of hmask[l] (set: q = pair,
// clear: q = pair - 4); scale j's low 4 bits in byte j (j < 8) or the high
// nibble of byte j - 8, its high 2 bits at bit 2·(j / 4) of byte 8 + j % 4.
void q3k_quants(const BlockQ3_K& b, uint8_t u[256], int8_t scales[16]) {
  for (int c = 0; c < 256; ++c) {
    const int half = c / 128, s = (c % 128) / 32, l = c % 32;
    const int pair = (b.qs[32 * half + l] >> (2 * s)) & 3;
    const int high = (b.hmask[l] >> (4 * half + s)) & 1;
    u[c] = static_cast<uint8_t>(pair | (high << 2));
  }
  for (int j = 0; j < 16; ++j) {
    const int low = j < 8 ? (b.scales[j] & 0x0F) : (b.scales[j - 8] >> 4);
    const int high = (b.scales[8 + j % 4] >> (2 * (j / 4))) & 3;
    scales[j] = static_cast<int8_t>((low | (high << 4)) - 32);
  }
}

// Q2_K: u(c) = q of the 256 columns. ggml's layout: two halves of 128
// columns, each four runs of 32 from bit pairs 2s of qs[32·half + l]
// (column 128·half + 32·s + l).
void q2k_quants(const BlockQ2_K& b, uint8_t u[256]) {
  for (int c = 0; c < 256; ++c) {
    const int half = c / 128, s = (c % 128) / 32, l = c % 32;
    u[c] = static_cast<uint8_t>((b.qs[32 * half + l] >> (2 * s)) & 3);
  }
}

// The inverse of q2k_quants (b.d, b.dmin and b.scales untouched).
void q2k_set_quants(const uint8_t u[256], BlockQ2_K& b) {
  std::memset(b.qs, 0, sizeof(b.qs));
  for (int c = 0; c < 256; ++c) {
    const int half = c / 128, s = (c % 128) / 32, l = c % 32;
    b.qs[32 * half + l] |= static_cast<uint8_t>((u[c] & 3) << (2 * s));
  }
}

// The inverse of q3k_quants (b.d untouched).
void q3k_set(const uint8_t u[256], const int8_t scales[16], BlockQ3_K& b) {
  std::memset(b.hmask, 0, sizeof(b.hmask));
  std::memset(b.qs, 0, sizeof(b.qs));
  std::memset(b.scales, 0, sizeof(b.scales));
  for (int c = 0; c < 256; ++c) {
    const int half = c / 128, s = (c % 128) / 32, l = c % 32;
    b.qs[32 * half + l] |= static_cast<uint8_t>((u[c] & 3) << (2 * s));
    b.hmask[l] |= static_cast<uint8_t>(((u[c] >> 2) & 1) << (4 * half + s));
  }
  for (int j = 0; j < 16; ++j) {
    const int v = scales[j] + 32;
    b.scales[j < 8 ? j : j - 8] |= static_cast<uint8_t>((v & 0x0F) << (j < 8 ? 0 : 4));
    b.scales[8 + j % 4] |= static_cast<uint8_t>(((v >> 4) & 3) << (2 * (j / 4)));
  }
}

// nib[k][4i+m] = u(i, base + 8k + m) | u(i, base + 8k + 4 + m) << 4 for n_k
// registers; u_rows[i] points at row i's unsigned quants.
void put_nibbles(const uint8_t* const* u_rows, int n_rows, int base, int n_k, uint8_t* nib) {
  for (int k = 0; k < n_k; ++k) {
    for (int i = 0; i < n_rows; ++i) {
      for (int m = 0; m < 4; ++m) {
        const uint8_t* u = u_rows[i] + base + 8 * k;
        nib[64 * k + 4 * i + m] = static_cast<uint8_t>((u[m] & 0x0F) | ((u[m + 4] & 0x0F) << 4));
      }
    }
  }
}

// Q5_0's high-bit words (packed_impl.h) of 32 columns from column `base` of
// each row's u: bit 4i+m of word g is bit 4 of u(i, base + 4g + m).
void put_high_bits(const uint8_t* const* u_rows, int n_rows, int64_t base, uint8_t* out) {
  for (int g = 0; g < 8; ++g) {
    uint64_t high = 0;
    for (int i = 0; i < n_rows; ++i) {
      for (int m = 0; m < 4; ++m) high |= static_cast<uint64_t>((u_rows[i][base + 4 * g + m] >> 4) & 1) << (4 * i + m);
    }
    std::memcpy(out + 8 * g, &high, 8);
  }
}

// Bit 4 of u(i, base + 4g + m) from put_high_bits' words.
inline int high_bit(const uint8_t* words, int i, int g, int m) {
  uint64_t high;
  std::memcpy(&high, words + 8 * g, 8);
  return static_cast<int>((high >> (4 * i + m)) & 1);
}

int64_t legacy_block_bytes(GgmlType type) {
  switch (type) {
    case GgmlType::Q4_0: return kQ4_0Block;
    case GgmlType::Q5_0: return kQ5_0Block;
    case GgmlType::Q4_1: return kQ4_1Block;
    case GgmlType::Q5_1: return kQ5_1Block;
    default: return kQ8_0Block;
  }
}

// Where a packed legacy block's quants start, and its high-bit words.
constexpr int64_t legacy_quants_at(GgmlType type) { return has_mins(type) ? kLegacyMinQuants : kLegacyQuants; }
constexpr int64_t legacy_high_at(GgmlType type) { return has_mins(type) ? kQ5_1High : kQ5_0High; }

template <GgmlType kType>
int64_t legacy_group_bytes(int64_t cols) {
  return cols / 32 * legacy_block_bytes(kType);
}

template <GgmlType kType>
void pack_legacy_group(const uint8_t* rows, int64_t row_stride, int n_rows, int64_t cols, uint8_t* out) {
  const int64_t src_block = type_traits(kType).block_bytes;
  const int64_t dst_block = legacy_block_bytes(kType);
  std::memset(out, 0, static_cast<size_t>(cols / 32 * dst_block));
  uint8_t u[kPackRows][32] = {};
  const uint8_t* u_rows[kPackRows];
  for (int i = 0; i < kPackRows; ++i) u_rows[i] = u[i];
  for (int64_t b = 0; b < cols / 32; ++b) {
    uint8_t* dst = out + b * dst_block;
    for (int i = 0; i < n_rows; ++i) {
      const uint8_t* src = rows + i * row_stride + b * src_block;
      std::memcpy(dst + 2 * i, src, 2);  // every legacy block starts with its f16 d
      if constexpr (has_mins(kType)) std::memcpy(dst + kLegacyMins + 2 * i, src + 2, 2);  // then m
      legacy_block_quants(kType, src, u[i]);
    }
    if constexpr (kType == GgmlType::Q8_0) {
      for (int g = 0; g < 8; ++g) {
        for (int i = 0; i < n_rows; ++i) std::memcpy(dst + kLegacyQuants + 64 * g + 4 * i, u[i] + 4 * g, 4);
      }
    } else {
      put_nibbles(u_rows, n_rows, 0, 4, dst + legacy_quants_at(kType));
    }
    if constexpr (has_fifth_bit(kType)) put_high_bits(u_rows, n_rows, 0, dst + legacy_high_at(kType));
  }
}

// Q4_K and Q5_K: the same scales and mins; Q5_K adds a fifth bit per weight.
template <GgmlType kType>
constexpr int64_t k45_block_bytes() {
  return kType == GgmlType::Q5_K ? kQ5_KBlock : kQ4_KBlock;
}

template <GgmlType kType>
int64_t q45k_group_bytes(int64_t cols) {
  return cols / 256 * k45_block_bytes<kType>();
}

template <GgmlType kType>
void pack_q45k_group(const uint8_t* rows, int64_t row_stride, int n_rows, int64_t cols, uint8_t* out) {
  using Block = std::conditional_t<kType == GgmlType::Q5_K, BlockQ5_K, BlockQ4_K>;
  constexpr int64_t kBlock = k45_block_bytes<kType>();
  std::memset(out, 0, static_cast<size_t>(q45k_group_bytes<kType>(cols)));
  uint8_t u[kPackRows][256] = {};
  const uint8_t* u_rows[kPackRows];
  for (int i = 0; i < kPackRows; ++i) u_rows[i] = u[i];
  for (int64_t sb = 0; sb < cols / 256; ++sb) {
    uint8_t* dst = out + sb * kBlock;
    for (int i = 0; i < n_rows; ++i) {
      const auto& b = reinterpret_cast<const Block*>(rows + i * row_stride)[sb];
      std::memcpy(dst + 2 * i, &b.d, 2);
      std::memcpy(dst + kQ4_KDmin + 2 * i, &b.dmin, 2);
      for (int j = 0; j < 8; ++j) {
        uint8_t scale, min;
        q4k_scale_min(j, b.scales, &scale, &min);
        dst[kQ4_KScales + 16 * j + i] = scale;
        dst[kQ4_KMins + 32 * (j / 2) + 2 * i + (j % 2)] = min;
        // Sub-block j: low nibbles of qs[32 (j/2) ..] for even j, high for
        // odd; Q5_K's fifth bit is bit j of qh[l].
        for (int l = 0; l < 32; ++l) {
          const uint8_t q = b.qs[32 * (j / 2) + l];
          u[i][32 * j + l] = (j % 2 == 0) ? (q & 0x0F) : (q >> 4);
          if constexpr (kType == GgmlType::Q5_K) u[i][32 * j + l] |= static_cast<uint8_t>(((b.qh[l] >> j) & 1) << 4);
        }
      }
    }
    for (int j = 0; j < 8; ++j) {
      put_nibbles(u_rows, n_rows, 32 * j, 4, dst + kQ4_KQuants + 256 * j);
      if constexpr (kType == GgmlType::Q5_K) put_high_bits(u_rows, n_rows, 32 * j, dst + kQ5_KHigh + 64 * j);
    }
  }
}

int64_t q6k_group_bytes(int64_t cols) { return cols / 256 * kQ6_KBlock; }

void pack_q6k_group(const uint8_t* rows, int64_t row_stride, int n_rows, int64_t cols, uint8_t* out) {
  std::memset(out, 0, static_cast<size_t>(q6k_group_bytes(cols)));
  uint8_t u[kPackRows][256] = {};
  const uint8_t* u_rows[kPackRows];
  for (int i = 0; i < kPackRows; ++i) u_rows[i] = u[i];
  for (int64_t sb = 0; sb < cols / 256; ++sb) {
    uint8_t* dst = out + sb * kQ6_KBlock;
    for (int i = 0; i < n_rows; ++i) {
      const auto& b = reinterpret_cast<const BlockQ6_K*>(rows + i * row_stride)[sb];
      std::memcpy(dst + 2 * i, &b.d, 2);
      for (int j = 0; j < 16; ++j) {
        std::memcpy(dst + kQ6_KScales + 32 * (j / 2) + 2 * i + (j % 2), &b.scales[j], 1);
      }
      q6k_quants(b, u[i]);
    }
    for (int j = 0; j < 16; ++j) {
      uint8_t* sub = dst + kQ6_KSubBlocks + kQ6_KSubBlock * j;
      put_nibbles(u_rows, n_rows, 16 * j, 2, sub);
      for (int i = 0; i < n_rows; ++i) {
        for (int m = 0; m < 4; ++m) {
          uint8_t high = 0;
          for (int g = 0; g < 4; ++g) high |= static_cast<uint8_t>(((u[i][16 * j + 4 * g + m] >> 4) & 3) << (2 * g));
          sub[128 + 4 * i + m] = high;
        }
      }
    }
  }
}

int64_t q2k_group_bytes(int64_t cols) { return cols / 256 * kQ2_KBlock; }

// Byte of the scale-min pair array holding sub-block j of row i.
constexpr int64_t q2k_scale_at(int i, int j) { return kQ2_KScales + 32 * (j / 2) + 2 * i + (j % 2); }

void pack_q2k_group(const uint8_t* rows, int64_t row_stride, int n_rows, int64_t cols, uint8_t* out) {
  std::memset(out, 0, static_cast<size_t>(q2k_group_bytes(cols)));
  for (int64_t sb = 0; sb < cols / 256; ++sb) {
    uint8_t* dst = out + sb * kQ2_KBlock;
    for (int i = 0; i < n_rows; ++i) {
      const auto& b = reinterpret_cast<const BlockQ2_K*>(rows + i * row_stride)[sb];
      std::memcpy(dst + 2 * i, &b.d, 2);
      std::memcpy(dst + kQ2_KDmin + 2 * i, &b.dmin, 2);
      for (int j = 0; j < 16; ++j) dst[q2k_scale_at(i, j)] = b.scales[j];
      uint8_t u[256];
      q2k_quants(b, u);
      for (int j = 0; j < 16; ++j) {
        for (int g = 0; g < 4; ++g) {
          for (int m = 0; m < 4; ++m) {
            dst[kQ2_KQuants + 64 * j + 4 * i + m] |= static_cast<uint8_t>(u[16 * j + 4 * g + m] << (2 * g));
          }
        }
      }
    }
  }
}

int64_t q3k_group_bytes(int64_t cols) { return cols / 256 * kQ3_KBlock; }

void pack_q3k_group(const uint8_t* rows, int64_t row_stride, int n_rows, int64_t cols, uint8_t* out) {
  std::memset(out, 0, static_cast<size_t>(q3k_group_bytes(cols)));
  uint8_t u[kPackRows][256] = {};
  const uint8_t* u_rows[kPackRows];
  for (int i = 0; i < kPackRows; ++i) u_rows[i] = u[i];
  for (int64_t sb = 0; sb < cols / 256; ++sb) {
    uint8_t* dst = out + sb * kQ3_KBlock;
    for (int i = 0; i < n_rows; ++i) {
      const auto& b = reinterpret_cast<const BlockQ3_K*>(rows + i * row_stride)[sb];
      std::memcpy(dst + 2 * i, &b.d, 2);
      int8_t scales[16];
      q3k_quants(b, u[i], scales);
      for (int j = 0; j < 16; ++j) std::memcpy(dst + kQ6_KScales + 32 * (j / 2) + 2 * i + (j % 2), &scales[j], 1);
    }
    for (int j = 0; j < 16; ++j) put_nibbles(u_rows, n_rows, 16 * j, 2, dst + kQ6_KSubBlocks + kQ3_KSubBlock * j);
  }
}

// ---- one packed row back to GGUF bytes (inverse of the packing above) ------

// u(row i, column 4g + m) of a 4-register nibble array (Q4 layouts).
inline int nibble_quant(const uint8_t* nib, int i, int g, int m) {
  const uint8_t byte = nib[64 * (g / 2) + 4 * i + m];
  return (g % 2 == 0) ? (byte & 0x0F) : (byte >> 4);
}

template <GgmlType kType>
void unpack_legacy_row(const uint8_t* group, int i, int64_t cols, uint8_t* out) {
  const int64_t src_block = legacy_block_bytes(kType);
  const int64_t dst_block = type_traits(kType).block_bytes;
  for (int64_t b = 0; b < cols / 32; ++b) {
    const uint8_t* blk = group + b * src_block;
    uint8_t* dst = out + b * dst_block;
    std::memcpy(dst, blk + 2 * i, 2);                                                      // d
    if constexpr (has_mins(kType)) std::memcpy(dst + 2, blk + kLegacyMins + 2 * i, 2);  // m
    uint8_t u[32];
    for (int g = 0; g < 8; ++g) {
      for (int m = 0; m < 4; ++m) {
        if constexpr (kType == GgmlType::Q8_0) {
          u[4 * g + m] = blk[kLegacyQuants + 64 * g + 4 * i + m];
        } else {
          u[4 * g + m] = static_cast<uint8_t>(nibble_quant(blk + legacy_quants_at(kType), i, g, m));
        }
        if constexpr (has_fifth_bit(kType)) {
          u[4 * g + m] |= static_cast<uint8_t>(high_bit(blk + legacy_high_at(kType), i, g, m) << 4);
        }
      }
    }
    if constexpr (kType == GgmlType::Q8_0) {
      auto& q = *reinterpret_cast<BlockQ8_0*>(dst);
      for (int c = 0; c < 32; ++c) q.qs[c] = static_cast<int8_t>(u[c] - 128);
    } else {
      uint8_t* qs = dst + gguf_nibbles_at(kType);
      for (int c = 0; c < 16; ++c) qs[c] = static_cast<uint8_t>((u[c] & 0x0F) | ((u[c + 16] & 0x0F) << 4));
      if constexpr (has_fifth_bit(kType)) {
        uint32_t qh = 0;
        for (int c = 0; c < 32; ++c) qh |= static_cast<uint32_t>((u[c] >> 4) & 1) << c;
        std::memcpy(dst + gguf_fifth_bits_at(kType), &qh, 4);
      }
    }
  }
}

template <GgmlType kType>
void unpack_q45k_row(const uint8_t* group, int i, int64_t cols, uint8_t* out) {
  using Block = std::conditional_t<kType == GgmlType::Q5_K, BlockQ5_K, BlockQ4_K>;
  for (int64_t sb = 0; sb < cols / 256; ++sb) {
    const uint8_t* blk = group + sb * k45_block_bytes<kType>();
    auto& b = reinterpret_cast<Block*>(out)[sb];
    std::memcpy(&b.d, blk + 2 * i, 2);
    std::memcpy(&b.dmin, blk + kQ4_KDmin + 2 * i, 2);
    uint8_t scale[8], min[8];
    for (int j = 0; j < 8; ++j) {
      scale[j] = blk[kQ4_KScales + 16 * j + i];
      min[j] = blk[kQ4_KMins + 32 * (j / 2) + 2 * i + (j % 2)];
    }
    q4k_set_scales_mins(scale, min, b.scales);
    std::memset(b.qs, 0, sizeof(b.qs));
    if constexpr (kType == GgmlType::Q5_K) std::memset(b.qh, 0, sizeof(b.qh));
    for (int j = 0; j < 8; ++j) {
      for (int g = 0; g < 8; ++g) {
        for (int m = 0; m < 4; ++m) {
          const int u = nibble_quant(blk + kQ4_KQuants + 256 * j, i, g, m);
          b.qs[32 * (j / 2) + 4 * g + m] |= static_cast<uint8_t>(j % 2 == 0 ? u : u << 4);
          if constexpr (kType == GgmlType::Q5_K) {
            b.qh[4 * g + m] |= static_cast<uint8_t>(high_bit(blk + kQ5_KHigh + 64 * j, i, g, m) << j);
          }
        }
      }
    }
  }
}

void unpack_q6k_row(const uint8_t* group, int i, int64_t cols, uint8_t* out) {
  for (int64_t sb = 0; sb < cols / 256; ++sb) {
    const uint8_t* blk = group + sb * kQ6_KBlock;
    auto& b = reinterpret_cast<BlockQ6_K*>(out)[sb];
    std::memcpy(&b.d, blk + 2 * i, 2);
    uint8_t u[256];
    for (int j = 0; j < 16; ++j) {
      std::memcpy(&b.scales[j], blk + kQ6_KScales + 32 * (j / 2) + 2 * i + (j % 2), 1);
      const uint8_t* sub = blk + kQ6_KSubBlocks + kQ6_KSubBlock * j;
      for (int g = 0; g < 4; ++g) {
        for (int m = 0; m < 4; ++m) {
          u[16 * j + 4 * g + m] =
              static_cast<uint8_t>(nibble_quant(sub, i, g, m) | (((sub[128 + 4 * i + m] >> (2 * g)) & 3) << 4));
        }
      }
    }
    q6k_set_quants(u, b);  // the inverse of q6k_quants
  }
}

// u(i, 16j + 4g + m) of a packed Q2_K super-block.
inline int q2k_quant(const uint8_t* blk, int i, int j, int g, int m) {
  return (blk[kQ2_KQuants + 64 * j + 4 * i + m] >> (2 * g)) & 3;
}

void unpack_q2k_row(const uint8_t* group, int i, int64_t cols, uint8_t* out) {
  for (int64_t sb = 0; sb < cols / 256; ++sb) {
    const uint8_t* blk = group + sb * kQ2_KBlock;
    auto& b = reinterpret_cast<BlockQ2_K*>(out)[sb];
    std::memcpy(&b.d, blk + 2 * i, 2);
    std::memcpy(&b.dmin, blk + kQ2_KDmin + 2 * i, 2);
    uint8_t u[256];
    for (int j = 0; j < 16; ++j) {
      b.scales[j] = blk[q2k_scale_at(i, j)];
      for (int g = 0; g < 4; ++g) {
        for (int m = 0; m < 4; ++m) u[16 * j + 4 * g + m] = static_cast<uint8_t>(q2k_quant(blk, i, j, g, m));
      }
    }
    q2k_set_quants(u, b);
  }
}

void unpack_q3k_row(const uint8_t* group, int i, int64_t cols, uint8_t* out) {
  for (int64_t sb = 0; sb < cols / 256; ++sb) {
    const uint8_t* blk = group + sb * kQ3_KBlock;
    auto& b = reinterpret_cast<BlockQ3_K*>(out)[sb];
    std::memcpy(&b.d, blk + 2 * i, 2);
    uint8_t u[256];
    int8_t scales[16];
    for (int j = 0; j < 16; ++j) {
      std::memcpy(&scales[j], blk + kQ6_KScales + 32 * (j / 2) + 2 * i + (j % 2), 1);
      const uint8_t* sub = blk + kQ6_KSubBlocks + kQ3_KSubBlock * j;
      for (int g = 0; g < 4; ++g) {
        for (int m = 0; m < 4; ++m) u[16 * j + 4 * g + m] = static_cast<uint8_t>(nibble_quant(sub, i, g, m));
      }
    }
    q3k_set(u, scales, b);
  }
}

// ---- float groups (F16, BF16) ---------------------------------------------

int64_t float16_group_bytes(int64_t cols) { return cols * kFloat16Column; }

void pack_float16_group(const uint8_t* rows, int64_t row_stride, int n_rows, int64_t cols, uint8_t* out) {
  std::memset(out, 0, static_cast<size_t>(float16_group_bytes(cols)));
  for (int i = 0; i < n_rows; ++i) {
    const uint8_t* row = rows + i * row_stride;
    for (int64_t c = 0; c < cols; ++c) std::memcpy(out + kFloat16Column * c + 2 * i, row + 2 * c, 2);
  }
}

void unpack_float16_row(const uint8_t* group, int i, int64_t cols, uint8_t* out) {
  for (int64_t c = 0; c < cols; ++c) std::memcpy(out + 2 * c, group + kFloat16Column * c + 2 * i, 2);
}

int64_t prepared_float_bytes(int64_t cols) { return round_up_64(4 * cols); }

// Activations rounded through f16 / bf16 (ggml's conversions for F16 / BF16
// weights), kept as f32.
void prepare_f16(const float* x, uint8_t* out, int64_t n) {
  auto* y = reinterpret_cast<float*>(out);
  int64_t c = 0;
  for (; c + 8 <= n; c += 8) {
    _mm256_storeu_ps(y + c, _mm256_cvtph_ps(_mm256_cvtps_ph(_mm256_loadu_ps(x + c), _MM_FROUND_TO_NEAREST_INT)));
  }
  for (; c < n; ++c) y[c] = half_to_float(float_to_half(x[c]));
}

void prepare_bf16(const float* x, uint8_t* out, int64_t n) {
  auto* y = reinterpret_cast<float*>(out);
  for (int64_t c = 0; c < n; ++c) y[c] = bfloat_to_float(float_to_bfloat(x[c]));
}

template <GgmlType kType>
float float16_weight(const uint8_t* group, int i, int64_t c) {
  uint16_t h;
  std::memcpy(&h, group + kFloat16Column * c + 2 * i, 2);
  return kType == GgmlType::F16 ? half_to_float(h) : bfloat_to_float(h);
}

template <GgmlType kType>
void scalar_gemm_float16(const uint8_t* group, int64_t cols, const uint8_t* xp, int64_t xp_stride, int64_t n_tokens,
                         float* y, int64_t y_stride, int n_rows) {
  for (int64_t t = 0; t < n_tokens; ++t) {
    const auto* x = reinterpret_cast<const float*>(xp + t * xp_stride);
    for (int i = 0; i < n_rows; ++i) {
      float even = 0.0f, odd = 0.0f;
      for (int64_t c = 0; c < cols; c += 2) {
        even = std::fma(float16_weight<kType>(group, i, c), x[c], even);
        odd = std::fma(float16_weight<kType>(group, i, c + 1), x[c + 1], odd);
      }
      y[t * y_stride + i] = even + odd;
    }
  }
}

// ---- row-scaled legacy groups (Q4_0, Q8_0 with one scale per row) ---------

template <GgmlType kType>
constexpr int64_t row_scaled_block_bytes() {
  return kType == GgmlType::Q4_0 ? kQ4_0RowBlock : kQ8_0RowBlock;
}

template <GgmlType kType>
int64_t row_scaled_group_bytes(int64_t cols) {
  return kRowScaledHeader + cols / 32 * row_scaled_block_bytes<kType>();
}

// The layout of pack_legacy_group without the per-block scales; row i's
// scale (the f16 d every one of its blocks carries: has_row_scales) goes to
// the header as f32.
template <GgmlType kType>
void pack_row_scaled_group(const uint8_t* rows, int64_t row_stride, int n_rows, int64_t cols, uint8_t* out) {
  const int64_t src_block = type_traits(kType).block_bytes;
  const int64_t dst_block = row_scaled_block_bytes<kType>();
  std::memset(out, 0, static_cast<size_t>(row_scaled_group_bytes<kType>(cols)));
  auto* d = reinterpret_cast<float*>(out);
  for (int i = 0; i < n_rows; ++i) {
    uint16_t h;
    std::memcpy(&h, rows + i * row_stride, 2);
    d[i] = half_to_float(h);
  }
  uint8_t u[kPackRows][32] = {};
  const uint8_t* u_rows[kPackRows];
  for (int i = 0; i < kPackRows; ++i) u_rows[i] = u[i];
  for (int64_t b = 0; b < cols / 32; ++b) {
    uint8_t* dst = out + kRowScaledHeader + b * dst_block;
    for (int i = 0; i < n_rows; ++i) legacy_block_quants(kType, rows + i * row_stride + b * src_block, u[i]);
    if constexpr (kType == GgmlType::Q8_0) {
      for (int g = 0; g < 8; ++g) {
        for (int i = 0; i < n_rows; ++i) std::memcpy(dst + 64 * g + 4 * i, u[i] + 4 * g, 4);
      }
    } else {
      put_nibbles(u_rows, n_rows, 0, 4, dst);
    }
  }
}

template <GgmlType kType>
void unpack_row_scaled_row(const uint8_t* group, int i, int64_t cols, uint8_t* out) {
  float d;
  std::memcpy(&d, group + 4 * i, 4);
  const uint16_t h = float_to_half(d);  // exact: d was an f16
  const int64_t src_block = row_scaled_block_bytes<kType>();
  const int64_t dst_block = type_traits(kType).block_bytes;
  for (int64_t b = 0; b < cols / 32; ++b) {
    const uint8_t* blk = group + kRowScaledHeader + b * src_block;
    uint8_t* dst = out + b * dst_block;
    std::memcpy(dst, &h, 2);
    if constexpr (kType == GgmlType::Q8_0) {
      auto& q = *reinterpret_cast<BlockQ8_0*>(dst);
      for (int g = 0; g < 8; ++g) {
        for (int m = 0; m < 4; ++m) q.qs[4 * g + m] = static_cast<int8_t>(blk[64 * g + 4 * i + m] - 128);
      }
    } else {
      uint8_t u[32];
      for (int g = 0; g < 8; ++g) {
        for (int m = 0; m < 4; ++m) u[4 * g + m] = static_cast<uint8_t>(nibble_quant(blk, i, g, m));
      }
      auto& q = *reinterpret_cast<BlockQ4_0*>(dst);
      for (int c = 0; c < 16; ++c) q.qs[c] = static_cast<uint8_t>((u[c] & 0x0F) | ((u[c + 16] & 0x0F) << 4));
    }
  }
}

// ---- prepared activations -----------------------------------------------

// Scratch of quantized activation blocks, reused per thread.
uint8_t* scratch(size_t bytes) {
  thread_local std::vector<uint8_t> buf;
  if (buf.size() < bytes) buf.resize(bytes);
  return buf.data();
}

int64_t prepared_legacy_bytes(int64_t n) { return legacy_row_bytes(n); }

void prepare_legacy(const float* x, uint8_t* out, int64_t n) {
  // Quantized exactly as the row kernels quantize for Q8_0-family weights.
  const VecDotKernel* k = find_vec_dot(GgmlType::Q8_0);
  uint8_t* blocks = scratch(static_cast<size_t>(k->activation_row_bytes(n)));
  k->quantize_activation(x, blocks, n);
  const auto* xb = reinterpret_cast<const BlockQ8_0*>(blocks);
  const int64_t nb = n / 32;
  auto* q = reinterpret_cast<int8_t*>(out);
  auto* d = reinterpret_cast<float*>(out + n);
  auto* sum = reinterpret_cast<int32_t*>(out + n + 4 * nb);
  for (int64_t b = 0; b < nb; ++b) {
    std::memcpy(q + 32 * b, xb[b].qs, 32);
    d[b] = half_to_float(xb[b].d);
    int32_t s = 0;
    for (int c = 0; c < 32; ++c) s += xb[b].qs[c];
    sum[b] = s;
  }
  std::memset(out + n + 8 * nb, 0, static_cast<size_t>(legacy_row_bytes(n) - n - 8 * nb));
}

int64_t prepared_k_bytes(int64_t n) { return k_row_bytes(n); }

void prepare_k(const float* x, uint8_t* out, int64_t n) {
  const VecDotKernel* k = find_vec_dot(GgmlType::Q4_K);
  uint8_t* blocks = scratch(static_cast<size_t>(k->activation_row_bytes(n)));
  k->quantize_activation(x, blocks, n);
  const auto* xb = reinterpret_cast<const BlockQ8_K*>(blocks);
  const int64_t nsb = n / 256;
  auto* q = reinterpret_cast<int8_t*>(out);
  const KRowLayout at(n);
  auto* d = reinterpret_cast<float*>(out + at.d);
  auto* bsum = reinterpret_cast<int16_t*>(out + at.bsum);
  auto* sum32 = reinterpret_cast<int16_t*>(out + at.sum32);
  auto* k16_start = reinterpret_cast<int32_t*>(out + at.k16_start);
  for (int64_t sb = 0; sb < nsb; ++sb) {
    std::memcpy(q + 256 * sb, xb[sb].qs, 256);
    d[sb] = xb[sb].d;
    for (int j = 0; j < 16; ++j) {
      bsum[16 * sb + j] = xb[sb].bsums[j];
      // Q6_K's offset; Q3_K's tiles hold 8·u and share it (8 · 4 = 32).
      k16_start[16 * sb + j] = -kOffsetQ6_K * xb[sb].bsums[j];
    }
    for (int j = 0; j < 8; ++j) {
      sum32[8 * sb + j] = static_cast<int16_t>(xb[sb].bsums[2 * j] + xb[sb].bsums[2 * j + 1]);
    }
  }
  const int64_t used = n + kKRowTailPerSuperBlock * nsb;
  std::memset(out + used, 0, static_cast<size_t>(k_row_bytes(n) - used));
}

// One scale per token (the row-scaled kernels' activations): d = max|x| / 127,
// q = x · (1 / d) rounded to nearest even, Σ q. The AVX2 code (packed_avx2.cc)
// is the implementation; tests hold it to this formula.
int64_t prepared_token_bytes(int64_t n) { return token_row_bytes(n); }

// ---- scalar reference kernels -------------------------------------------
// They read the packed layout byte by byte (so they test it) and follow the
// float order of packed.h.

template <GgmlType kType>
void scalar_gemm_row_scaled(const uint8_t* group, int64_t cols, const uint8_t* xp, int64_t xp_stride,
                            int64_t n_tokens, float* y, int64_t y_stride, int n_rows) {
  const int offset = kType == GgmlType::Q4_0 ? kOffsetQ4_0 : kOffsetQ8_0;
  const auto* dw = reinterpret_cast<const float*>(group);
  for (int64_t t = 0; t < n_tokens; ++t) {
    const TokenRow x = token_row(xp + t * xp_stride, cols);
    for (int i = 0; i < n_rows; ++i) {
      int32_t isum = -offset * x.sum;
      for (int64_t b = 0; b < cols / 32; ++b) {
        const uint8_t* blk = group + kRowScaledHeader + b * row_scaled_block_bytes<kType>();
        for (int g = 0; g < 8; ++g) {
          for (int m = 0; m < 4; ++m) {
            const int u = kType == GgmlType::Q8_0 ? blk[64 * g + 4 * i + m] : nibble_quant(blk, i, g, m);
            isum += u * x.q[32 * b + 4 * g + m];
          }
        }
      }
      y[t * y_stride + i] = static_cast<float>(isum) * (dw[i] * x.d);
    }
  }
}
// Q4_1 / Q5_1 activations: ggml's Q8_1 blocks (quantized as the row kernels
// quantize them), with s = d·Σq as the blocks carry it (through f16).
void prepare_legacy1(const float* x, uint8_t* out, int64_t n) {
  const VecDotKernel* k = find_vec_dot(GgmlType::Q4_1);
  uint8_t* blocks = scratch(static_cast<size_t>(k->activation_row_bytes(n)));
  k->quantize_activation(x, blocks, n);
  const auto* xb = reinterpret_cast<const BlockQ8_1*>(blocks);
  const int64_t nb = n / 32;
  auto* q = reinterpret_cast<int8_t*>(out);
  auto* d = reinterpret_cast<float*>(out + n);
  auto* s = reinterpret_cast<float*>(out + n + 4 * nb);
  for (int64_t b = 0; b < nb; ++b) {
    std::memcpy(q + 32 * b, xb[b].qs, 32);
    d[b] = half_to_float(xb[b].d);
    s[b] = half_to_float(xb[b].s);
  }
  std::memset(out + n + 8 * nb, 0, static_cast<size_t>(legacy_row_bytes(n) - n - 8 * nb));
}

// Q4_1, Q5_1: per block acc = fma(float(Σ q·x), d_w·d_x, acc);
// acc = fma(m_w, s_x, acc).
template <GgmlType kType>
void scalar_gemm_legacy1(const uint8_t* group, int64_t cols, const uint8_t* xp, int64_t xp_stride, int64_t n_tokens,
                         float* y, int64_t y_stride, int n_rows) {
  const int64_t block = legacy_block_bytes(kType);
  for (int64_t t = 0; t < n_tokens; ++t) {
    const Legacy1Row x = legacy1_row(xp + t * xp_stride, cols);
    for (int i = 0; i < n_rows; ++i) {
      float acc = 0.0f;
      for (int64_t b = 0; b < cols / 32; ++b) {
        const uint8_t* blk = group + b * block;
        int32_t isum = 0;
        for (int g = 0; g < 8; ++g) {
          for (int m = 0; m < 4; ++m) {
            int u = nibble_quant(blk + kLegacyMinQuants, i, g, m);
            if constexpr (kType == GgmlType::Q5_1) u |= high_bit(blk + kQ5_1High, i, g, m) << 4;
            isum += u * x.q[32 * b + 4 * g + m];
          }
        }
        uint16_t dw, mw;
        std::memcpy(&dw, blk + 2 * i, 2);
        std::memcpy(&mw, blk + kLegacyMins + 2 * i, 2);
        acc = std::fma(static_cast<float>(isum), half_to_float(dw) * x.d[b], acc);
        acc = std::fma(half_to_float(mw), x.s[b], acc);
      }
      y[t * y_stride + i] = acc;
    }
  }
}

template <GgmlType kType>
void scalar_gemm_legacy(const uint8_t* group, int64_t cols, const uint8_t* xp, int64_t xp_stride, int64_t n_tokens,
                        float* y, int64_t y_stride, int n_rows) {
  const int offset = kType == GgmlType::Q4_0 ? kOffsetQ4_0 : kType == GgmlType::Q5_0 ? kOffsetQ5_0 : kOffsetQ8_0;
  const int64_t block = legacy_block_bytes(kType);
  for (int64_t t = 0; t < n_tokens; ++t) {
    const LegacyRow x = legacy_row(xp + t * xp_stride, cols);
    for (int i = 0; i < n_rows; ++i) {
      float acc = 0.0f;
      for (int64_t b = 0; b < cols / 32; ++b) {
        const uint8_t* blk = group + b * block;
        int32_t isum = -offset * x.sum[b];
        for (int g = 0; g < 8; ++g) {
          for (int m = 0; m < 4; ++m) {
            int u;
            if constexpr (kType == GgmlType::Q8_0) {
              u = blk[kLegacyQuants + 64 * g + 4 * i + m];
            } else {
              u = nibble_quant(blk + kLegacyQuants, i, g, m);
            }
            if constexpr (kType == GgmlType::Q5_0) {
              uint64_t high;
              std::memcpy(&high, blk + kQ5_0High + 8 * g, 8);
              u |= static_cast<int>((high >> (4 * i + m)) & 1) << 4;
            }
            isum += u * x.q[32 * b + 4 * g + m];
          }
        }
        uint16_t dw;
        std::memcpy(&dw, blk + 2 * i, 2);
        acc = std::fma(static_cast<float>(isum), half_to_float(dw) * x.d[b], acc);
      }
      y[t * y_stride + i] = acc;
    }
  }
}

// S of one super-block (packed.h) from its terms t_j, in kSums' order.
template <KSums kSums>
class SubBlockSum {
 public:
  void add(int32_t term) {
    if constexpr (kSums == KSums::kInt32) {
      int_sum_ += term;
    } else {
      float_sum_ += static_cast<float>(term);
    }
  }
  float value() const { return kSums == KSums::kInt32 ? static_cast<float>(int_sum_) : float_sum_; }

 private:
  int32_t int_sum_ = 0;
  float float_sum_ = 0.0f;
};

// A super-block's share for row i in Q4_K's float order (packed.h), also
// Q2_K's: both keep f16 d[16] then f16 dmin[16] at the block's start.
static_assert(kQ4_KDmin == kQ2_KDmin);
inline float add_super_block(float acc, float scaled, int32_t msum, const uint8_t* blk, int i, float dx) {
  uint16_t d, dmin;
  std::memcpy(&d, blk + 2 * i, 2);
  std::memcpy(&dmin, blk + kQ4_KDmin + 2 * i, 2);
  acc = std::fma(scaled, half_to_float(d) * dx, acc);
  return std::fma(-static_cast<float>(msum), half_to_float(dmin) * dx, acc);
}

template <GgmlType kType, KSums kSums>
void scalar_gemm_q45k(const uint8_t* group, int64_t cols, const uint8_t* xp, int64_t xp_stride, int64_t n_tokens,
                      float* y, int64_t y_stride, int n_rows) {
  for (int64_t t = 0; t < n_tokens; ++t) {
    const KRow x = k_row(xp + t * xp_stride, cols);
    for (int i = 0; i < n_rows; ++i) {
      float acc = 0.0f;
      for (int64_t sb = 0; sb < cols / 256; ++sb) {
        const uint8_t* blk = group + sb * k45_block_bytes<kType>();
        const int8_t* xq = x.q + 256 * sb;
        SubBlockSum<kSums> scaled;
        int32_t msum = 0;
        for (int j = 0; j < 8; ++j) {
          int32_t s = 0;
          for (int g = 0; g < 8; ++g) {
            for (int m = 0; m < 4; ++m) {
              int u = nibble_quant(blk + kQ4_KQuants + 256 * j, i, g, m);
              if constexpr (kType == GgmlType::Q5_K) u |= high_bit(blk + kQ5_KHigh + 64 * j, i, g, m) << 4;
              s += u * xq[32 * j + 4 * g + m];
            }
          }
          scaled.add(s * blk[kQ4_KScales + 16 * j + i]);
          msum += blk[kQ4_KMins + 32 * (j / 2) + 2 * i + (j % 2)] * x.sum32[8 * sb + j];
        }
        acc = add_super_block(acc, scaled.value(), msum, blk, i, x.d[sb]);
      }
      y[t * y_stride + i] = acc;
    }
  }
}

// Q6_K (kSixBit) and Q3_K, whose layouts differ only in Q6_K's high bits.
template <bool kSixBit, KSums kSums>
void scalar_gemm_k16(const uint8_t* group, int64_t cols, const uint8_t* xp, int64_t xp_stride, int64_t n_tokens,
                     float* y, int64_t y_stride, int n_rows) {
  using Layout = K16Layout<kSixBit>;
  for (int64_t t = 0; t < n_tokens; ++t) {
    const KRow x = k_row(xp + t * xp_stride, cols);
    for (int i = 0; i < n_rows; ++i) {
      float acc = 0.0f;
      for (int64_t sb = 0; sb < cols / 256; ++sb) {
        const uint8_t* blk = group + sb * Layout::kBlock;
        const int8_t* xq = x.q + 256 * sb;
        SubBlockSum<kSums> scaled;
        for (int j = 0; j < 16; ++j) {
          const uint8_t* sub = blk + kQ6_KSubBlocks + Layout::kSubBlock * j;
          int32_t s = 0;
          for (int g = 0; g < 4; ++g) {
            for (int m = 0; m < 4; ++m) {
              int u = nibble_quant(sub, i, g, m);
              if constexpr (kSixBit) u |= ((sub[128 + 4 * i + m] >> (2 * g)) & 3) << 4;
              s += u * xq[16 * j + 4 * g + m];
            }
          }
          const int scale = static_cast<int8_t>(blk[kQ6_KScales + 32 * (j / 2) + 2 * i + (j % 2)]);
          // Each term is sc·Σ (u - offset)·x: the signed weights.
          scaled.add(scale * (s - Layout::kOffset * x.bsum[16 * sb + j]));
        }
        uint16_t d;
        std::memcpy(&d, blk + 2 * i, 2);
        const float total = scaled.value();
        acc = std::fma(total, half_to_float(d) * x.d[sb], acc);
      }
      y[t * y_stride + i] = acc;
    }
  }
}

// Q2_K: Q4_K's float order over sixteen 16-column sub-blocks (packed.h).
// Its sums never reach 2^24 (|S| <= 16 · 15 · 16 · 3 · 128 < 2^21), so the
// two KSums orders give the same bits.
template <KSums kSums>
void scalar_gemm_q2k(const uint8_t* group, int64_t cols, const uint8_t* xp, int64_t xp_stride, int64_t n_tokens,
                     float* y, int64_t y_stride, int n_rows) {
  for (int64_t t = 0; t < n_tokens; ++t) {
    const KRow x = k_row(xp + t * xp_stride, cols);
    for (int i = 0; i < n_rows; ++i) {
      float acc = 0.0f;
      for (int64_t sb = 0; sb < cols / 256; ++sb) {
        const uint8_t* blk = group + sb * kQ2_KBlock;
        const int8_t* xq = x.q + 256 * sb;
        SubBlockSum<kSums> scaled;
        int32_t msum = 0;
        for (int j = 0; j < 16; ++j) {
          int32_t s = 0;
          for (int g = 0; g < 4; ++g) {
            for (int m = 0; m < 4; ++m) s += q2k_quant(blk, i, j, g, m) * xq[16 * j + 4 * g + m];
          }
          const uint8_t scale_min = blk[q2k_scale_at(i, j)];
          scaled.add(s * (scale_min & 0x0F));
          msum += (scale_min >> 4) * x.bsum[16 * sb + j];
        }
        acc = add_super_block(acc, scaled.value(), msum, blk, i, x.d[sb]);
      }
      y[t * y_stride + i] = acc;
    }
  }
}

// ---- registry -----------------------------------------------------------

// The layout half of a kernel (group size, packing, activation preparation)
// depends only on the type; the gemm and its ISA on the implementation.
constexpr PackedKernel kernel(GgmlType type, PackedGemmFn gemm, IsaLevel isa, KSums k_sums = KSums::kInt32) {
  switch (type) {
    case GgmlType::Q4_0:
      return {type, legacy_group_bytes<GgmlType::Q4_0>, pack_legacy_group<GgmlType::Q4_0>,
              unpack_legacy_row<GgmlType::Q4_0>, prepared_legacy_bytes,
              prepare_legacy, gemm, isa};
    case GgmlType::Q5_0:
      return {type, legacy_group_bytes<GgmlType::Q5_0>, pack_legacy_group<GgmlType::Q5_0>,
              unpack_legacy_row<GgmlType::Q5_0>, prepared_legacy_bytes,
              prepare_legacy, gemm, isa};
    case GgmlType::Q8_0:
      return {type, legacy_group_bytes<GgmlType::Q8_0>, pack_legacy_group<GgmlType::Q8_0>,
              unpack_legacy_row<GgmlType::Q8_0>, prepared_legacy_bytes,
              prepare_legacy, gemm, isa};
    case GgmlType::Q4_1:
      return {type, legacy_group_bytes<GgmlType::Q4_1>, pack_legacy_group<GgmlType::Q4_1>,
              unpack_legacy_row<GgmlType::Q4_1>, prepared_legacy_bytes, prepare_legacy1, gemm, isa};
    case GgmlType::Q5_1:
      return {type, legacy_group_bytes<GgmlType::Q5_1>, pack_legacy_group<GgmlType::Q5_1>,
              unpack_legacy_row<GgmlType::Q5_1>, prepared_legacy_bytes, prepare_legacy1, gemm, isa};
    case GgmlType::Q4_K:
      return {type, q45k_group_bytes<GgmlType::Q4_K>, pack_q45k_group<GgmlType::Q4_K>,
              unpack_q45k_row<GgmlType::Q4_K>, prepared_k_bytes, prepare_k, gemm, isa, PackedScales::kBlock, k_sums};
    case GgmlType::Q5_K:
      return {type, q45k_group_bytes<GgmlType::Q5_K>, pack_q45k_group<GgmlType::Q5_K>,
              unpack_q45k_row<GgmlType::Q5_K>, prepared_k_bytes, prepare_k, gemm, isa, PackedScales::kBlock, k_sums};
    case GgmlType::F16:
      return {type, float16_group_bytes, pack_float16_group, unpack_float16_row, prepared_float_bytes, prepare_f16,
              gemm, isa};
    case GgmlType::BF16:
      return {type, float16_group_bytes, pack_float16_group, unpack_float16_row, prepared_float_bytes, prepare_bf16,
              gemm, isa};
    case GgmlType::Q2_K:
      return {type, q2k_group_bytes, pack_q2k_group, unpack_q2k_row, prepared_k_bytes, prepare_k, gemm, isa,
              PackedScales::kBlock, k_sums};
    case GgmlType::Q3_K:
      return {type, q3k_group_bytes, pack_q3k_group, unpack_q3k_row, prepared_k_bytes, prepare_k, gemm, isa,
              PackedScales::kBlock, k_sums};
    default:  // Q6_K
      return {type, q6k_group_bytes, pack_q6k_group, unpack_q6k_row, prepared_k_bytes, prepare_k, gemm, isa,
              PackedScales::kBlock, k_sums};
  }
}

template <GgmlType kType>
constexpr PackedKernel row_scaled_kernel(PackedGemmFn gemm, IsaLevel isa) {
  return {kType, row_scaled_group_bytes<kType>, pack_row_scaled_group<kType>, unpack_row_scaled_row<kType>,
          prepared_token_bytes, avx2::prepare_token_row, gemm, isa, PackedScales::kRowToken};
}

constexpr PackedKernel kRowScaledScalarKernels[] = {
    row_scaled_kernel<GgmlType::Q4_0>(scalar_gemm_row_scaled<GgmlType::Q4_0>, IsaLevel::kScalar),
    row_scaled_kernel<GgmlType::Q8_0>(scalar_gemm_row_scaled<GgmlType::Q8_0>, IsaLevel::kScalar),
};
constexpr PackedKernel kRowScaledAvx512Kernels[] = {
    row_scaled_kernel<GgmlType::Q4_0>(avx512::row_scaled_gemm_q4_0, IsaLevel::kAvx512),
    row_scaled_kernel<GgmlType::Q8_0>(avx512::row_scaled_gemm_q8_0, IsaLevel::kAvx512),
};
constexpr PackedKernel kRowScaledAvx2Kernels[] = {
    row_scaled_kernel<GgmlType::Q4_0>(avx2::row_scaled_gemm_q4_0, IsaLevel::kAvx2),
    row_scaled_kernel<GgmlType::Q8_0>(avx2::row_scaled_gemm_q8_0, IsaLevel::kAvx2),
};

constexpr PackedKernel kScalarKernels[] = {
    kernel(GgmlType::Q4_0, scalar_gemm_legacy<GgmlType::Q4_0>, IsaLevel::kScalar),
    kernel(GgmlType::Q5_0, scalar_gemm_legacy<GgmlType::Q5_0>, IsaLevel::kScalar),
    kernel(GgmlType::Q8_0, scalar_gemm_legacy<GgmlType::Q8_0>, IsaLevel::kScalar),
    kernel(GgmlType::Q4_1, scalar_gemm_legacy1<GgmlType::Q4_1>, IsaLevel::kScalar),
    kernel(GgmlType::Q5_1, scalar_gemm_legacy1<GgmlType::Q5_1>, IsaLevel::kScalar),
    kernel(GgmlType::Q4_K, scalar_gemm_q45k<GgmlType::Q4_K, KSums::kInt32>, IsaLevel::kScalar),
    kernel(GgmlType::Q5_K, scalar_gemm_q45k<GgmlType::Q5_K, KSums::kInt32>, IsaLevel::kScalar),
    kernel(GgmlType::Q6_K, scalar_gemm_k16<true, KSums::kInt32>, IsaLevel::kScalar),
    kernel(GgmlType::Q3_K, scalar_gemm_k16<false, KSums::kInt32>, IsaLevel::kScalar),
    kernel(GgmlType::Q2_K, scalar_gemm_q2k<KSums::kInt32>, IsaLevel::kScalar),
    kernel(GgmlType::F16, scalar_gemm_float16<GgmlType::F16>, IsaLevel::kScalar),
    kernel(GgmlType::BF16, scalar_gemm_float16<GgmlType::BF16>, IsaLevel::kScalar),
};
// The references of the AVX-512 K kernels' order.
constexpr PackedKernel kScalarFloatSumKernels[] = {
    kernel(GgmlType::Q4_K, scalar_gemm_q45k<GgmlType::Q4_K, KSums::kFloat>, IsaLevel::kScalar, KSums::kFloat),
    kernel(GgmlType::Q5_K, scalar_gemm_q45k<GgmlType::Q5_K, KSums::kFloat>, IsaLevel::kScalar, KSums::kFloat),
    kernel(GgmlType::Q6_K, scalar_gemm_k16<true, KSums::kFloat>, IsaLevel::kScalar, KSums::kFloat),
    kernel(GgmlType::Q3_K, scalar_gemm_k16<false, KSums::kFloat>, IsaLevel::kScalar, KSums::kFloat),
    kernel(GgmlType::Q2_K, scalar_gemm_q2k<KSums::kFloat>, IsaLevel::kScalar, KSums::kFloat),
};

constexpr PackedKernel kAvx512Kernels[] = {
    kernel(GgmlType::Q4_0, avx512::packed_gemm_q4_0, IsaLevel::kAvx512),
    kernel(GgmlType::Q5_0, avx512::packed_gemm_q5_0, IsaLevel::kAvx512),
    kernel(GgmlType::Q8_0, avx512::packed_gemm_q8_0, IsaLevel::kAvx512),
    kernel(GgmlType::Q4_1, avx512::packed_gemm_q4_1, IsaLevel::kAvx512),
    kernel(GgmlType::Q5_1, avx512::packed_gemm_q5_1, IsaLevel::kAvx512),
    kernel(GgmlType::Q4_K, avx512::packed_gemm_q4_k, IsaLevel::kAvx512, KSums::kFloat),
    kernel(GgmlType::Q5_K, avx512::packed_gemm_q5_k, IsaLevel::kAvx512, KSums::kFloat),
    kernel(GgmlType::Q6_K, avx512::packed_gemm_q6_k, IsaLevel::kAvx512, KSums::kFloat),
    kernel(GgmlType::Q3_K, avx512::packed_gemm_q3_k, IsaLevel::kAvx512, KSums::kFloat),
    kernel(GgmlType::Q2_K, avx512::packed_gemm_q2_k, IsaLevel::kAvx512, KSums::kFloat),
    kernel(GgmlType::F16, avx512::packed_gemm_f16, IsaLevel::kAvx512),
    kernel(GgmlType::BF16, avx512::packed_gemm_bf16, IsaLevel::kAvx512),
};

constexpr PackedKernel kAvx2Kernels[] = {
    kernel(GgmlType::Q4_0, avx2::packed_gemm_q4_0, IsaLevel::kAvx2),
    kernel(GgmlType::Q5_0, avx2::packed_gemm_q5_0, IsaLevel::kAvx2),
    kernel(GgmlType::Q8_0, avx2::packed_gemm_q8_0, IsaLevel::kAvx2),
    kernel(GgmlType::Q4_1, avx2::packed_gemm_q4_1, IsaLevel::kAvx2),
    kernel(GgmlType::Q5_1, avx2::packed_gemm_q5_1, IsaLevel::kAvx2),
    kernel(GgmlType::Q4_K, avx2::packed_gemm_q4_k, IsaLevel::kAvx2),
    kernel(GgmlType::Q5_K, avx2::packed_gemm_q5_k, IsaLevel::kAvx2),
    kernel(GgmlType::Q6_K, avx2::packed_gemm_q6_k, IsaLevel::kAvx2),
    kernel(GgmlType::Q3_K, avx2::packed_gemm_q3_k, IsaLevel::kAvx2),
    kernel(GgmlType::Q2_K, avx2::packed_gemm_q2_k, IsaLevel::kAvx2),
    kernel(GgmlType::F16, avx2::packed_gemm_f16, IsaLevel::kAvx2),
    kernel(GgmlType::BF16, avx2::packed_gemm_bf16, IsaLevel::kAvx2),
};

template <size_t N>
const PackedKernel* find_in(const PackedKernel (&table)[N], GgmlType type) {
  for (const PackedKernel& k : table) {
    if (k.weight_type == type) return &k;
  }
  return nullptr;
}

void free_aligned(uint8_t* p) { std::free(p); }

}  // namespace

const PackedKernel* find_packed_kernel(GgmlType type) { return find_packed_kernel(type, cpu_features().level); }

const PackedKernel* find_packed_kernel(GgmlType type, IsaLevel max_level) {
  const IsaLevel level = std::min(max_level, cpu_features().level);
  if (level >= IsaLevel::kAvx512) return find_in(kAvx512Kernels, type);
  if (level >= IsaLevel::kAvx2) return find_in(kAvx2Kernels, type);
  return nullptr;
}

const PackedKernel* find_packed_kernel_scalar(GgmlType type, KSums k_sums) {
  return k_sums == KSums::kFloat ? find_in(kScalarFloatSumKernels, type) : find_in(kScalarKernels, type);
}

const PackedKernel& packed_reference(const PackedKernel& k) {
  const PackedKernel* ref = k.scales == PackedScales::kRowToken ? find_row_scaled_kernel_scalar(k.weight_type)
                                                                : find_packed_kernel_scalar(k.weight_type, k.k_sums);
  if (ref == nullptr) raise("no packed reference kernel for {}", type_name(k.weight_type));
  return *ref;
}

const PackedKernel* find_row_scaled_kernel(GgmlType type, IsaLevel max_level) {
  const IsaLevel level = std::min(max_level, cpu_features().level);
  if (level >= IsaLevel::kAvx512) return find_in(kRowScaledAvx512Kernels, type);
  if (level >= IsaLevel::kAvx2) return find_in(kRowScaledAvx2Kernels, type);
  return nullptr;
}

const PackedKernel* find_row_scaled_kernel_scalar(GgmlType type) { return find_in(kRowScaledScalarKernels, type); }

bool has_row_scales(const WeightMatrix& w) {
  if (find_in(kRowScaledScalarKernels, w.type) == nullptr) return false;
  if (w.cols <= 0 || w.cols % 32 != 0 || w.cols > kRowScaledMaxCols || w.data == nullptr) return false;
  const int64_t block = type_traits(w.type).block_bytes;  // Q4_0 and Q8_0 blocks start with their f16 d
  for (int64_t r = 0; r < w.rows; ++r) {
    const uint8_t* row = w.data + r * w.row_stride;
    uint16_t d0;
    std::memcpy(&d0, row, 2);
    if (!std::isfinite(half_to_float(d0))) return false;
    for (int64_t b = 1; b < w.cols / 32; ++b) {
      if (std::memcmp(row + b * block, &d0, 2) != 0) return false;
    }
  }
  return true;
}

namespace {

// The checks of the matrix's type and shape every packing makes.
void check_layout(const PackedKernel& k, const WeightMatrix& w) {
  if (w.type != k.weight_type) {
    raise<InvalidArgument>("pack_matrix: a {} matrix given to the {} kernel", type_name(w.type),
                           type_name(k.weight_type));
  }
  if (!packs_columns(w)) {
    raise<InvalidArgument>("pack_matrix: {} columns is not a multiple of the {} block", w.cols, type_name(w.type));
  }
}

}  // namespace

int64_t packed_matrix_bytes(const PackedKernel& k, const WeightMatrix& w, bool row_scales_known) {
  check_layout(k, w);
  // A scan of every block's scale: checked here once, where the size is
  // settled, not again by pack_matrix_into.
  if (k.scales == PackedScales::kRowToken && !row_scales_known && !has_row_scales(w)) {
    raise<InvalidArgument>("pack_matrix: a row-scaled kernel needs one scale per row and at most {} columns",
                           kRowScaledMaxCols);
  }
  const int64_t groups = (w.rows + kPackRows - 1) / kPackRows;
  return round_up_64(groups * k.group_bytes(w.cols));
}

void pack_matrix_into(const PackedKernel& k, const WeightMatrix& w, ThreadPool& pool, uint8_t* dst,
                      bool release_source) {
  check_layout(k, w);  // the row-scale check is packed_matrix_bytes', which sized dst
  const int64_t groups = (w.rows + kPackRows - 1) / kPackRows;
  const int64_t group_bytes = k.group_bytes(w.cols);
  // Slices of about 16 MiB of source rows: the peak extra memory while packing.
  const int64_t slice = std::max<int64_t>(1, (16 << 20) / std::max<int64_t>(1, kPackRows * w.row_stride));
  for (int64_t first = 0; first < groups; first += slice) {
    const int64_t last = std::min(groups, first + slice);
    pool.parallel_for(last - first, 1, [&](int64_t begin, int64_t end) {
      for (int64_t g = first + begin; g < first + end; ++g) {
        const int n_rows = static_cast<int>(std::min<int64_t>(kPackRows, w.rows - g * kPackRows));
        k.pack_group(w.data + g * kPackRows * w.row_stride, w.row_stride, n_rows, w.cols, dst + g * group_bytes);
      }
    });
    if (release_source) {
      const int64_t begin_row = first * kPackRows;
      const int64_t end_row = std::min(w.rows, last * kPackRows);
      release_mapped_pages(w.data + begin_row * w.row_stride, static_cast<size_t>((end_row - begin_row) * w.row_stride));
    }
  }
}

PackedMatrix allocate_packed(int64_t bytes) {
  PackedMatrix m;
  m.bytes = bytes;
  uint8_t* p = allocate_huge_page_aligned(static_cast<size_t>(bytes));
  if (p == nullptr) raise("pack_matrix: out of memory for {} bytes", bytes);
  m.data = {p, free_aligned};
  return m;
}

PackedMatrix pack_matrix(const PackedKernel& k, const WeightMatrix& w, ThreadPool& pool, bool release_source) {
  PackedMatrix m = allocate_packed(packed_matrix_bytes(k, w));
  pack_matrix_into(k, w, pool, m.data.get(), release_source);
  return m;
}

const uint8_t* matrix_row_bytes(const WeightMatrix& w, int64_t row, uint8_t* buf) {
  if (w.packed == nullptr) return w.data + row * w.row_stride;
  const PackedKernel& k = *w.packed_kernel;
  k.unpack_row(w.packed + row / kPackRows * k.group_bytes(w.cols), static_cast<int>(row % kPackRows), w.cols, buf);
  return buf;
}

bool packs_columns(const WeightMatrix& w) {
  return w.cols % type_traits(w.type).block_size == 0 && w.cols % 32 == 0;
}

bool repack_enabled() {
  static const bool enabled = [] {
    const char* v = std::getenv("TESSERA_REPACK");
    return !(v != nullptr && std::string_view(v) == "0");
  }();
  return enabled && cpu_features().level >= IsaLevel::kAvx2;
}

}  // namespace tessera
