// Portable integer dot products: the reference every SIMD kernel is tested
// against, and the path on CPUs without AVX2.
#include <cmath>
#include <cstring>

#include "kernels/vec_dot_impl.h"
#include "quant/blocks.h"
#include "quant/half.h"

namespace tessera {

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
    sum += static_cast<float>(s) * half_to_float(w[b].d) * half_to_float(x[b].d);
  }
  return sum;
}

// Q4_1 / Q5_1 meet Q8_1 activations: the min term uses the activation
// block's stored s = d_x * sum(qs) (fp16), as ggml's vec_dot_q4_1_q8_1.
float dot_q4_1(const uint8_t* wr, const uint8_t* xr, int64_t n) {
  const auto* w = reinterpret_cast<const BlockQ4_1*>(wr);
  const auto* x = reinterpret_cast<const BlockQ8_1*>(xr);
  float sum = 0.0f;
  for (int64_t b = 0; b < n / kQK; ++b) {
    int s = 0;
    for (int j = 0; j < kQK / 2; ++j) {
      s += (w[b].qs[j] & 0xF) * x[b].qs[j] + (w[b].qs[j] >> 4) * x[b].qs[j + 16];
    }
    sum += (half_to_float(w[b].d) * half_to_float(x[b].d)) * static_cast<float>(s) +
           half_to_float(w[b].m) * half_to_float(x[b].s);
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
    sum += static_cast<float>(s) * half_to_float(w[b].d) * half_to_float(x[b].d);
  }
  return sum;
}

float dot_q5_1(const uint8_t* wr, const uint8_t* xr, int64_t n) {
  const auto* w = reinterpret_cast<const BlockQ5_1*>(wr);
  const auto* x = reinterpret_cast<const BlockQ8_1*>(xr);
  float sum = 0.0f;
  for (int64_t b = 0; b < n / kQK; ++b) {
    uint32_t qh;
    std::memcpy(&qh, w[b].qh, 4);
    int s = 0;
    for (int j = 0; j < kQK / 2; ++j) {
      const int lo = (w[b].qs[j] & 0xF) | (((qh >> j) << 4) & 0x10);
      const int hi = (w[b].qs[j] >> 4) | ((qh >> (j + 12)) & 0x10);
      s += lo * x[b].qs[j] + hi * x[b].qs[j + 16];
    }
    sum += (half_to_float(w[b].d) * half_to_float(x[b].d)) * static_cast<float>(s) +
           half_to_float(w[b].m) * half_to_float(x[b].s);
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
    sum += static_cast<float>(s) * half_to_float(w[b].d) * half_to_float(x[b].d);
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
    sum = std::fma(static_cast<float>(sumi), half_to_float(w[b].d) * x[b].d, sum);
    sum_mins = std::fma(static_cast<float>(summ), half_to_float(w[b].dmin) * x[b].d, sum_mins);
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
    sum += x[b].d * (half_to_float(w[b].d) * sumi - half_to_float(w[b].dmin) * summ);
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
    sum += half_to_float(w[b].d) * x[b].d * static_cast<float>(sumi);
  }
  return sum;
}


// Q2_K: 2-bit weights in sixteen groups of 16, each with a 4-bit scale (low
// nibble) and a 4-bit min (high nibble); value = d * sc * q - dmin * m.
float dot_q2_k(const uint8_t* wr, const uint8_t* xr, int64_t n) {
  const auto* w = reinterpret_cast<const BlockQ2_K*>(wr);
  const auto* x = reinterpret_cast<const BlockQ8_K*>(xr);
  float sum = 0.0f;
  for (int64_t b = 0; b < n / kQKK; ++b) {
    int summs = 0;
    for (int g = 0; g < 16; ++g) summs += (w[b].scales[g] >> 4) * x[b].bsums[g];
    // Groups of 16 follow the element order: 128-element halves, then the
    // four 2-bit planes, then the two 16-byte halves of the 32 plane bytes.
    int isum = 0, g = 0;
    const int8_t* a = x[b].qs;
    for (int half128 = 0; half128 < 2; ++half128) {
      const uint8_t* q = w[b].qs + 32 * half128;
      for (int shift = 0; shift < 8; shift += 2) {
        for (int part = 0; part < 2; ++part, ++g, a += 16) {
          int s = 0;
          for (int l = 0; l < 16; ++l) s += ((q[16 * part + l] >> shift) & 3) * a[l];
          isum += (w[b].scales[g] & 0xF) * s;
        }
      }
    }
    const float dall = x[b].d * half_to_float(w[b].d);
    const float dmin = x[b].d * half_to_float(w[b].dmin);
    sum += dall * static_cast<float>(isum) - dmin * static_cast<float>(summs);
  }
  return sum;
}

