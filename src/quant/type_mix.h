// Mixed-type recipes: which storage each matrix of a model gets when the user
// asks for a named mix rather than one type. Facts of llama.cpp's file types,
// so a tessera file of the mix has the same types tensor for tensor (and
// compares with llama.cpp's at the same size) whatever method fills them.
#pragma once

#include <optional>
#include <string>
#include <string_view>

#include "quant/quant_method.h"

namespace tessera {

class GgufFile;

enum class TypeMix {
  Uniform,  // every matrix the requested type (the embeddings: --embd-type)
  Q4_K_M,   // llama.cpp's Q4_K_M: Q4_K, with Q6_K where use_more_bits says
};

// "Q4_K_M" (any case) -> the mix; nullopt for anything else.
std::optional<TypeMix> type_mix_from_name(std::string_view name);
std::string_view type_mix_name(TypeMix mix);

// What a mix asks for, before the row-length fallbacks (fallback_spec).
class TypeMixPlan {
 public:
  TypeMixPlan(TypeMix mix, const GgufFile& model);
  // The storage of the quantizable matrix `name`; nullopt under Uniform.
  std::optional<QuantSpec> spec_for(const std::string& name) const;
  // The uniform type the mix is named after (general.file_type's base).
  static QuantSpec base_spec(TypeMix mix);

 private:
  TypeMix mix_;
  int n_layer_ = 0;         // 1 + the largest blk.N index
  bool has_output_ = false;  // an output.weight of its own (else the embedding is the output)
};

}  // namespace tessera
