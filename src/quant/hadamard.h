// Block-diagonal Walsh-Hadamard rotation (QuaRot / SpinQuant's incoherence
// processing): a vector of n values is cut into blocks of `block` (a power of
// two dividing n) and each block is multiplied by the normalized Sylvester
// Hadamard matrix H / sqrt(block). That matrix is orthogonal, symmetric and
// its own inverse, so for a weight matrix W (rows of n inputs)
//
//   W x = (W H) (H x)
//
// with W H stored in the file (each row rotated) and H x applied to the
// activations at run time. A channel far louder than the rest is spread over
// its whole block, which is what lets a small-group 4-bit grid hold it.
#pragma once

#include <cstdint>

namespace tessera {

// Whether `block` is a usable rotation block for rows of n values: a power of
// two, at least 2, dividing n.
bool is_rotation_block(int64_t block, int64_t n);

// x[0..n) <- blockdiag(H, ..., H) x, in place, O(n log block). Requires
// is_rotation_block(block, n) (checked by the callers that take user input).
void hadamard_rotate(float* x, int64_t n, int64_t block);

}  // namespace tessera
