#include "kernels/vec_dot.h"

#include <algorithm>

#include "kernels/vec_dot_impl.h"
#include "quant/blocks.h"

namespace tessera {

namespace {

template <typename Block, int64_t kElems>
int64_t block_row_bytes(int64_t n) {
  return n / kElems * static_cast<int64_t>(sizeof(Block));
}
int64_t half_row_bytes(int64_t n) { return n * 2; }
int64_t float_row_bytes(int64_t n) { return n * 4; }

// The activation format each weight type meets (as ggml's vec_dot_type).
VecDotKernel kernel(GgmlType t, DotFn dot, Dot4Fn dot4, IsaLevel isa, Dot4x4Fn dot4x4 = nullptr) {
  switch (t) {
    case GgmlType::Q4_0:
    case GgmlType::Q5_0:
    case GgmlType::Q8_0:
      return {t, GgmlType::Q8_0, block_row_bytes<BlockQ8_0, kQK>, quantize_row_q8_0, dot, dot4, dot4x4, isa};
    case GgmlType::Q4_1:
    case GgmlType::Q5_1:
      return {t, GgmlType::Q8_1, block_row_bytes<BlockQ8_1, kQK>, quantize_row_q8_1, dot, dot4, dot4x4, isa};
    case GgmlType::F16: return {t, GgmlType::F16, half_row_bytes, quantize_row_f16, dot, dot4, dot4x4, isa};
    case GgmlType::BF16: return {t, GgmlType::BF16, half_row_bytes, quantize_row_bf16, dot, dot4, dot4x4, isa};
    case GgmlType::F32: return {t, GgmlType::F32, float_row_bytes, quantize_row_f32, dot, dot4, dot4x4, isa};
    default:  // the K types
      return {t, GgmlType::Q8_K, block_row_bytes<BlockQ8_K, kQKK>, quantize_row_q8_k, dot, dot4, dot4x4, isa};
  }
}

// ggml-cpu's tiled K-quant matmul (ggml_tiled_min_batch) takes a matmul with
// at least this many activation rows, for weights it has not repacked (on
// x86: every K type but Q4_K, which goes to the repacked q4_K_8x8 kernels).
constexpr int64_t kGgmlTiledMinTokens = 8;
// ggml-cpu's repacked Q4_K (q4_K_8x8 on x86) multiplies activation rows in
// groups of four with its gemm and the n % 4 left over with its gemv.
constexpr int64_t kGgmlRepackGemmTokens = 4;

VecDotKernel with_batched(VecDotKernel k, DotFn dot, Dot4Fn dot4, int64_t min_tokens, int64_t group = 1) {
  k.batched_dot = dot;
  k.batched_dot4 = dot4;
  k.batched_min_tokens = min_tokens;
  k.batched_group = group;
  return k;
}

constexpr IsaLevel kS = IsaLevel::kScalar;
constexpr IsaLevel kA2 = IsaLevel::kAvx2;
constexpr IsaLevel kA5 = IsaLevel::kAvx512;

const VecDotKernel kScalar[] = {
    kernel(GgmlType::F32, scalar::dot_f32, nullptr, kS),
    kernel(GgmlType::F16, scalar::dot_f16, nullptr, kS),
    kernel(GgmlType::BF16, scalar::dot_bf16, nullptr, kS),
    kernel(GgmlType::Q4_0, scalar::dot_q4_0, nullptr, kS),
    kernel(GgmlType::Q4_1, scalar::dot_q4_1, nullptr, kS),
    kernel(GgmlType::Q5_0, scalar::dot_q5_0, nullptr, kS),
    kernel(GgmlType::Q5_1, scalar::dot_q5_1, nullptr, kS),
    kernel(GgmlType::Q8_0, scalar::dot_q8_0, nullptr, kS),
    kernel(GgmlType::Q2_K, scalar::dot_q2_k, nullptr, kS),
    kernel(GgmlType::Q3_K, scalar::dot_q3_k, nullptr, kS),
    kernel(GgmlType::Q4_K, scalar::dot_q4_k, nullptr, kS),
    kernel(GgmlType::Q5_K, scalar::dot_q5_k, nullptr, kS),
    kernel(GgmlType::Q6_K, scalar::dot_q6_k, nullptr, kS),
};

const VecDotKernel kAvx2[] = {
    kernel(GgmlType::F32, avx2::dot_f32, nullptr, kA2),
    kernel(GgmlType::F16, avx2::dot_f16, nullptr, kA2),
    kernel(GgmlType::BF16, avx2::dot_bf16, nullptr, kA2),
    kernel(GgmlType::Q4_0, avx2::dot_q4_0, avx2::dot4_q4_0, kA2),
    kernel(GgmlType::Q5_0, avx2::dot_q5_0, avx2::dot4_q5_0, kA2),
    kernel(GgmlType::Q8_0, avx2::dot_q8_0, avx2::dot4_q8_0, kA2),
    with_batched(kernel(GgmlType::Q4_K, avx2::dot_q4_k, avx2::dot4_q4_k, kA2), avx2::dot_q4_k_pairs,
                 avx2::dot4_q4_k_pairs, kGgmlRepackGemmTokens, kGgmlRepackGemmTokens),
    with_batched(kernel(GgmlType::Q5_K, avx2::dot_q5_k, avx2::dot4_q5_k, kA2), avx2::dot_q5_k_blocks,
                 avx2::dot4_q5_k_blocks, kGgmlTiledMinTokens),
    with_batched(kernel(GgmlType::Q6_K, avx2::dot_q6_k, avx2::dot4_q6_k, kA2), avx2::dot_q6_k_blocks,
                 avx2::dot4_q6_k_blocks, kGgmlTiledMinTokens),
};

const VecDotKernel kAvx512[] = {
    kernel(GgmlType::F32, avx512::dot_f32, nullptr, kA5),
    kernel(GgmlType::F16, avx512::dot_f16, nullptr, kA5),
    kernel(GgmlType::BF16, avx512::dot_bf16, nullptr, kA5),
    kernel(GgmlType::Q4_0, avx512::dot_q4_0, avx512::dot4_q4_0, kA5, avx512::dot4x4_q4_0),
    kernel(GgmlType::Q5_0, avx512::dot_q5_0, avx512::dot4_q5_0, kA5, avx512::dot4x4_q5_0),
    kernel(GgmlType::Q8_0, avx512::dot_q8_0, avx512::dot4_q8_0, kA5, avx512::dot4x4_q8_0),
    with_batched(kernel(GgmlType::Q4_K, avx512::dot_q4_k, avx512::dot4_q4_k, kA5), avx512::dot_q4_k_pairs,
                 avx512::dot4_q4_k_pairs, kGgmlRepackGemmTokens, kGgmlRepackGemmTokens),
    with_batched(kernel(GgmlType::Q6_K, avx512::dot_q6_k, avx512::dot4_q6_k, kA5), avx512::dot_q6_k_blocks,
                 avx512::dot4_q6_k_blocks, kGgmlTiledMinTokens),
};

template <size_t N>
const VecDotKernel* lookup(const VecDotKernel (&table)[N], GgmlType t) {
  for (const auto& k : table) {
    if (k.weight_type == t) return &k;
  }
  return nullptr;
}

}  // namespace

const VecDotKernel* find_vec_dot_scalar(GgmlType t) { return lookup(kScalar, t); }

const VecDotKernel* find_vec_dot(GgmlType t, IsaLevel max_level) {
  // Never above what the CPU runs, whatever the caller asks.
  const IsaLevel level = std::min(max_level, cpu_features().level);
  if (level >= IsaLevel::kAvx512) {
    if (const VecDotKernel* k = lookup(kAvx512, t)) return k;
  }
  if (level >= IsaLevel::kAvx2) {
    if (const VecDotKernel* k = lookup(kAvx2, t)) return k;
  }
  return lookup(kScalar, t);
}

const VecDotKernel* find_vec_dot(GgmlType t) { return find_vec_dot(t, cpu_features().level); }

}  // namespace tessera
