// Byte layouts of packed groups and prepared activation rows (see packed.h),
// shared by the packing code, the scalar reference and the SIMD kernels.
//
// In every layout a "lane" is 4 consecutive weights of one row: a 64-byte
// register holds lane i of rows 0..15 at bytes 4i..4i+3, so one 4-byte
// activation broadcast and one vpdpbusd give 16 rows' partial sums. Weights are
// stored unsigned (u = q + offset); the offset times the activation block's sum
// is subtracted once per block.
//
// Legacy types, one packed block per 32 columns (lane g = columns 4g..4g+3):
//   Q4_0 (288 B): f16 d[16] | nib[4][64]: byte 4i+m of nib[k] holds u(row i,
//                 column 8k+m) in its low and u(i, 8k+4+m) in its high nibble
//   Q5_0 (352 B): as Q4_0, then u64 high[8]: bit 4i+m of high[g] is bit 4 of
//                 u(i, 4g+m)
//   Q8_0 (544 B): f16 d[16] | u[8][64]: byte 4i+m of u[g] = q(i, 4g+m) + 128
//   Q4_1 (320 B): f16 d[16] | f16 m[16] | nib[4][64] as Q4_0's; u = q (0..15)
//   Q5_1 (384 B): as Q4_1, then u64 high[8] as Q5_0's; u = q (0..31)
// K types, one packed super-block per 256 columns:
//   Q4_K (2368 B): f16 d[16] | f16 dmin[16] | u8 scale[8][16] (sub-block j,
//                  row i) | u8 min_pair[4][16][2] (mins of sub-blocks 2p, 2p+1
//                  of row i, the int16 pair a vpdpwssd multiplies) | then per
//                  32-column sub-block j: nib[4][64] as Q4_0's
//   Q5_K (2880 B): as Q4_K (the low 4 bits of u in its nibbles), then per
//                  sub-block j: u64 high[8] as Q5_0's (bit 4i+m of high[g] is
//                  bit 4 of u(i, 32j + 4g + m)); u = q (0..31)
//   Q6_K (3360 B): f16 d[16] | i8 scale_pair[8][16][2] (scales of 16-column
//                  sub-blocks 2p, 2p+1 of row i) | then per sub-block j:
//                  nib[2][64] as above (columns 16j + 8k + m, 16j + 8k + 4 + m)
//                  and high[64]: bits 2g, 2g+1 of byte 4i+m are bits 4, 5 of
//                  u(i, 16j + 4g + m); u = q + 32 (0..63)
//   Q3_K (2336 B): Q6_K's layout without the high bits: f16 d[16] |
//                  i8 scale_pair[8][16][2] (GGUF's 6-bit scale - 32) | per
//                  16-column sub-block j: nib[2][64]; u = q + 4 (0..7)
//   Q2_K (1344 B, the file's bytes): f16 d[16] | f16 dmin[16] |
//                  u8 scale_min_pair[8][16][2] (GGUF's byte of sub-blocks 2p,
//                  2p+1 of row i: scale in the low, min in the high nibble) |
//                  per 16-column sub-block j: quants[64]: bits 2g, 2g+1 of
//                  byte 4i+m are u(i, 16j + 4g + m); u = q (0..3)
// Float types (the file's bytes), per column c: the 16 rows' values (2
// bytes each, row i at byte 2i), 32 bytes; walked in blocks of 32 columns:
//   F16, BF16 (1024 B per 32 columns)
// Row-scaled legacy types (PackedScales::kRowToken: every block of a row
// carries the same d, so the group stores it once):
//   header (64 B): f32 d[16] (row i's scale)
//   then one block per 32 columns without scales: Q4_0 nib[4][64] (256 B),
//   Q8_0 u[8][64] (512 B), laid out as in the per-block groups
// Prepared activation rows (n columns):
//   legacy: i8 q[n] | f32 d[n/32] | i32 sum[n/32] (Σ q of the block)
//   legacy with mins (Q4_1, Q5_1): i8 q[n] | f32 d[n/32] | f32 s[n/32]
//           (s = d·Σq rounded to f16, as ggml's Q8_1 blocks carry it)
//   K:      i8 q[n] | f32 d[n/256] | i16 bsum[n/16] (Σ q per 16, as Q8_K) |
//           i16 sum32[n/32] (Σ q per 32) | i32 k16_start[n/16] (-32·Σ q
//           per 16: where the AVX-512 Q6_K and Q3_K tiles start their chains)
//   token:  i8 q[n] | f32 d | i32 sum (one scale and Σ q for the whole row)
//   float (F16, BF16 weights): f32 x[n], each rounded through the weights'
//           type as ggml converts activations for them, so every product
//           of a weight and an activation is exact in float
// each padded to a multiple of 64 bytes.
#pragma once

#include <cstdint>
#include <cstring>

