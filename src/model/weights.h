// Views of a model's weight tensors inside the GGUF mapping, checked for name,
// shape and type at load time so the forward pass can trust them.
#pragma once

#include <vector>

#include "gguf/gguf_file.h"
#include "kernels/matmul.h"
#include "kernels/packed.h"
#include "model/hparams.h"

namespace tessera {

// Output biases of quantized matrices (dabc's "<stem>.qbias", docs/formats.md):
// added after the matmul, before anything else touches its output, at every
// position but a sequence's first (the calibration mean they carry skips it);
// null when the file has none (then the forward pass is exactly the unbiased one).
struct QuantBiases {
  const float* q = nullptr;
  const float* k = nullptr;
  const float* v = nullptr;
  const float* o = nullptr;
  const float* gate = nullptr;
  const float* up = nullptr;
  const float* down = nullptr;
};

struct LayerWeights {
  const float* attn_norm = nullptr;
  WeightMatrix wq, wk, wv, wo;
  const float* bq = nullptr;  // qwen2 biases
  const float* bk = nullptr;
  const float* bv = nullptr;
  const float* q_norm = nullptr;  // qwen3 / gemma3, per head_dim
  const float* k_norm = nullptr;
  const float* post_attn_norm = nullptr;  // gemma3
  const float* ffn_norm = nullptr;
  WeightMatrix w_gate, w_up, w_down;
  const float* post_ffn_norm = nullptr;  // gemma3
  QuantBiases qbias;
};

struct ModelWeights {
  WeightMatrix token_embd;  // rows = n_vocab, cols = n_embd
  WeightMatrix output;      // token_embd when tied
  const float* output_norm = nullptr;
  const float* rope_freqs = nullptr;  // llama3 RoPE frequency factors (n_rot / 2) or null
  std::vector<LayerWeights> layers;
};

// Throws FormatError naming the tensor for a missing tensor, a wrong shape or
// an unsupported type.
ModelWeights bind_weights(const GgufFile& file, const HParams& hp);

// Packs every matrix the forward pass multiplies into 16-row groups
// (kernels/packed.h) when this CPU has a packed kernel for its type and
// repack_enabled(); sets WeightMatrix::packed and returns the owners. The
// packed matrices' file pages are released (token_embd keeps its GGUF rows for
// embedding lookups, read back from the file on demand).
// With token_activation_scales (a file that asks for per-token activation
// scales), every layer matrix with one scale per row (has_row_scales) gets
// the row-scaled integer kernel instead; the output head keeps its per-block
// kernel, as the per-channel quantizer leaves it per-block.
std::vector<PackedMatrix> pack_weights(ModelWeights& w, ThreadPool& pool, bool token_activation_scales = false);

// Copies the forward pass's 1-D vectors (norms, biases, RoPE factors) out of
// the file mapping into `arena` and points w at the copies. After packing this
// keeps the forward pass off the mapping (but for embedding lookups): reading
// one small vector maps the page-cache folio around it — on a large-folio
// filesystem megabytes of the neighbouring, already packed and released
// matrices — back into the process (measured: ~72 MiB of Gemma 3 270M).
void copy_vectors(ModelWeights& w, const HParams& hp, std::vector<std::vector<float>>& arena);

}  // namespace tessera
