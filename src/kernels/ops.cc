#include "kernels/ops.h"

#include <immintrin.h>

#include <cmath>
#include <vector>

namespace tessera {

void rms_norm(const float* x, const float* weight, float* out, int64_t n, float eps) {
  double sum = 0.0;
  // The square is rounded to float before the double accumulation, as ggml does.
  for (int64_t i = 0; i < n; ++i) sum += static_cast<double>(x[i] * x[i]);
  const float scale = 1.0f / std::sqrt(static_cast<float>(sum / static_cast<double>(n)) + eps);
  if (weight != nullptr) {
    for (int64_t i = 0; i < n; ++i) out[i] = x[i] * scale * weight[i];
  } else {
    for (int64_t i = 0; i < n; ++i) out[i] = x[i] * scale;
  }
}

void rope_angles(int64_t n_rot, int64_t pos, float freq_base, float freq_scale, const float* freq_factors,
                 float* cos_out, float* sin_out) {
  const float theta_scale = std::pow(freq_base, -2.0f / static_cast<float>(n_rot));
  float theta_extrap = static_cast<float>(pos);
  for (int64_t i = 0; i < n_rot / 2; ++i) {
    const float factor = freq_factors != nullptr ? freq_factors[i] : 1.0f;
    const float theta = freq_scale * theta_extrap / factor;
    cos_out[i] = std::cos(theta);
    sin_out[i] = std::sin(theta);
    theta_extrap *= theta_scale;
  }
}

void rope_rotate(float* x, int64_t n_rot, const float* cos_theta, const float* sin_theta, bool neox) {
  const int64_t half = n_rot / 2;
  for (int64_t i = 0; i < half; ++i) {
    const float c = cos_theta[i];
    const float s = sin_theta[i];
    const int64_t a = neox ? i : 2 * i;
    const int64_t b = neox ? i + half : 2 * i + 1;
    const float x0 = x[a];
    const float x1 = x[b];
    // ggml's rotation, as g++ contracts it there: the first product fused
    // into the add, the second rounded. Written out so this file's own
    // contraction choices cannot differ (a plain x0*c - x1*s rounded both
    // products here, and K/Q then differed from llama.cpp's by an ulp).
    x[a] = std::fma(x0, c, -(x1 * s));
    x[b] = std::fma(x0, s, x1 * c);
  }
}

void rope_inplace(float* x, int64_t head_dim, int64_t n_rot, int64_t pos, float freq_base,
                  float freq_scale, const float* freq_factors, bool neox) {
  (void)head_dim;
  std::vector<float> cos_theta(static_cast<size_t>(n_rot / 2)), sin_theta(static_cast<size_t>(n_rot / 2));
  rope_angles(n_rot, pos, freq_base, freq_scale, freq_factors, cos_theta.data(), sin_theta.data());
  rope_rotate(x, n_rot, cos_theta.data(), sin_theta.data(), neox);
}

float gelu_tanh(float x) {
  constexpr float kSqrt2OverPi = 0.79788456080286535587989211986876f;
  constexpr float kCoef = 0.044715f;
  return 0.5f * x * (1.0f + std::tanh(kSqrt2OverPi * x * (1.0f + kCoef * x * x)));
}

namespace {

// The fp16 GELU of every fp16 input. geglu_tanh rounds its input to fp16 before
// the formula and the result after it, so within ±10 the result is a function
// of the input's 16 bits: the table holds exactly what the formula gives (it is
// built with it), and a lookup replaces a libm tanh per element (ggml keeps
// the same table for the same reason).
const uint16_t* gelu_fp16_table() {
  static const std::vector<uint16_t> table = [] {
    std::vector<uint16_t> t(1 << 16);
    for (uint32_t h = 0; h < t.size(); ++h) {
      t[h] = _cvtss_sh(gelu_tanh(_cvtsh_ss(static_cast<uint16_t>(h))), 0);
    }
    return t;
  }();
  return table.data();
}

}  // namespace

void geglu_tanh(const float* gate, const float* up, float* out, int64_t n) {
  // ggml evaluates GELU through an fp16 table: input and result rounded to
  // fp16, identity beyond ±10. Matching it keeps logits next to llama.cpp's.
  const uint16_t* table = gelu_fp16_table();
  for (int64_t i = 0; i < n; ++i) {
    const float g = gate[i];
    float gelu;
    if (g <= -10.0f) gelu = 0.0f;
    else if (g >= 10.0f) gelu = g;
    else gelu = _cvtsh_ss(table[_cvtss_sh(g, 0)]);
    out[i] = gelu * up[i];
  }
}

void add_inplace(float* y, const float* x, int64_t n) {
  for (int64_t i = 0; i < n; ++i) y[i] += x[i];
}

void scale_inplace(float* x, float s, int64_t n) {
  for (int64_t i = 0; i < n; ++i) x[i] *= s;
}

void softcap_inplace(float* x, float cap, int64_t n) {
  for (int64_t i = 0; i < n; ++i) x[i] = cap * std::tanh(x[i] / cap);
}

float dot_f32_f16(const float* x, const uint16_t* y, int64_t n) {
  int64_t i = 0;
  __m256 acc0 = _mm256_setzero_ps();
  __m256 acc1 = _mm256_setzero_ps();
  for (; i + 16 <= n; i += 16) {
    const __m256 y0 = _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(y + i)));
    const __m256 y1 =
        _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(y + i + 8)));
    acc0 = _mm256_fmadd_ps(_mm256_loadu_ps(x + i), y0, acc0);
    acc1 = _mm256_fmadd_ps(_mm256_loadu_ps(x + i + 8), y1, acc1);
  }
  __m256 acc = _mm256_add_ps(acc0, acc1);
  __m128 lo = _mm_add_ps(_mm256_castps256_ps128(acc), _mm256_extractf128_ps(acc, 1));
  lo = _mm_hadd_ps(lo, lo);
  lo = _mm_hadd_ps(lo, lo);
  float sum = _mm_cvtss_f32(lo);
  for (; i < n; ++i) sum += x[i] * _cvtsh_ss(y[i]);
  return sum;
}

void axpy_f16(float a, const uint16_t* x, float* y, int64_t n) {
  int64_t i = 0;
  const __m256 va = _mm256_set1_ps(a);
  for (; i + 8 <= n; i += 8) {
    const __m256 vx = _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(x + i)));
    _mm256_storeu_ps(y + i, _mm256_fmadd_ps(va, vx, _mm256_loadu_ps(y + i)));
  }
  for (; i < n; ++i) y[i] += a * _cvtsh_ss(x[i]);
}

void f32_to_f16(const float* x, uint16_t* y, int64_t n) {
  int64_t i = 0;
  for (; i + 8 <= n; i += 8) {
    const __m128i h = _mm256_cvtps_ph(_mm256_loadu_ps(x + i), _MM_FROUND_TO_NEAREST_INT);
    _mm_storeu_si128(reinterpret_cast<__m128i*>(y + i), h);
  }
  for (; i < n; ++i) y[i] = _cvtss_sh(x[i], _MM_FROUND_TO_NEAREST_INT);
}

}  // namespace tessera
