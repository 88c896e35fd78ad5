// Quantizes a whole GGUF model with one QuantMethod: which tensors are
// quantized (2-D weight matrices; norms, biases and other vectors are copied
// as they are), which type each gets (the requested one, or a fallback where
// the row length does not fit the type), and the per-tensor error report.
#pragma once

#include <functional>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "gguf/gguf_file.h"
#include "quant/bit_allocation.h"
#include "quant/quant_method.h"
#include "quant/type_mix.h"

namespace tessera {

// GGUF key (string): "token" asks the engine for per-token activation scales
// on layer matrices with one scale per row (docs/formats.md). Absent: the
// usual per-block activation blocks.
inline constexpr const char* kActivationScalesKey = "tessera.quantize.activation_scales";

struct ModelQuantOptions {
  std::string method = "rtn";
  QuantSpec spec;                        // for the weight matrices
  std::optional<QuantSpec> embd_spec;    // token_embd / output.weight; nullopt = spec (or the mix's)
  // A named mix picks each matrix's type (spec is then its base type); not
  // with avg_bits.
  TypeMix mix = TypeMix::Uniform;
  int threads = 1;
  // alphaq: when set, each matrix other than the embeddings gets floor(avg_bits)
  // or one more grid bits (spec_for_bits, symmetric unless asym), in `order`.
  std::optional<double> avg_bits;
  // Default: the direction docs/quantization.md's ablation found best on Gemma 3 270M.
  AllocationOrder order = AllocationOrder::AlphaHighMore;
  bool asym = false;
  // With avg_bits: store the allocated bits in K types (k_spec_for_bits), each
  // bit count at its own size, instead of legacy ones (spec_for_bits, where
  // fewer than 4 bits are emulated in Q4_0 / Q4_1 at 4-bit size); a matrix
  // whose rows are not a multiple of 256 keeps the legacy type of its bits.
  // asym does not apply to the K types (each fixes it).
  bool k_types = false;
  // QuaRot-style incoherence processing: when nonzero (a power of two), every
  // layer matrix is stored as W H with H the block-diagonal normalized
  // Hadamard matrix of this block size (quant/hadamard.h), and the file says
  // so in tessera.rotation.block_size; the engine rotates each layer matrix's
  // input to match. Not for the embedding / output head.
  int64_t rotation_block = 0;
  // Per-channel weights: every layer matrix (not the embeddings / output)
  // gets one grid per output row, spec.group = the row length, written into
  // the type's blocks with equal scales (a standard file).
  bool per_channel = false;
  // With per_channel: the file asks for 8-bit activations with one scale per
  // token (kActivationScalesKey = "token"), and the engine runs its layer
  // matrices on the row-scaled integer kernels (kernels/packed.h).
  bool per_token_activations = false;
  // Calibration statistics by tensor name (eval/calibration.h); a method that
  // needs them quantizes tensors without any (the embeddings) with mse.
  const std::map<std::string, QuantStats>* stats = nullptr;
};

struct TensorReport {
  std::string name;
  std::vector<int64_t> shape;
  GgmlType source_type = GgmlType::F32;
  GgmlType type = GgmlType::F32;
  bool quantized = false;  // false: copied unchanged
  bool fell_back = false;  // the row length did not fit the requested type
  uint64_t bytes = 0;
  double rel_rmse = 0.0;   // sqrt(sum (w - w')^2 / sum w^2) of quantized matrices
  int bits = 0;            // grid bits of quantized matrices
  std::string method;      // the method that quantized it
  double alpha = 0.0;      // heavy-tail exponent, when --avg-bits computed it
};

struct ModelQuantReport {
  std::vector<TensorReport> tensors;
  uint64_t file_bytes = 0;
  uint64_t quantized_elements = 0, quantized_bytes = 0;  // over quantized matrices
  uint64_t total_elements = 0, total_bytes = 0;          // over all tensors
  double bits_per_weight() const { return total_elements ? 8.0 * total_bytes / total_elements : 0.0; }
  double matrix_bits_per_weight() const {
    return quantized_elements ? 8.0 * quantized_bytes / quantized_elements : 0.0;
  }
};

// The storage type used when `type` cannot hold rows of `cols` weights (the
// K types need multiples of 256): llama.cpp's fallbacks (Q4_K -> Q5_0), so
// file sizes compare with its mixes. nullopt when none fits either.
std::optional<QuantSpec> fallback_spec(const QuantSpec& spec, int64_t cols);

// Whether a tensor is a weight matrix to quantize (2-D "*.weight", not a norm).
bool is_quantizable_matrix(const GgufTensorInfo& t);

// Reads `in`, writes `out` atomically (temporary name, renamed at the end; no
// partial file on error). progress(done, total, name) after each tensor.
// Throws InvalidArgument / FormatError / Error with a message naming the problem.
ModelQuantReport quantize_model(const std::string& in, const std::string& out, const ModelQuantOptions& options,
                                const std::function<void(size_t, size_t, const std::string&)>& progress);

}  // namespace tessera
