// The QuantMethod seam (../shared/design.md): how one weight matrix becomes
// blocks of a standard GGUF type. A method sees the float matrix, the storage
// request and optional statistics, and returns the packed rows plus any extra
// tensors it needs beside them. Methods live one per file (method_*.cc) and
// are found by name through the registry (quant_registry.cc).
#pragma once

#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "gguf/ggml_type.h"

namespace tessera {

class ThreadPool;

// A row-major float matrix: `rows` output channels of `cols` inputs each
// (GGUF's ne[0] = cols is the contiguous dimension).
struct MatrixRef {
  const float* data = nullptr;
  int64_t rows = 0;
  int64_t cols = 0;
};

// How the matrix is stored.
struct QuantSpec {
  GgmlType type = GgmlType::Q4_0;  // storage block type
  int bits = 4;                    // grid bits; fewer than the type's code bits emulates a coarser grid
  int group = 32;                  // weights of a row sharing one scale: a multiple of the type's sub-block
  bool symmetric = true;           // x = d*q (true) or x = d*q + m; fixed by the type, see grid_layout()
};

// Statistics a method may use; every field is optional (empty = not available).
struct QuantStats {
  // Per input column (size cols): how much an error in that column costs,
  // e.g. the mean squared activation over calibration text (llama.cpp's imatrix).
  std::vector<float> importance;
  // Mean outer product of the inputs, E[x x^T] (cols x cols, row-major,
  // symmetric): the Hessian of the layer's output error (GPTQ). Shared between
  // the matrices that read the same input (q/k/v, gate/up).
  std::shared_ptr<const std::vector<float>> hessian;
  // Per input column (size cols): the mean input E[x] over calibration text.
  // dabc turns the expected effect of its quantization error into an output
  // bias with it.
  std::vector<float> mean;
};

// A tensor written beside the quantized matrix (always F32), named
// "<matrix name without .weight>.<suffix>"; docs/formats.md lists the suffixes.
struct ExtraTensor {
  std::string suffix;
  std::vector<int64_t> shape;
  std::vector<float> values;
};

struct QuantizedMatrix {
  GgmlType type = GgmlType::F32;
  std::vector<uint8_t> data;  // rows * row_bytes(type, cols)
  std::vector<ExtraTensor> extras;
};

class QuantMethod {
 public:
  virtual ~QuantMethod() = default;
  virtual std::string_view name() const = 0;
  virtual std::string_view description() const = 0;
  // Throws InvalidArgument when the method cannot produce `spec` (e.g. a
  // float-only method asked for Q4_0) so the CLI can fail before any work.
  virtual void check(const QuantSpec& spec) const = 0;
  // True when quantize() needs QuantStats::hessian (calibration text).
  virtual bool needs_calibration() const { return false; }
  // True when, given calibration means (QuantStats::mean), quantize() writes
  // an output bias ("qbias" extra); `quantize --no-bias` clears the means.
  virtual bool writes_output_bias() const { return false; }
  virtual QuantizedMatrix quantize(MatrixRef w, const QuantSpec& spec, const QuantStats& stats,
                                   ThreadPool& pool) const = 0;
  // Input-channel rescaling (awq). `readers` are the matrices that read one
  // input produced by a norm (q/k/v after attn_norm, gate/up after ffn_norm),
  // `specs` their storage, `stats` that input's statistics. Returns a scale
  // s > 0 per column, or nothing for no rescaling (the default). The caller
  // then quantizes each reader as W diag(s) (with stats for the input x / s)
  // and divides the norm's weight by s, so W x is unchanged up to quantization.
  virtual bool scales_inputs() const { return false; }
  virtual std::vector<float> input_scale(std::span<const MatrixRef> readers, std::span<const QuantSpec> specs,
                                         const QuantStats& stats, ThreadPool& pool) const {
    (void)readers, (void)specs, (void)stats, (void)pool;
    return {};
  }
};

// The method registered under `name`; InvalidArgument listing the known names otherwise.
std::unique_ptr<QuantMethod> make_quant_method(std::string_view name);
std::vector<std::string> quant_method_names();

// Factories, one per method file; the registry lists them.
std::unique_ptr<QuantMethod> make_method_none();
std::unique_ptr<QuantMethod> make_method_rtn();
std::unique_ptr<QuantMethod> make_method_mse();
std::unique_ptr<QuantMethod> make_method_gptq();
std::unique_ptr<QuantMethod> make_method_dabc();
std::unique_ptr<QuantMethod> make_method_mdqfo();
std::unique_ptr<QuantMethod> make_method_awq();

}  // namespace tessera
