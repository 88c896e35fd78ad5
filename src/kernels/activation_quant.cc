#include "kernels/activation_quant.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>

#include "core/error.h"

namespace tessera {

std::string ActivationQuant::describe() const {
  if (!enabled()) return "off";
  std::string s = "A" + std::to_string(bits) + (group == 0 ? " per-token" : " g" + std::to_string(group));
  if (clip < 1.0f) {
    char c[32];
    std::snprintf(c, sizeof c, " clip %.2f", clip);
    s += c;
  }
  return s;
}

ActivationQuant make_activation_quant(int bits, const std::string& group, double clip) {
  if (bits != 0 && (bits < 2 || bits > 8)) raise<InvalidArgument>("--act-bits must be 2 to 8 (or 0: off), got {}", bits);
  if (!(clip > 0.0 && clip <= 1.0)) raise<InvalidArgument>("--act-clip must be in (0, 1], got {}", clip);
  ActivationQuant q;
  q.bits = bits;
  q.clip = static_cast<float>(clip);
  if (group == "token") {
    q.group = 0;
  } else {
    char* end = nullptr;
    const long g = std::strtol(group.c_str(), &end, 10);
    if (group.empty() || *end != '\0' || g <= 0 || g > (1 << 20)) {
      raise<InvalidArgument>("--act-group must be a positive number of inputs or 'token', got '{}'", group);
    }
    q.group = static_cast<int>(g);
  }
  return q;
}

void fake_quantize_activations(const float* x, float* out, int64_t n_tokens, int64_t cols, const ActivationQuant& q) {
  if (!q.enabled()) {
    if (out != x) std::copy(x, x + n_tokens * cols, out);
    return;
  }
  const int64_t group = q.group == 0 ? cols : q.group;
  if (cols % group != 0) {
    raise<InvalidArgument>("activation group {} does not divide a matrix input of {} values", group, cols);
  }
  const float qmax = static_cast<float>((1 << (q.bits - 1)) - 1);  // symmetric: [-qmax, qmax]
  for (int64_t i = 0; i < n_tokens * cols; i += group) {
    float amax = 0.0f;
    for (int64_t j = 0; j < group; ++j) amax = std::max(amax, std::fabs(x[i + j]));
    const float d = q.clip * amax / qmax;
    const float inv = d > 0.0f ? 1.0f / d : 0.0f;
    for (int64_t j = 0; j < group; ++j) {
      const float code = std::clamp(std::nearbyint(x[i + j] * inv), -qmax, qmax);
      out[i + j] = code * d;
    }
  }
}

}  // namespace tessera
