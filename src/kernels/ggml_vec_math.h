// Float vector routines that reproduce, bit for bit, the ones llama.cpp's CPU
// backend uses in attention and the SwiGLU activation when it is built for the
// CPU it runs on: ggml's polynomial exp (`ggml_v_expf`, not libm's expf: up to
// ~1.5 ulp apart), its SIMD softmax sum and the horizontal-sum order of its
// fp16 matmul (llamafile tinyBLAS, one SIMD accumulator per output).
//
// Why bother: tessera quantizes activations to 8 bits as llama.cpp does, and a
// one-ulp difference before such a rounding can move a value by a whole
// quantization step; with these the attention and FFN float paths are the
// same operations in the same order as llama.cpp's (docs/correctness.md).
//
// The width is that of llama.cpp's native build for this CPU: 16 lanes with
// AVX-512 (tessera's IsaLevel::kAvx512), otherwise 8 (AVX2; the scalar level
// computes the AVX2 results lane by lane).
#pragma once

#include <cstdint>

namespace tessera {

// Lanes of ggml's float SIMD vector for the kernel level in use: 16 or 8.
int ggml_lanes();

// Horizontal sum of `lanes` floats (8 or 16) in the order x86 reductions use
// in ggml: halves added lane-wise down to four, then (l0 + l2) + (l1 + l3).
float ggml_hsum(const float* v, int lanes);

// Dot product of a float vector holding fp16 values (Q rounded to fp16) with
// an fp16 vector, as llama.cpp's fp16 matmul (tinyBLAS) forms K·Q: lane i % lanes
// accumulates x[i] * y[i] with fma in order of i, then ggml_hsum. n must be a
// multiple of `lanes` (llama.cpp takes another kernel otherwise).
float ggml_dot_f16(const float* x, const uint16_t* y, int64_t n, int lanes);

// ggml_vec_soft_max_f32: y[i] = exp(x[i] - max) for i < n with ggml's
// vector exp over whole vectors of ggml_lanes() (libm expf for a tail), and
// the sum of y as ggml forms it (each vector's ggml_hsum added in double).
// -inf entries (masked) give exactly 0. y may alias x.
double ggml_softmax_exp(const float* x, float* y, int64_t n, float max);

// out[i] = silu(gate[i]) * up[i] as ggml_vec_swiglu_f32 computes it.
void ggml_swiglu(const float* gate, const float* up, float* out, int64_t n);

// One lane of ggml_v_expf, for both widths (tests check the vector code
// against these). kAvx512 variant: polynomial + scalef; AVX2: 2^n built
// from the exponent bits, with its own overflow / underflow branch.
float ggml_expf_lane_avx512(float x);
float ggml_expf_lane_avx2(float x);

}  // namespace tessera
