#include "quant/type_mix.h"

#include <algorithm>
#include <cctype>
#include <cstdlib>

#include "core/error.h"
#include "gguf/gguf_file.h"

namespace tessera {

namespace {

QuantSpec q4_k() { return QuantSpec{GgmlType::Q4_K, 4, 32, false}; }
QuantSpec q6_k() { return QuantSpec{GgmlType::Q6_K, 6, 16, true}; }

// The layer index of "blk.N.rest", or -1.
int layer_of(const std::string& name, std::string* rest) {
  if (name.rfind("blk.", 0) != 0) return -1;
  char* end = nullptr;
  const long layer = std::strtol(name.c_str() + 4, &end, 10);
  if (end == name.c_str() + 4 || *end != '.') return -1;
  if (rest != nullptr) *rest = std::string(end + 1);
  return static_cast<int>(layer);
}

// llama.cpp's use_more_bits: the first and last eighth of the layers, and
// every third layer in between, get the wider type.
bool use_more_bits(int layer, int n_layer) {
  return layer < n_layer / 8 || layer >= 7 * n_layer / 8 || (layer - n_layer / 8) % 3 == 2;
}

}  // namespace

std::optional<TypeMix> type_mix_from_name(std::string_view name) {
  std::string upper(name);
  std::transform(upper.begin(), upper.end(), upper.begin(), [](unsigned char c) { return std::toupper(c); });
  if (upper == "Q4_K_M") return TypeMix::Q4_K_M;
  return std::nullopt;
}

std::string_view type_mix_name(TypeMix mix) { return mix == TypeMix::Q4_K_M ? "Q4_K_M" : "uniform"; }

TypeMixPlan::TypeMixPlan(TypeMix mix, const GgufFile& model) : mix_(mix) {
  for (const auto& t : model.tensors()) {
    n_layer_ = std::max(n_layer_, layer_of(t.name, nullptr) + 1);
    if (t.name == "output.weight") has_output_ = true;
  }
}

QuantSpec TypeMixPlan::base_spec(TypeMix mix) {
  if (mix != TypeMix::Q4_K_M) raise<InvalidArgument>("the uniform mix has no base type of its own");
  return q4_k();
}

std::optional<QuantSpec> TypeMixPlan::spec_for(const std::string& name) const {
  if (mix_ == TypeMix::Uniform) return std::nullopt;
  // The output matrix (the embedding table when they are tied) is the most
  // sensitive one: Q6_K. An untied embedding table is only looked up: Q4_K.
  if (name == "output.weight" || (name == "token_embd.weight" && !has_output_)) return q6_k();
  std::string rest;
  const int layer = layer_of(name, &rest);
  if (layer >= 0 && (rest == "attn_v.weight" || rest == "ffn_down.weight") && use_more_bits(layer, n_layer_)) {
    return q6_k();
  }
  return q4_k();
}

}  // namespace tessera
