// Integer dot products of one quantized weight row with one quantized
// activation row. Activations are quantized as ggml does for the same weight
// type (Q8_0 blocks for the 32-element types, Q8_K for the K types), so the
// products agree with llama.cpp's.
#pragma once

#include <cstdint>

#include "gguf/ggml_type.h"

namespace tessera {

struct VecDotKernel {
  GgmlType weight_type;
  GgmlType activation_type;  // Q8_0 or Q8_K
  // Bytes of one quantized activation row of n floats.
  int64_t (*activation_row_bytes)(int64_t n);
  void (*quantize_activation)(const float* x, uint8_t* out, int64_t n);
  // Σ w[i] * x[i] over n elements (n a multiple of the block size).
  float (*dot)(const uint8_t* w_row, const uint8_t* x_row, int64_t n);
  // Optional: the same for 4 activation rows x_stride bytes apart, decoding
  // each weight block once; results equal four calls of dot() bit for bit.
  void (*dot4)(const uint8_t* w_row, const uint8_t* x_rows, int64_t x_stride, int64_t n, float* out) = nullptr;
  // Optional: four weight rows w_stride bytes apart against one activation
  // row (the decode shape); equals four calls of dot() bit for bit.
  void (*rows4)(const uint8_t* w_rows, int64_t w_stride, const uint8_t* x_row, int64_t n, float* out) = nullptr;
};

// The fastest kernel this CPU supports for a weight type, or null when the type
// has no integer kernel (the caller falls back to the float tile path).
const VecDotKernel* find_vec_dot(GgmlType weight_type);
// The portable scalar kernel (reference for the SIMD ones), or null.
const VecDotKernel* find_vec_dot_scalar(GgmlType weight_type);

// Activation quantizers (ggml's reference rounding).
void quantize_row_q8_0(const float* x, uint8_t* out, int64_t n);
void quantize_row_q8_k(const float* x, uint8_t* out, int64_t n);

}  // namespace tessera
