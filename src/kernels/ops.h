// Element-wise and per-row operations of the transformer forward pass. They
// follow ggml's numerics where it matters for agreement with llama.cpp
// (RMSNorm accumulates in double; RoPE angles as ggml computes them).
#pragma once

#include <cstdint>

namespace tessera {

// out[i] = x[i] / sqrt(mean(x^2) + eps) * weight[i]; out may alias x.
// weight may be null (no scaling).
void rms_norm(const float* x, const float* weight, float* out, int64_t n, float eps);

// In-place rotary embedding of one head vector of `head_dim` floats at
// position `pos`; the first n_rot dims are rotated.
//  - normal: pairs (2i, 2i+1) (llama);  neox: pairs (i, i + n_rot/2) (qwen, gemma).
// theta_i = pos * freq_scale * base^(-2i/n_rot) / freq_factors[i] (factors may be null).
void rope_inplace(float* x, int64_t head_dim, int64_t n_rot, int64_t pos, float freq_base,
                  float freq_scale, const float* freq_factors, bool neox);

// rope_inplace in two steps, for the many heads of one position: the angles'
// cosines and sines (n_rot / 2 of each) once, then each head's rotation with
// them (the same values, so the same bits as rope_inplace per head).
void rope_angles(int64_t n_rot, int64_t pos, float freq_base, float freq_scale, const float* freq_factors,
                 float* cos_out, float* sin_out);
void rope_rotate(float* x, int64_t n_rot, const float* cos_theta, const float* sin_theta, bool neox);

// (silu(gate) * up is ggml_swiglu in kernels/ggml_vec_math.h.)
// GELU, tanh approximation, in f32.
float gelu_tanh(float x);
// out[i] = gelu_tanh(gate[i]) * up[i], with gelu_tanh's input and result
// rounded to fp16 as ggml's table-driven GELU does (identity beyond ±10).
void geglu_tanh(const float* gate, const float* up, float* out, int64_t n);

// y[i] += x[i]
void add_inplace(float* y, const float* x, int64_t n);
void scale_inplace(float* x, float s, int64_t n);
// x[i] = cap * tanh(x[i] / cap)
void softcap_inplace(float* x, float cap, int64_t n);

// Dot product of a float vector with an fp16 vector (for head sizes that are
// not whole SIMD vectors; otherwise ggml_dot_f16), and y += a * fp16 vector.
float dot_f32_f16(const float* x, const uint16_t* y, int64_t n);
void axpy_f16(float a, const uint16_t* x, float* y, int64_t n);
// fp32 -> fp16 conversion of a vector (round to nearest even).
void f32_to_f16(const float* x, uint16_t* y, int64_t n);

}  // namespace tessera
