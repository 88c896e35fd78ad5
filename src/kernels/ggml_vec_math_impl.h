// Internal to kernels/ggml_vec_math*.cc: the AVX-512 halves, compiled with
// AVX-512 flags and called only when the kernel level is kAvx512.
#pragma once

#include <cstdint>

namespace tessera::detail {

// Whole 16-float vectors only: n % 16 == 0.
double ggml_softmax_exp_avx512(const float* x, float* y, int64_t n, float max);
void ggml_swiglu_avx512(const float* gate, const float* up, float* out, int64_t n);

// The constants of ggml's exp: 2^x = 2^n * p(b) with n = round(x / ln 2),
// b = x - n ln 2 (ln 2 split in two parts), p a degree-5 polynomial.
inline constexpr float kExpRound = 0x1.8p23f;  // z = x*log2e + this rounds n into z's low bits
inline constexpr float kExpLog2e = 0x1.715476p+0f;
inline constexpr float kExpLn2Hi = 0x1.62e4p-1f;
inline constexpr float kExpLn2Lo = 0x1.7f7d1cp-20f;
inline constexpr float kExpP5 = 0x1.0e4020p-7f;
inline constexpr float kExpP4 = 0x1.573e2ep-5f;
inline constexpr float kExpP3 = 0x1.555e66p-3f;
inline constexpr float kExpP2 = 0x1.fffdb6p-2f;
inline constexpr float kExpP1 = 0x1.ffffecp-1f;

}  // namespace tessera::detail
