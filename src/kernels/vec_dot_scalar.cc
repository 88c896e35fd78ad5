// Portable integer dot products: the reference every SIMD kernel is tested
// against, and the path on CPUs without AVX2.
#include <cmath>
#include <cstring>

#include "kernels/vec_dot_impl.h"
#include "quant/blocks.h"
#include "quant/dequantize.h"

namespace tessera {

void quantize_row_q8_0(const float* x, uint8_t* out, int64_t n) {
  auto* y = reinterpret_cast<BlockQ8_0*>(out);
  for (int64_t b = 0; b < n / kQK; ++b) {
    float amax = 0.0f;
    for (int j = 0; j < kQK; ++j) amax = std::max(amax, std::fabs(x[b * kQK + j]));
    const float d = amax / 127.0f;
    const float id = d != 0.0f ? 1.0f / d : 0.0f;
    y[b].d = fp32_to_fp16(d);
    for (int j = 0; j < kQK; ++j) y[b].qs[j] = static_cast<int8_t>(std::lround(x[b * kQK + j] * id));
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

namespace scalar {

float dot_q4_0(const uint8_t* wr, const uint8_t* xr, int64_t n) {
  const auto* w = reinterpret_cast<const BlockQ4_0*>(wr);
  const auto* x = reinterpret_cast<const BlockQ8_0*>(xr);
  float sum = 0.0f;
  for (int64_t b = 0; b < n / kQK; ++b) {
    int s = 0;
    for (int j = 0; j < kQK / 2; ++j) {
      s += ((w[b].qs[j] & 0xF) - 8) * x[b].qs[j] + ((w[b].qs[j] >> 4) - 8) * x[b].qs[j + 16];
    }
    sum += static_cast<float>(s) * fp16_to_fp32(w[b].d) * fp16_to_fp32(x[b].d);
  }
  return sum;
}

float dot_q4_1(const uint8_t* wr, const uint8_t* xr, int64_t n) {
  const auto* w = reinterpret_cast<const BlockQ4_1*>(wr);
  const auto* x = reinterpret_cast<const BlockQ8_0*>(xr);
  float sum = 0.0f;
  for (int64_t b = 0; b < n / kQK; ++b) {
    int s = 0, sx = 0;
    for (int j = 0; j < kQK / 2; ++j) {
      s += (w[b].qs[j] & 0xF) * x[b].qs[j] + (w[b].qs[j] >> 4) * x[b].qs[j + 16];
      sx += x[b].qs[j] + x[b].qs[j + 16];
    }
    const float dx = fp16_to_fp32(x[b].d);
    sum += static_cast<float>(s) * fp16_to_fp32(w[b].d) * dx + fp16_to_fp32(w[b].m) * dx * sx;
  }
  return sum;
}

float dot_q5_0(const uint8_t* wr, const uint8_t* xr, int64_t n) {
  const auto* w = reinterpret_cast<const BlockQ5_0*>(wr);
  const auto* x = reinterpret_cast<const BlockQ8_0*>(xr);
  float sum = 0.0f;
  for (int64_t b = 0; b < n / kQK; ++b) {
    uint32_t qh;
    std::memcpy(&qh, w[b].qh, 4);
    int s = 0;
    for (int j = 0; j < kQK / 2; ++j) {
      const int lo = ((w[b].qs[j] & 0xF) | (((qh >> j) << 4) & 0x10)) - 16;
      const int hi = ((w[b].qs[j] >> 4) | ((qh >> (j + 12)) & 0x10)) - 16;
      s += lo * x[b].qs[j] + hi * x[b].qs[j + 16];
    }
    sum += static_cast<float>(s) * fp16_to_fp32(w[b].d) * fp16_to_fp32(x[b].d);
  }
  return sum;
}

float dot_q5_1(const uint8_t* wr, const uint8_t* xr, int64_t n) {
  const auto* w = reinterpret_cast<const BlockQ5_1*>(wr);
  const auto* x = reinterpret_cast<const BlockQ8_0*>(xr);
  float sum = 0.0f;
  for (int64_t b = 0; b < n / kQK; ++b) {
    uint32_t qh;
    std::memcpy(&qh, w[b].qh, 4);
    int s = 0, sx = 0;
    for (int j = 0; j < kQK / 2; ++j) {
      const int lo = (w[b].qs[j] & 0xF) | (((qh >> j) << 4) & 0x10);
      const int hi = (w[b].qs[j] >> 4) | ((qh >> (j + 12)) & 0x10);
      s += lo * x[b].qs[j] + hi * x[b].qs[j + 16];
      sx += x[b].qs[j] + x[b].qs[j + 16];
    }
    const float dx = fp16_to_fp32(x[b].d);
    sum += static_cast<float>(s) * fp16_to_fp32(w[b].d) * dx + fp16_to_fp32(w[b].m) * dx * sx;
  }
  return sum;
}

float dot_q8_0(const uint8_t* wr, const uint8_t* xr, int64_t n) {
  const auto* w = reinterpret_cast<const BlockQ8_0*>(wr);
  const auto* x = reinterpret_cast<const BlockQ8_0*>(xr);
  float sum = 0.0f;
  for (int64_t b = 0; b < n / kQK; ++b) {
    int s = 0;
    for (int j = 0; j < kQK; ++j) s += w[b].qs[j] * x[b].qs[j];
    sum += static_cast<float>(s) * fp16_to_fp32(w[b].d) * fp16_to_fp32(x[b].d);
  }
  return sum;
}

float dot_q4_k(const uint8_t* wr, const uint8_t* xr, int64_t n) {
  const auto* w = reinterpret_cast<const BlockQ4_K*>(wr);
  const auto* x = reinterpret_cast<const BlockQ8_K*>(xr);
  float sum = 0.0f, sum_mins = 0.0f;
  for (int64_t b = 0; b < n / kQKK; ++b) {
    int sumi = 0, summ = 0;
    const uint8_t* q = w[b].qs;
    const int8_t* a = x[b].qs;
    for (int j = 0; j < 8; j += 2) {
      uint8_t sc0, m0, sc1, m1;
      q4k_scale_min(j, w[b].scales, &sc0, &m0);
      q4k_scale_min(j + 1, w[b].scales, &sc1, &m1);
      int s0 = 0, s1 = 0;
      for (int l = 0; l < 32; ++l) {
        s0 += (q[l] & 0xF) * a[l];
        s1 += (q[l] >> 4) * a[l + 32];
      }
      sumi += sc0 * s0 + sc1 * s1;
      summ += m0 * (x[b].bsums[2 * j] + x[b].bsums[2 * j + 1]) +
              m1 * (x[b].bsums[2 * j + 2] + x[b].bsums[2 * j + 3]);
      q += 32;
      a += 64;
    }
    sum = std::fma(static_cast<float>(sumi), fp16_to_fp32(w[b].d) * x[b].d, sum);
    sum_mins = std::fma(static_cast<float>(summ), fp16_to_fp32(w[b].dmin) * x[b].d, sum_mins);
  }
  return sum - sum_mins;
}

float dot_q5_k(const uint8_t* wr, const uint8_t* xr, int64_t n) {
  const auto* w = reinterpret_cast<const BlockQ5_K*>(wr);
  const auto* x = reinterpret_cast<const BlockQ8_K*>(xr);
  float sum = 0.0f;
  for (int64_t b = 0; b < n / kQKK; ++b) {
    int sumi = 0, summ = 0;
    const uint8_t* q = w[b].qs;
    const int8_t* a = x[b].qs;
    uint8_t u1 = 1, u2 = 2;
    for (int j = 0; j < 8; j += 2) {
      uint8_t sc0, m0, sc1, m1;
      q4k_scale_min(j, w[b].scales, &sc0, &m0);
      q4k_scale_min(j + 1, w[b].scales, &sc1, &m1);
      int s0 = 0, s1 = 0;
      for (int l = 0; l < 32; ++l) {
        s0 += ((q[l] & 0xF) + ((w[b].qh[l] & u1) ? 16 : 0)) * a[l];
        s1 += ((q[l] >> 4) + ((w[b].qh[l] & u2) ? 16 : 0)) * a[l + 32];
      }
      sumi += sc0 * s0 + sc1 * s1;
      summ += m0 * (x[b].bsums[2 * j] + x[b].bsums[2 * j + 1]) +
              m1 * (x[b].bsums[2 * j + 2] + x[b].bsums[2 * j + 3]);
      q += 32;
      a += 64;
      u1 = static_cast<uint8_t>(u1 << 2);
      u2 = static_cast<uint8_t>(u2 << 2);
    }
    sum += x[b].d * (fp16_to_fp32(w[b].d) * sumi - fp16_to_fp32(w[b].dmin) * summ);
  }
  return sum;
}

float dot_q6_k(const uint8_t* wr, const uint8_t* xr, int64_t n) {
  const auto* w = reinterpret_cast<const BlockQ6_K*>(wr);
  const auto* x = reinterpret_cast<const BlockQ8_K*>(xr);
  float sum = 0.0f;
  for (int64_t b = 0; b < n / kQKK; ++b) {
    int8_t q[kQKK];
    const uint8_t* ql = w[b].ql;
    const uint8_t* qh = w[b].qh;
    for (int n128 = 0; n128 < kQKK; n128 += 128) {
      for (int l = 0; l < 32; ++l) {
        q[n128 + l] = static_cast<int8_t>(((ql[l] & 0xF) | (((qh[l] >> 0) & 3) << 4)) - 32);
        q[n128 + l + 32] = static_cast<int8_t>(((ql[l + 32] & 0xF) | (((qh[l] >> 2) & 3) << 4)) - 32);
        q[n128 + l + 64] = static_cast<int8_t>(((ql[l] >> 4) | (((qh[l] >> 4) & 3) << 4)) - 32);
        q[n128 + l + 96] = static_cast<int8_t>(((ql[l + 32] >> 4) | (((qh[l] >> 6) & 3) << 4)) - 32);
      }
      ql += 64;
      qh += 32;
    }
    int sumi = 0;
    for (int g = 0; g < 16; ++g) {
      int s = 0;
      for (int l = 0; l < 16; ++l) s += q[g * 16 + l] * x[b].qs[g * 16 + l];
      sumi += w[b].scales[g] * s;
    }
    sum += fp16_to_fp32(w[b].d) * x[b].d * static_cast<float>(sumi);
  }
  return sum;
}

}  // namespace scalar
}  // namespace tessera
