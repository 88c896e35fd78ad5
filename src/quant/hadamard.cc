#include "quant/hadamard.h"

#include <cmath>

namespace tessera {

namespace {

// The first three butterfly stages (half-widths 1, 2, 4) of one run of 8
// values, in registers: the strided loops below would touch memory for each.
inline void hadamard8(float* v) {
  const float a0 = v[0] + v[1], a1 = v[0] - v[1], a2 = v[2] + v[3], a3 = v[2] - v[3];
  const float a4 = v[4] + v[5], a5 = v[4] - v[5], a6 = v[6] + v[7], a7 = v[6] - v[7];
  const float b0 = a0 + a2, b1 = a1 + a3, b2 = a0 - a2, b3 = a1 - a3;
  const float b4 = a4 + a6, b5 = a5 + a7, b6 = a4 - a6, b7 = a5 - a7;
  v[0] = b0 + b4, v[1] = b1 + b5, v[2] = b2 + b6, v[3] = b3 + b7;
  v[4] = b0 - b4, v[5] = b1 - b5, v[6] = b2 - b6, v[7] = b3 - b7;
}

}  // namespace

bool is_rotation_block(int64_t block, int64_t n) {
  return block >= 2 && (block & (block - 1)) == 0 && n > 0 && n % block == 0;
}

void hadamard_rotate(float* x, int64_t n, int64_t block) {
  const float norm = 1.0f / std::sqrt(static_cast<float>(block));
  for (int64_t base = 0; base < n; base += block) {
    float* v = x + base;
    // Sylvester butterflies: after the stage of half-width h, every aligned
    // run of 2h values holds H_2h times its input.
    int64_t h = 1;
    if (block >= 8) {
      for (int64_t i = 0; i < block; i += 8) hadamard8(v + i);
      h = 8;
    }
    for (; h < block; h *= 2) {
      for (int64_t i = 0; i < block; i += 2 * h) {
        float* lo = v + i;
        float* hi = v + i + h;
        // Contiguous, independent lanes (lo and hi never overlap): vectorized.
        for (int64_t j = 0; j < h; ++j) {
          const float a = lo[j], b = hi[j];
          lo[j] = a + b;
          hi[j] = a - b;
        }
      }
    }
    for (int64_t j = 0; j < block; ++j) v[j] *= norm;
  }
}

}  // namespace tessera
