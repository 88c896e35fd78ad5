// Architecture hyper-parameters, read from GGUF metadata.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace tessera {

enum class RopeStyle { Normal, Neox };  // Normal: adjacent pairs; Neox: halves
enum class FfnActivation { Silu, GeluTanh };

struct HParams {
  std::string arch;  // "llama", "qwen2", "qwen3", "gemma3"
  std::string name;  // general.name
  int64_t n_vocab = 0;
  int64_t n_ctx_train = 0;
  int64_t n_embd = 0;
  int64_t n_layer = 0;
  int64_t n_head = 0;
  int64_t n_head_kv = 0;
  int64_t head_dim_k = 0;
  int64_t head_dim_v = 0;
  int64_t n_ff = 0;
  float norm_eps = 1e-5f;
  float rope_freq_base = 10000.0f;
  float rope_freq_base_swa = 10000.0f;  // sliding-window layers (gemma3)
  float rope_freq_scale = 1.0f;          // linear scaling: 1 / factor
  RopeStyle rope_style = RopeStyle::Normal;
  int64_t n_rot = 0;  // rotated dims per head
  // llama3 RoPE scaling (rope_factors computed from these when factor > 0)
  float rope_llama3_factor = 0.0f;
  float rope_llama3_low_freq_factor = 1.0f;
  float rope_llama3_high_freq_factor = 4.0f;
  int64_t rope_llama3_orig_ctx = 8192;
  FfnActivation activation = FfnActivation::Silu;
  float attn_scale = 0.0f;  // multiplier on q·k
  // Apply attn_scale to Q before it is rounded to fp16 for Q·K (gemma3, as
  // llama.cpp's graph does) rather than to the scores; the two differ in
  // rounding unless the scale is a power of two.
  bool scale_q = false;
  float embd_scale = 1.0f;  // gemma: sqrt(n_embd)
  float final_logit_softcap = 0.0f;  // 0 = off
  float attn_logit_softcap = 0.0f;
  int64_t sliding_window = 0;            // 0 = none
  std::vector<uint8_t> layer_is_swa;     // per layer
  bool has_qk_norm = false;
  bool has_qkv_bias = false;
  bool has_post_norms = false;  // gemma: post-attention and post-FFN norms
};

}  // namespace tessera
