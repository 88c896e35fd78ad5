#include "quant/hadamard.h"

#include <cmath>

namespace tessera {

bool is_rotation_block(int64_t block, int64_t n) {
  return block >= 2 && (block & (block - 1)) == 0 && n > 0 && n % block == 0;
}

void hadamard_rotate(float* x, int64_t n, int64_t block) {
  const float norm = 1.0f / std::sqrt(static_cast<float>(block));
  for (int64_t base = 0; base < n; base += block) {
    float* v = x + base;
    // Sylvester butterflies: after the stage of half-width h, every aligned
    // run of 2h values holds H_2h times its input.
    for (int64_t h = 1; h < block; h *= 2) {
      for (int64_t i = 0; i < block; i += 2 * h) {
        for (int64_t j = i; j < i + h; ++j) {
          const float a = v[j], b = v[j + h];
          v[j] = a + b;
          v[j + h] = a - b;
        }
      }
    }
    for (int64_t j = 0; j < block; ++j) v[j] *= norm;
  }
}

}  // namespace tessera
