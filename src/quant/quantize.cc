#include "quant/quantize.h"

#include <algorithm>
#include <cmath>
#include <cstring>

#include "quant/blocks.h"
#include "quant/half.h"

namespace tessera {

namespace {

// Shared by Q8_0 and Q8_1: quantizes one block of 32, returns d and sum(qs).
inline float quantize_block_32(const float* x, int8_t* qs, int* sum) {
  float amax = 0.0f;
  for (int j = 0; j < kQK; ++j) amax = std::max(amax, std::fabs(x[j]));
  const float d = amax / 127.0f;
  const float id = amax != 0.0f ? 127.0f / amax : 0.0f;
  int s = 0;
  for (int j = 0; j < kQK; ++j) {
    // nearbyint rounds half to even in the default rounding mode, like
    // _mm256_round_ps(_MM_ROUND_NEAREST); |x * id| <= 127 so no clamping.
    const int v = static_cast<int>(std::nearbyint(x[j] * id));
    qs[j] = static_cast<int8_t>(v);
    s += v;
  }
  *sum = s;
  return d;
}

}  // namespace

void quantize_row_q8_0(const float* x, uint8_t* out, int64_t n) {
  auto* y = reinterpret_cast<BlockQ8_0*>(out);
  for (int64_t b = 0; b < n / kQK; ++b) {
    int sum;
    y[b].d = float_to_half(quantize_block_32(x + b * kQK, y[b].qs, &sum));
  }
}

void quantize_row_q8_1(const float* x, uint8_t* out, int64_t n) {
  auto* y = reinterpret_cast<BlockQ8_1*>(out);
  for (int64_t b = 0; b < n / kQK; ++b) {
    int sum;
    const float d = quantize_block_32(x + b * kQK, y[b].qs, &sum);
    y[b].d = float_to_half(d);
    y[b].s = float_to_half(d * static_cast<float>(sum));
  }
}

void quantize_row_q8_k(const float* x, uint8_t* out, int64_t n) {
  auto* y = reinterpret_cast<BlockQ8_K*>(out);
  for (int64_t b = 0; b < n / kQKK; ++b, x += kQKK) {
    float max = 0.0f, amax = 0.0f;
    for (int j = 0; j < kQKK; ++j) {
      if (std::fabs(x[j]) > amax) {
        amax = std::fabs(x[j]);
        max = x[j];
      }
    }
    if (amax == 0.0f) {
      std::memset(&y[b], 0, sizeof(BlockQ8_K));
      continue;
    }
    // Scaling by the signed extreme maps it to exactly -127 (as ggml does).
    const float iscale = -127.0f / max;
    for (int j = 0; j < kQKK; ++j) {
      const int v = static_cast<int>(std::nearbyint(iscale * x[j]));
      y[b].qs[j] = static_cast<int8_t>(std::min(127, v));
    }
    for (int g = 0; g < kQKK / 16; ++g) {
      int sum = 0;
      for (int j = 0; j < 16; ++j) sum += y[b].qs[g * 16 + j];
      y[b].bsums[g] = static_cast<int16_t>(sum);
    }
    y[b].d = 1.0f / iscale;
  }
}

void quantize_row_f16(const float* x, uint8_t* out, int64_t n) {
  auto* y = reinterpret_cast<uint16_t*>(out);
  int64_t i = 0;
  for (; i + 8 <= n; i += 8) {
    _mm_storeu_si128(reinterpret_cast<__m128i*>(y + i),
                     _mm256_cvtps_ph(_mm256_loadu_ps(x + i), _MM_FROUND_TO_NEAREST_INT));
  }
  for (; i < n; ++i) y[i] = float_to_half(x[i]);
}

void quantize_row_bf16(const float* x, uint8_t* out, int64_t n) {
  auto* y = reinterpret_cast<uint16_t*>(out);
  for (int64_t i = 0; i < n; ++i) y[i] = float_to_bfloat(x[i]);
}

void quantize_row_f32(const float* x, uint8_t* out, int64_t n) {
  std::memcpy(out, x, static_cast<size_t>(n) * sizeof(float));
}

}  // namespace tessera
