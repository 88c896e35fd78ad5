#include "quant/dequantize.h"
#include "quant/half.h"

namespace tessera {

// (fp16_to_fp32 / fp32_to_fp16 are inline in dequantize.h.)
float bf16_to_fp32(uint16_t h) { return bfloat_to_float(h); }
uint16_t fp32_to_bf16(float f) { return float_to_bfloat(f); }

}  // namespace tessera
