#include "kernels/vec_dot.h"

#include <cstdlib>
#include <string_view>

#include "kernels/cpu_features.h"
#include "kernels/vec_dot_impl.h"
#include "quant/blocks.h"

namespace tessera {

namespace {

int64_t q8_0_row_bytes(int64_t n) { return n / kQK * static_cast<int64_t>(sizeof(BlockQ8_0)); }
int64_t q8_k_row_bytes(int64_t n) { return n / kQKK * static_cast<int64_t>(sizeof(BlockQ8_K)); }

using Dot = float (*)(const uint8_t*, const uint8_t*, int64_t);
using Dot4 = void (*)(const uint8_t*, const uint8_t*, int64_t, int64_t, float*);
using Rows4 = void (*)(const uint8_t*, int64_t, const uint8_t*, int64_t, float*);

constexpr VecDotKernel q8_0_kernel(GgmlType t, Dot dot, Dot4 dot4 = nullptr, Rows4 rows4 = nullptr) {
  return {t, GgmlType::Q8_0, q8_0_row_bytes, quantize_row_q8_0, dot, dot4, rows4};
}
constexpr VecDotKernel q8_k_kernel(GgmlType t, Dot dot, Dot4 dot4 = nullptr) {
  return {t, GgmlType::Q8_K, q8_k_row_bytes, quantize_row_q8_k, dot, dot4};
}

const VecDotKernel kScalar[] = {
    q8_0_kernel(GgmlType::Q4_0, scalar::dot_q4_0), q8_0_kernel(GgmlType::Q4_1, scalar::dot_q4_1),
    q8_0_kernel(GgmlType::Q5_0, scalar::dot_q5_0), q8_0_kernel(GgmlType::Q5_1, scalar::dot_q5_1),
    q8_0_kernel(GgmlType::Q8_0, scalar::dot_q8_0), q8_k_kernel(GgmlType::Q4_K, scalar::dot_q4_k),
    q8_k_kernel(GgmlType::Q5_K, scalar::dot_q5_k), q8_k_kernel(GgmlType::Q6_K, scalar::dot_q6_k),
};

const VecDotKernel kAvx2[] = {
    q8_0_kernel(GgmlType::Q4_0, avx2::dot_q4_0, avx2::dot4_q4_0, avx2::rows4_q4_0),
    q8_0_kernel(GgmlType::Q5_0, avx2::dot_q5_0, avx2::dot4_q5_0, avx2::rows4_q5_0),
    q8_0_kernel(GgmlType::Q8_0, avx2::dot_q8_0, avx2::dot4_q8_0, avx2::rows4_q8_0),
    q8_k_kernel(GgmlType::Q4_K, avx2::dot_q4_k, avx2::dot4_q4_k),
    q8_k_kernel(GgmlType::Q6_K, avx2::dot_q6_k, avx2::dot4_q6_k),
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

const VecDotKernel* find_vec_dot(GgmlType t) {
  static const bool scalar_only = [] {
    const char* cap = std::getenv("TESSERA_ISA");
    return cap != nullptr && std::string_view(cap) == "scalar";
  }();
  if (!scalar_only && cpu_features().avx2) {
    if (const VecDotKernel* k = lookup(kAvx2, t)) return k;
  }
  return lookup(kScalar, t);
}

}  // namespace tessera
