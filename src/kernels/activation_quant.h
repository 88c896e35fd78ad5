// Activation quantization as the W8A8 / W4A4 literature defines it: the input
// of every layer matrix rounded to a symmetric `bits`-bit grid, with one scale
// per group of `group` consecutive inputs or one per token (group 0).
//
// This is a quality model, applied as a fake quantization (round to the grid,
// back to float) in front of the normal matmul: those kernels then quantize
// the already-rounded values to their own 8-bit blocks (Q8_0 / Q8_K, 32 or
// 256 per scale), which adds an 8-bit rounding of at most 1/254 of a block's
// range -- small against a 4-bit step (1/14 of the range) and the same order
// as the A8 rows' own error. On AVX2 and AVX-512 VNNI a 4-bit activation would
// be unpacked to bytes for the same vpmaddubsw / vpdpbusd the A8 kernels run,
// so it has no arithmetic to save (docs/quantization.md).
#pragma once

#include <cstdint>
#include <string>

namespace tessera {

struct ActivationQuant {
  int bits = 0;    // 0: off (the kernels' own 8-bit blocks only); else 2..8
  int group = 32;  // inputs per scale; 0 = one scale per token
  // The grid spans clip x the group's largest |x| (QuaRot clips activations
  // at 0.9): a tighter grid for the many at the cost of clamping the few.
  float clip = 1.0f;
  bool enabled() const { return bits != 0; }
  std::string describe() const;  // "off", "A4 g32", "A8 per-token", "A4 g32 clip 0.90"
};

// Validates (InvalidArgument naming the flag): bits 0 or 2..8; group 0 or a
// positive number; 0 < clip <= 1. Group must divide the row length, checked
// per matmul.
ActivationQuant make_activation_quant(int bits, const std::string& group, double clip = 1.0);

// out = x rounded to the grid, row by row (n_tokens rows of cols). out may be x.
// Throws InvalidArgument when the group does not divide cols.
void fake_quantize_activations(const float* x, float* out, int64_t n_tokens, int64_t cols, const ActivationQuant& q);

}  // namespace tessera
