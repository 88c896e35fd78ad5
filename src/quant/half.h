// Inline fp16 / bf16 <-> fp32 conversions for kernels' inner loops (the
// out-of-line versions in dequantize.h are the same functions for callers
// outside hot loops). Every translation unit is built with F16C.
#pragma once

#include <immintrin.h>

#include <cstdint>
#include <cstring>

namespace tessera {

// Widening is exact; narrowing rounds to nearest even, as ggml's.
inline float half_to_float(uint16_t h) { return _cvtsh_ss(h); }
inline uint16_t float_to_half(float f) { return _cvtss_sh(f, _MM_FROUND_TO_NEAREST_INT); }

inline float bfloat_to_float(uint16_t h) {
  const uint32_t bits = static_cast<uint32_t>(h) << 16;
  float f;
  std::memcpy(&f, &bits, sizeof(f));
  return f;
}

// Round to nearest even; NaN stays a (quiet) NaN, as ggml_compute_fp32_to_bf16.
inline uint16_t float_to_bfloat(float f) {
  uint32_t bits;
  std::memcpy(&bits, &f, sizeof(bits));
  if ((bits & 0x7fffffff) > 0x7f800000) return static_cast<uint16_t>((bits >> 16) | 64);
  return static_cast<uint16_t>((bits + (0x7fff + ((bits >> 16) & 1))) >> 16);
}

}  // namespace tessera
