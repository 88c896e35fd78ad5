#include "model/hparams_loader.h"

#include <cmath>
#include <string>

#include "core/error.h"
#include "model/model.h"

namespace tessera {

std::vector<std::string> supported_architectures() { return {"llama", "qwen2", "qwen3", "gemma3"}; }

namespace {

std::string join(const std::vector<std::string>& items) {
  std::string out;
  for (const auto& s : items) out += (out.empty() ? "" : ", ") + s;
  return out;
}

// Bounds that no real model exceeds; larger values mean a corrupt or hostile
// file and would otherwise turn into giant allocations.
constexpr int64_t kMaxDim = 1 << 20;
constexpr int64_t kMaxLayers = 1024;
constexpr int64_t kMaxHeads = 4096;

int64_t positive(const GgufFile& f, const std::string& key, int64_t value, int64_t max) {
  if (value <= 0 || value > max) {
    raise<FormatError>("{}: key '{}' = {} is out of range (1..{})", f.path(), key, value, max);
  }
  return value;
}

}  // namespace

HParams read_hparams(const GgufFile& f) {
  HParams hp;
  hp.arch = f.get_string("general.architecture");
  const auto archs = supported_architectures();
  if (std::find(archs.begin(), archs.end(), hp.arch) == archs.end()) {
    raise<FormatError>("{}: unsupported architecture '{}'; supported: {}", f.path(), hp.arch,
                       join(archs));
  }
  hp.name = f.get_string_opt("general.name").value_or("");
  const std::string a = hp.arch + ".";
  auto req = [&](const std::string& key, int64_t max) {
    return positive(f, a + key, f.get_i64(a + key), max);
  };
  auto opt = [&](const std::string& key, int64_t fallback, int64_t max) {
    const auto v = f.get_i64_opt(a + key);
    return v ? positive(f, a + key, *v, max) : fallback;
  };

  hp.n_embd = req("embedding_length", kMaxDim);
  hp.n_layer = req("block_count", kMaxLayers);
  hp.n_head = req("attention.head_count", kMaxHeads);
  hp.n_head_kv = opt("attention.head_count_kv", hp.n_head, kMaxHeads);
  hp.n_ff = req("feed_forward_length", kMaxDim);
  hp.n_ctx_train = opt("context_length", 4096, int64_t{1} << 24);
  if (hp.n_head % hp.n_head_kv != 0) {
    raise<FormatError>("{}: head_count {} is not a multiple of head_count_kv {}", f.path(),
                       hp.n_head, hp.n_head_kv);
  }
  hp.head_dim_k = opt("attention.key_length", hp.n_embd / hp.n_head, kMaxDim);
  hp.head_dim_v = opt("attention.value_length", hp.head_dim_k, kMaxDim);
  hp.n_rot = opt("rope.dimension_count", hp.head_dim_k, kMaxDim);
  if (hp.n_rot > hp.head_dim_k || hp.n_rot % 2 != 0) {
    raise<FormatError>("{}: rope.dimension_count {} must be even and at most the head size {}",
                       f.path(), hp.n_rot, hp.head_dim_k);
  }
  hp.norm_eps = static_cast<float>(f.get_f64(a + "attention.layer_norm_rms_epsilon"));
  if (!(hp.norm_eps > 0.0f && hp.norm_eps < 1.0f)) {
    raise<FormatError>("{}: layer_norm_rms_epsilon {} is out of range", f.path(), hp.norm_eps);
  }
  hp.rope_freq_base = static_cast<float>(f.get_f64_opt(a + "rope.freq_base").value_or(10000.0));
  if (!(hp.rope_freq_base > 0.0f) || !std::isfinite(hp.rope_freq_base)) {
    raise<FormatError>("{}: rope.freq_base {} must be positive", f.path(), hp.rope_freq_base);
  }
  // Linear RoPE scaling: positions are multiplied by 1/factor.
  const auto scaling_type = f.get_string_opt(a + "rope.scaling.type").value_or("none");
  const auto factor = f.get_f64_opt(a + "rope.scaling.factor");
  if (scaling_type == "linear" && factor && *factor > 0.0) {
    hp.rope_freq_scale = static_cast<float>(1.0 / *factor);
  } else if (const auto legacy = f.get_f64_opt(a + "rope.scale_linear"); legacy && *legacy > 0) {
    hp.rope_freq_scale = static_cast<float>(1.0 / *legacy);
  } else if (scaling_type != "none" && scaling_type != "linear") {
    raise<FormatError>("{}: unsupported rope.scaling.type '{}'; supported: none, linear "
                       "(llama3 scaling comes from the rope_freqs tensor)",
                       f.path(), scaling_type);
  }
  hp.attn_scale = 1.0f / std::sqrt(static_cast<float>(hp.head_dim_k));
  hp.layer_is_swa.assign(hp.n_layer, 0);

  if (hp.arch == "llama") {
    hp.rope_style = RopeStyle::Normal;
  } else if (hp.arch == "qwen2") {
    hp.rope_style = RopeStyle::Neox;
    hp.has_qkv_bias = true;
  } else if (hp.arch == "qwen3") {
    hp.rope_style = RopeStyle::Neox;
    hp.has_qk_norm = true;
  } else if (hp.arch == "gemma3") {
    hp.rope_style = RopeStyle::Neox;
    hp.has_qk_norm = true;
    hp.has_post_norms = true;
    hp.activation = FfnActivation::GeluTanh;
    hp.embd_scale = std::sqrt(static_cast<float>(hp.n_embd));
    hp.scale_q = true;
    hp.final_logit_softcap =
        static_cast<float>(f.get_f64_opt(a + "final_logit_softcapping").value_or(0.0));
    // Gemma 3: five sliding-window layers, then one global layer. Local layers
    // use RoPE base 10000 without scaling; global ones the file's base/scaling.
    hp.sliding_window = opt("attention.sliding_window", 0, int64_t{1} << 24);
    if (hp.sliding_window > 0) {
      for (int64_t il = 0; il < hp.n_layer; ++il) hp.layer_is_swa[il] = (il % 6) < 5;
    }
    hp.rope_freq_base_swa = 10000.0f;
    // The 27B model scales queries by 1/sqrt(n_embd / n_head) instead.
    if (hp.n_layer == 62) hp.attn_scale = 1.0f / std::sqrt(static_cast<float>(hp.n_embd / hp.n_head));
  }
  return hp;
}

}  // namespace tessera
