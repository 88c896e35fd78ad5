// Kernel functions behind find_vec_dot(); one namespace per ISA. Within an
// ISA, dot4_X (four activation rows) equals four calls of dot_X bit for bit,
// and dot4x4_X (four weight rows by four activation rows) sixteen. The AVX-512 kernels
// keep the AVX2 kernels' lane layout and float order, so both give the same bits.
#pragma once

#include <cstdint>

namespace tessera {

namespace scalar {
float dot_q4_0(const uint8_t* w, const uint8_t* x, int64_t n);
float dot_q4_1(const uint8_t* w, const uint8_t* x, int64_t n);
float dot_q5_0(const uint8_t* w, const uint8_t* x, int64_t n);
float dot_q5_1(const uint8_t* w, const uint8_t* x, int64_t n);
float dot_q8_0(const uint8_t* w, const uint8_t* x, int64_t n);
float dot_q2_k(const uint8_t* w, const uint8_t* x, int64_t n);
float dot_q3_k(const uint8_t* w, const uint8_t* x, int64_t n);
float dot_q4_k(const uint8_t* w, const uint8_t* x, int64_t n);
float dot_q5_k(const uint8_t* w, const uint8_t* x, int64_t n);
float dot_q6_k(const uint8_t* w, const uint8_t* x, int64_t n);
float dot_f32(const uint8_t* w, const uint8_t* x, int64_t n);
float dot_f16(const uint8_t* w, const uint8_t* x, int64_t n);
float dot_bf16(const uint8_t* w, const uint8_t* x, int64_t n);
}  // namespace scalar

#define TESSERA_DECLARE_SIMD_DOTS                                                           \
  float dot_q4_0(const uint8_t* w, const uint8_t* x, int64_t n);                            \
  float dot_q5_0(const uint8_t* w, const uint8_t* x, int64_t n);                            \
  float dot_q8_0(const uint8_t* w, const uint8_t* x, int64_t n);                            \
  float dot_q4_k(const uint8_t* w, const uint8_t* x, int64_t n);                            \
  float dot_q6_k(const uint8_t* w, const uint8_t* x, int64_t n);                            \
  void dot4_q4_0(const uint8_t* w, const uint8_t* x, int64_t x_stride, int64_t n, float* out); \
  void dot4_q5_0(const uint8_t* w, const uint8_t* x, int64_t x_stride, int64_t n, float* out); \
  void dot4_q8_0(const uint8_t* w, const uint8_t* x, int64_t x_stride, int64_t n, float* out); \
  void dot4_q4_k(const uint8_t* w, const uint8_t* x, int64_t x_stride, int64_t n, float* out); \
  void dot4_q6_k(const uint8_t* w, const uint8_t* x, int64_t x_stride, int64_t n, float* out); \
  float dot_f32(const uint8_t* w, const uint8_t* x, int64_t n);                             \
  float dot_f16(const uint8_t* w, const uint8_t* x, int64_t n);                             \
  float dot_bf16(const uint8_t* w, const uint8_t* x, int64_t n);

namespace avx2 {
TESSERA_DECLARE_SIMD_DOTS
// Q4_K in the float order of ggml's x86 q4_K_8x8 gemm and Q6_K in its tiled
// matmul's, as in avx512 below.
float dot_q4_k_pairs(const uint8_t* w, const uint8_t* x, int64_t n);
void dot4_q4_k_pairs(const uint8_t* w, const uint8_t* x, int64_t x_stride, int64_t n, float* out);
float dot_q6_k_blocks(const uint8_t* w, const uint8_t* x, int64_t n);
void dot4_q6_k_blocks(const uint8_t* w, const uint8_t* x, int64_t x_stride, int64_t n, float* out);
// Q5_K in llama.cpp's x86 order and in ggml's tiled-matmul order; the AVX-512
// table has no Q5_K entry, so AVX-512 CPUs run these too (as llama.cpp does).
float dot_q5_k(const uint8_t* w, const uint8_t* x, int64_t n);
void dot4_q5_k(const uint8_t* w, const uint8_t* x, int64_t x_stride, int64_t n, float* out);
float dot_q5_k_blocks(const uint8_t* w, const uint8_t* x, int64_t n);
void dot4_q5_k_blocks(const uint8_t* w, const uint8_t* x, int64_t x_stride, int64_t n, float* out);
}  // namespace avx2

// Built with AVX-512 F/BW/VL/VNNI flags (vec_dot_avx512.cc); call only when
// cpu_features().level is kAvx512.
namespace avx512 {
TESSERA_DECLARE_SIMD_DOTS
void dot4x4_q4_0(const uint8_t* w, int64_t w_stride, const uint8_t* x, int64_t x_stride, int64_t n, float* out);
void dot4x4_q5_0(const uint8_t* w, int64_t w_stride, const uint8_t* x, int64_t x_stride, int64_t n, float* out);
void dot4x4_q8_0(const uint8_t* w, int64_t w_stride, const uint8_t* x, int64_t x_stride, int64_t n, float* out);
// Q4_K in the float order of ggml's x86 q4_K_8x8 gemm (one fma per pair of
// sub-blocks); dot4 equals four calls of dot bit for bit.
float dot_q4_k_pairs(const uint8_t* w, const uint8_t* x, int64_t n);
void dot4_q4_k_pairs(const uint8_t* w, const uint8_t* x, int64_t x_stride, int64_t n, float* out);
// Q6_K in ggml's tiled-matmul float order (block sums in integers, one fma
// per block); dot4 equals four calls of dot bit for bit.
float dot_q6_k_blocks(const uint8_t* w, const uint8_t* x, int64_t n);
void dot4_q6_k_blocks(const uint8_t* w, const uint8_t* x, int64_t x_stride, int64_t n, float* out);
}  // namespace avx512

#undef TESSERA_DECLARE_SIMD_DOTS

}  // namespace tessera
