// Reference (bit-exact with ggml) conversion of GGUF block formats to float.
#pragma once

#include <immintrin.h>

#include <cstdint>

#include "gguf/ggml_type.h"

namespace tessera {

// Converts n elements (a multiple of the type's block size) starting at `src`,
// which points at the first block, into dst. Results are bit-identical to
// ggml's dequantize_row_* (and so to gguf.quants.dequantize).
void dequantize_row(GgmlType type, const void* src, float* dst, int64_t n);

// fp16 / bf16 <-> fp32 as ggml converts them (round-to-nearest-even for the
// narrowing direction). The fp16 ones are inline F16C instructions: kernels
// call them once per block.
inline float fp16_to_fp32(uint16_t h) { return _cvtsh_ss(h); }
inline uint16_t fp32_to_fp16(float f) { return _cvtss_sh(f, _MM_FROUND_TO_NEAREST_INT); }
float bf16_to_fp32(uint16_t h);
uint16_t fp32_to_bf16(float f);

}  // namespace tessera
