// Kernel functions behind find_vec_dot(); one namespace per ISA.
#pragma once

#include <cstdint>

namespace tessera {

namespace scalar {
float dot_q4_0(const uint8_t* w, const uint8_t* x, int64_t n);
float dot_q4_1(const uint8_t* w, const uint8_t* x, int64_t n);
float dot_q5_0(const uint8_t* w, const uint8_t* x, int64_t n);
float dot_q5_1(const uint8_t* w, const uint8_t* x, int64_t n);
float dot_q8_0(const uint8_t* w, const uint8_t* x, int64_t n);
float dot_q4_k(const uint8_t* w, const uint8_t* x, int64_t n);
float dot_q5_k(const uint8_t* w, const uint8_t* x, int64_t n);
float dot_q6_k(const uint8_t* w, const uint8_t* x, int64_t n);
}  // namespace scalar

namespace avx2 {
float dot_q4_0(const uint8_t* w, const uint8_t* x, int64_t n);
float dot_q5_0(const uint8_t* w, const uint8_t* x, int64_t n);
float dot_q8_0(const uint8_t* w, const uint8_t* x, int64_t n);
float dot_q4_k(const uint8_t* w, const uint8_t* x, int64_t n);
float dot_q6_k(const uint8_t* w, const uint8_t* x, int64_t n);
// Four activation rows at once (rows x_stride bytes apart), bit-identical to
// four calls of the single-row kernel.
void dot4_q4_0(const uint8_t* w, const uint8_t* x, int64_t x_stride, int64_t n, float* out);
void dot4_q5_0(const uint8_t* w, const uint8_t* x, int64_t x_stride, int64_t n, float* out);
void dot4_q8_0(const uint8_t* w, const uint8_t* x, int64_t x_stride, int64_t n, float* out);
void dot4_q4_k(const uint8_t* w, const uint8_t* x, int64_t x_stride, int64_t n, float* out);
void dot4_q6_k(const uint8_t* w, const uint8_t* x, int64_t x_stride, int64_t n, float* out);
// Four weight rows (w_stride bytes apart) against one activation row,
// bit-identical to four calls of the single-row kernel.
void rows4_q4_0(const uint8_t* w, int64_t w_stride, const uint8_t* x, int64_t n, float* out);
void rows4_q5_0(const uint8_t* w, int64_t w_stride, const uint8_t* x, int64_t n, float* out);
void rows4_q8_0(const uint8_t* w, int64_t w_stride, const uint8_t* x, int64_t n, float* out);
}  // namespace avx2

}  // namespace tessera
