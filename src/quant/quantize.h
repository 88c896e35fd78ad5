// Activation quantizers: a float row becomes the block format the integer
// kernels multiply with. Rounding follows llama.cpp's x86 build (the engine we
// compare logits with), so tessera's activations carry the same rounding:
//  - Q8_0 / Q8_1: d = amax / 127, x * (127 / amax) rounded half-to-even
//    (ggml's AVX2 quantize_row_q8_0/q8_1, which differs from its scalar
//    reference in both the reciprocal and the tie rule); Q8_1 also stores
//    s = fp16(d * sum(qs)), used by the types with a min (Q4_1, Q5_1).
//  - Q8_K: the signed extreme maps to -127, d = 1 / iscale (ggml's reference).
//  - F16 / BF16: round to nearest even (for F16 / BF16 weights).
#pragma once

#include <cstdint>

namespace tessera {

// n must be a multiple of the block size (32 for Q8_0/Q8_1, 256 for Q8_K).
void quantize_row_q8_0(const float* x, uint8_t* out, int64_t n);
void quantize_row_q8_1(const float* x, uint8_t* out, int64_t n);
void quantize_row_q8_k(const float* x, uint8_t* out, int64_t n);
void quantize_row_f16(const float* x, uint8_t* out, int64_t n);
void quantize_row_bf16(const float* x, uint8_t* out, int64_t n);
// Identity copy, so F32 weights fit the same quantize-then-dot scheme.
void quantize_row_f32(const float* x, uint8_t* out, int64_t n);

}  // namespace tessera