// Q3_K: 3-bit weights (2 low bits in qs, the high bit in hmask, set meaning
// +0 and clear meaning -4) in sixteen groups of 16 with signed 6-bit scales.
float dot_q3_k(const uint8_t* wr, const uint8_t* xr, int64_t n) {
  const auto* w = reinterpret_cast<const BlockQ3_K*>(wr);
  const auto* x = reinterpret_cast<const BlockQ8_K*>(xr);
  float sum = 0.0f;
  for (int64_t b = 0; b < n / kQKK; ++b) {
    int scales[16];
    for (int j = 0; j < 16; ++j) {
      const int low = j < 8 ? (w[b].scales[j] & 0xF) : (w[b].scales[j - 8] >> 4);
      const int high = (w[b].scales[8 + (j % 4)] >> (2 * (j / 4))) & 3;
      scales[j] = (low | (high << 4)) - 32;
    }
    int isum = 0, g = 0;
    const int8_t* a = x[b].qs;
    uint8_t m = 1;
    for (int half128 = 0; half128 < 2; ++half128) {
      const uint8_t* q = w[b].qs + 32 * half128;
      for (int shift = 0; shift < 8; shift += 2, m = static_cast<uint8_t>(m << 1)) {
        for (int part = 0; part < 2; ++part, ++g, a += 16) {
          int s = 0;
          for (int l = 16 * part; l < 16 * part + 16; ++l) {
            const int v = ((q[l] >> shift) & 3) - ((w[b].hmask[l] & m) ? 0 : 4);
            s += v * a[l - 16 * part];
          }
          isum += scales[g] * s;
        }
      }
    }
    sum += half_to_float(w[b].d) * x[b].d * static_cast<float>(isum);
  }
  return sum;
}

// Float weight types meet activations of the same precision (as ggml: F16
// weights get F16 activations, BF16 get BF16, F32 stay F32); sums are float.
float dot_f32(const uint8_t* wr, const uint8_t* xr, int64_t n) {
  const auto* w = reinterpret_cast<const float*>(wr);
  const auto* x = reinterpret_cast<const float*>(xr);
  float sum = 0.0f;
  for (int64_t i = 0; i < n; ++i) sum += w[i] * x[i];
  return sum;
}

float dot_f16(const uint8_t* wr, const uint8_t* xr, int64_t n) {
  const auto* w = reinterpret_cast<const uint16_t*>(wr);
  const auto* x = reinterpret_cast<const uint16_t*>(xr);
  float sum = 0.0f;
  for (int64_t i = 0; i < n; ++i) sum += half_to_float(w[i]) * half_to_float(x[i]);
  return sum;
}

float dot_bf16(const uint8_t* wr, const uint8_t* xr, int64_t n) {
  const auto* w = reinterpret_cast<const uint16_t*>(wr);
  const auto* x = reinterpret_cast<const uint16_t*>(xr);
  float sum = 0.0f;
  for (int64_t i = 0; i < n; ++i) sum += bfloat_to_float(w[i]) * bfloat_to_float(x[i]);
  return sum;
}

}  // namespace scalar
}  // namespace tessera
