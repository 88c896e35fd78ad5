// Integer dot products of one quantized weight row with one quantized
// activation row. Activations are quantized as ggml does for the same weight
// type (Q8_0 blocks for Q4_0/Q5_0/Q8_0, Q8_1 for Q4_1/Q5_1, Q8_K for the K
// types, F16/BF16/F32 for the float types), so the products agree with
// llama.cpp's.
#pragma once

#include <cstdint>

#include "gguf/ggml_type.h"
#include "kernels/cpu_features.h"
#include "quant/quantize.h"

namespace tessera {

using DotFn = float (*)(const uint8_t* w_row, const uint8_t* x_row, int64_t n);
using Dot4Fn = void (*)(const uint8_t* w_row, const uint8_t* x_rows, int64_t x_stride, int64_t n,
                        float* out);
using Dot4x4Fn = void (*)(const uint8_t* w_rows, int64_t w_stride, const uint8_t* x_rows, int64_t x_stride,
                          int64_t n, float* out);

struct VecDotKernel {
  GgmlType weight_type;
  GgmlType activation_type;  // Q8_0, Q8_1, Q8_K, F16, BF16 or F32
  // Bytes of one quantized activation row of n floats.
  int64_t (*activation_row_bytes)(int64_t n);
  void (*quantize_activation)(const float* x, uint8_t* out, int64_t n);
  // Σ w[i] * x[i] over n elements (n a multiple of the block size).
  DotFn dot;
  // Optional: the same for 4 activation rows x_stride bytes apart, decoding
  // each weight block once; results equal four calls of dot() bit for bit.
  Dot4Fn dot4 = nullptr;
  // Optional: a tile of four weight rows (w_stride bytes apart) by four
  // activation rows (x_stride apart), out[4 * r + t]; each weight block is
  // decoded once per four tokens and each activation block prepared once per
  // four rows (the prefill shape). Equals sixteen calls of dot() bit for bit.
  Dot4x4Fn dot4x4 = nullptr;
  IsaLevel isa = IsaLevel::kScalar;  // the instruction set the kernel needs
  // Optional: llama.cpp's CPU backend computes some types with a different
  // kernel (and float order) once a batch has batched_min_tokens tokens or
  // more: its tiled K-quant matmul (Q6_K) for all of them, or its repacked
  // gemm (Q4_K) for the first n - n % batched_group tokens (the rest go to
  // its gemv, which dot follows). batched_dot / batched_dot4 reproduce that
  // order; matmul() uses them for those tokens, so prefill matches llama.cpp's
  // prefill and decode its decode.
  DotFn batched_dot = nullptr;
  Dot4Fn batched_dot4 = nullptr;
  int64_t batched_min_tokens = 0;
  int64_t batched_group = 1;
};

// The fastest kernel this CPU (capped by TESSERA_ISA) supports for a weight
// type; null only for types that are not weight types (Q8_1, Q8_K).
const VecDotKernel* find_vec_dot(GgmlType weight_type);
// The fastest kernel of at most `max_level` (tests run every path this way).
const VecDotKernel* find_vec_dot(GgmlType weight_type, IsaLevel max_level);
// The portable scalar kernel (reference for the SIMD ones), or null.
const VecDotKernel* find_vec_dot_scalar(GgmlType weight_type);

}  // namespace tessera