namespace tessera::packed {

inline constexpr int64_t kQ4_0Block = 288;
inline constexpr int64_t kQ5_0Block = 352;
inline constexpr int64_t kQ8_0Block = 544;
inline constexpr int64_t kQ4_1Block = 320;
inline constexpr int64_t kQ5_1Block = 384;
inline constexpr int64_t kQ4_KBlock = 2368;
inline constexpr int64_t kQ5_KBlock = 2880;
inline constexpr int64_t kQ6_KBlock = 3360;

// Offsets inside a packed block.
inline constexpr int64_t kLegacyQuants = 32;    // after f16 d[16]
inline constexpr int64_t kQ5_0High = 32 + 256;
inline constexpr int64_t kLegacyMins = 32;          // Q4_1, Q5_1: f16 m[16] after d
inline constexpr int64_t kLegacyMinQuants = 64;     // their nibbles, after d and m
inline constexpr int64_t kQ5_1High = 64 + 256;
inline constexpr int64_t kQ4_KDmin = 32;
inline constexpr int64_t kQ4_KScales = 64;
inline constexpr int64_t kQ4_KMins = 64 + 128;
inline constexpr int64_t kQ4_KQuants = 64 + 128 + 128;
inline constexpr int64_t kQ5_KHigh = 2368;  // after Q4_K's part; 64 bytes per sub-block
inline constexpr int64_t kQ6_KScales = 32;
inline constexpr int64_t kQ6_KSubBlocks = 32 + 256;
inline constexpr int64_t kQ6_KSubBlock = 192;
inline constexpr int64_t kQ3_KBlock = 2336;
inline constexpr int64_t kQ3_KSubBlock = 128;  // after Q6_K's header (kQ6_KSubBlocks)
inline constexpr int64_t kQ2_KBlock = 1344;
inline constexpr int64_t kQ2_KDmin = 32;
inline constexpr int64_t kQ2_KScales = 64;
inline constexpr int64_t kQ2_KQuants = 64 + 256;  // 64 bytes per sub-block

inline constexpr int64_t kFloat16Column = 32;   // 16 rows x 2 bytes
inline constexpr int64_t kFloat16Block = 1024;   // 32 columns

inline constexpr int64_t kRowScaledHeader = 64;  // f32 d[16]
inline constexpr int64_t kQ4_0RowBlock = 256;
inline constexpr int64_t kQ8_0RowBlock = 512;
// Row-scaled kernels sum a whole row in int32: |Σ q·x| <= cols · 128 · 127
// (Q8_0) stays below 2^31 up to 132k columns; this limit leaves room.
inline constexpr int64_t kRowScaledMaxCols = 65536;

inline constexpr int kOffsetQ4_0 = 8;
inline constexpr int kOffsetQ5_0 = 16;
inline constexpr int kOffsetQ8_0 = 128;
inline constexpr int kOffsetQ6_K = 32;
inline constexpr int kOffsetQ3_K = 4;

// Q6_K and Q3_K share one layout and one kernel up to Q6_K's high bits.
template <bool kSixBit>
struct K16Layout {
  static constexpr int64_t kBlock = kSixBit ? kQ6_KBlock : kQ3_KBlock;
  static constexpr int64_t kSubBlock = kSixBit ? kQ6_KSubBlock : kQ3_KSubBlock;
  static constexpr int kOffset = kSixBit ? kOffsetQ6_K : kOffsetQ3_K;
  static constexpr int kOffsetLog2 = kSixBit ? 5 : 2;
};

inline int64_t round_up_64(int64_t n) { return (n + 63) / 64 * 64; }

struct LegacyRow {
  const int8_t* q;
  const float* d;
  const int32_t* sum;
};
inline LegacyRow legacy_row(const uint8_t* row, int64_t n) {
  return {reinterpret_cast<const int8_t*>(row), reinterpret_cast<const float*>(row + n),
          reinterpret_cast<const int32_t*>(row + n + 4 * (n / 32))};
}
inline int64_t legacy_row_bytes(int64_t n) { return round_up_64(n + 8 * (n / 32)); }

struct Legacy1Row {
  const int8_t* q;
  const float* d;
  const float* s;  // d·Σq of the block, through f16
};
inline Legacy1Row legacy1_row(const uint8_t* row, int64_t n) {
  return {reinterpret_cast<const int8_t*>(row), reinterpret_cast<const float*>(row + n),
          reinterpret_cast<const float*>(row + n + 4 * (n / 32))};
}

struct KRow {
  const int8_t* q;
  const float* d;
  const int16_t* bsum;   // per 16
  const int16_t* sum32;  // per 32
  const int32_t* k16_start;  // per 16: -32 · bsum
};
// Byte offsets of a prepared K row's fields: its n quants, then per super-block
// d (one float), bsum (16 int16), sum32 (8 int16), k16_start (16 int32).
struct KRowLayout {
  int64_t d, bsum, sum32, k16_start;
  explicit KRowLayout(int64_t n)
      : d(n), bsum(d + 4 * (n / 256)), sum32(bsum + 32 * (n / 256)), k16_start(sum32 + 16 * (n / 256)) {}
};
inline KRow k_row(const uint8_t* row, int64_t n) {
  const KRowLayout at(n);
  return {reinterpret_cast<const int8_t*>(row), reinterpret_cast<const float*>(row + at.d),
          reinterpret_cast<const int16_t*>(row + at.bsum), reinterpret_cast<const int16_t*>(row + at.sum32),
          reinterpret_cast<const int32_t*>(row + at.k16_start)};
}
// Bytes a K row carries per super-block after its quants (KRowLayout's fields).
inline constexpr int64_t kKRowTailPerSuperBlock = 4 + 32 + 16 + 64;
inline int64_t k_row_bytes(int64_t n) { return round_up_64(n + kKRowTailPerSuperBlock * (n / 256)); }

struct TokenRow {
  const int8_t* q;
  float d;
  int32_t sum;
};
inline TokenRow token_row(const uint8_t* row, int64_t n) {
  float d;
  int32_t sum;
  std::memcpy(&d, row + n, 4);
  std::memcpy(&sum, row + n + 4, 4);
  return {reinterpret_cast<const int8_t*>(row), d, sum};
}
inline int64_t token_row_bytes(int64_t n) { return round_up_64(n + 8); }

inline int32_t load_i32(const void* p) {
  int32_t v;
  std::memcpy(&v, p, 4);
  return v;
}

}  // namespace tessera::packed
