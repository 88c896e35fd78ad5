#include "model/weights.h"

#include <fmt/format.h>

#include "core/error.h"
#include "core/mmap_file.h"

namespace tessera {

namespace {

std::string shape_string(const std::vector<int64_t>& shape) {
  std::string s = "[";
  for (size_t i = 0; i < shape.size(); ++i) s += (i ? ", " : "") + std::to_string(shape[i]);
  return s + "]";
}

class Binder {
 public:
  explicit Binder(const GgufFile& file) : file_(file) {}

  // A 2-D weight of GGUF shape [cols, rows].
  WeightMatrix matrix(const std::string& name, int64_t cols, int64_t rows) const {
    const GgufTensorInfo& t = file_.tensor(name);
    return to_matrix(t, cols, rows);
  }
  bool has(const std::string& name) const { return file_.find_tensor(name) != nullptr; }

  WeightMatrix to_matrix(const GgufTensorInfo& t, int64_t cols, int64_t rows) const {
    const bool ok = t.shape.size() == 2 && t.shape[0] == cols && t.shape[1] == rows;
    if (!ok) {
      raise<FormatError>("{}: tensor '{}' has shape {}, expected [{}, {}]", file_.path(), t.name,
                         shape_string(t.shape), cols, rows);
    }
    const TypeTraits& tt = type_traits(t.type);
    if (!tt.weight_type) {
      raise<FormatError>("{}: tensor '{}' has type {}, which is not a weight type; supported: {}",
                         file_.path(), t.name, tt.name, supported_type_names());
    }
    WeightMatrix w;
    w.type = t.type;
    w.rows = rows;
    w.cols = cols;
    w.data = t.data;
    w.row_stride = row_bytes(t.type, cols);
    return w;
  }

  // A 1-D F32 vector of n elements.
  const float* vector(const std::string& name, int64_t n) const {
    const GgufTensorInfo& t = file_.tensor(name);
    if (t.n_elements() != n || t.shape.size() != 1) {
      raise<FormatError>("{}: tensor '{}' has shape {}, expected [{}]", file_.path(), name,
                         shape_string(t.shape), n);
    }
    if (t.type != GgmlType::F32) {
      raise<FormatError>("{}: tensor '{}' has type {}; norm and bias vectors must be F32",
                         file_.path(), name, type_name(t.type));
    }
    return reinterpret_cast<const float*>(t.data);
  }
  const float* optional_vector(const std::string& name, int64_t n) const {
    return has(name) ? vector(name, n) : nullptr;
  }

 private:
  const GgufFile& file_;
};

}  // namespace

ModelWeights bind_weights(const GgufFile& file, const HParams& hp) {
  Binder b(file);
  ModelWeights w;
  const GgufTensorInfo& embd = file.tensor("token_embd.weight");
  if (embd.shape.size() != 2 || embd.shape[0] != hp.n_embd) {
    raise<FormatError>("{}: tensor 'token_embd.weight' has shape {}, expected [{}, n_vocab]",
                       file.path(), shape_string(embd.shape), hp.n_embd);
  }
  const int64_t n_vocab = embd.shape[1];
  w.token_embd = b.to_matrix(embd, hp.n_embd, n_vocab);
  w.output = b.has("output.weight") ? b.matrix("output.weight", hp.n_embd, n_vocab) : w.token_embd;
  w.output_norm = b.vector("output_norm.weight", hp.n_embd);
  w.rope_freqs = b.optional_vector("rope_freqs.weight", hp.n_rot / 2);

  const int64_t q_dim = hp.n_head * hp.head_dim_k;
  const int64_t k_dim = hp.n_head_kv * hp.head_dim_k;
  const int64_t v_dim = hp.n_head_kv * hp.head_dim_v;
  const int64_t o_dim = hp.n_head * hp.head_dim_v;
  w.layers.resize(hp.n_layer);
  for (int64_t il = 0; il < hp.n_layer; ++il) {
    LayerWeights& l = w.layers[il];
    auto name = [&](const char* suffix) { return fmt::format("blk.{}.{}", il, suffix); };
    l.attn_norm = b.vector(name("attn_norm.weight"), hp.n_embd);
    l.wq = b.matrix(name("attn_q.weight"), hp.n_embd, q_dim);
    l.wk = b.matrix(name("attn_k.weight"), hp.n_embd, k_dim);
    l.wv = b.matrix(name("attn_v.weight"), hp.n_embd, v_dim);
    l.wo = b.matrix(name("attn_output.weight"), o_dim, hp.n_embd);
    if (hp.has_qkv_bias) {
      l.bq = b.vector(name("attn_q.bias"), q_dim);
      l.bk = b.vector(name("attn_k.bias"), k_dim);
      l.bv = b.vector(name("attn_v.bias"), v_dim);
    }
    if (hp.has_qk_norm) {
      l.q_norm = b.vector(name("attn_q_norm.weight"), hp.head_dim_k);
      l.k_norm = b.vector(name("attn_k_norm.weight"), hp.head_dim_k);
    }
    l.ffn_norm = b.vector(name("ffn_norm.weight"), hp.n_embd);
    l.w_gate = b.matrix(name("ffn_gate.weight"), hp.n_embd, hp.n_ff);
    l.w_up = b.matrix(name("ffn_up.weight"), hp.n_embd, hp.n_ff);
    l.w_down = b.matrix(name("ffn_down.weight"), hp.n_ff, hp.n_embd);
    l.qbias.q = b.optional_vector(name("attn_q.qbias"), q_dim);
    l.qbias.k = b.optional_vector(name("attn_k.qbias"), k_dim);
    l.qbias.v = b.optional_vector(name("attn_v.qbias"), v_dim);
    l.qbias.o = b.optional_vector(name("attn_output.qbias"), hp.n_embd);
    l.qbias.gate = b.optional_vector(name("ffn_gate.qbias"), hp.n_ff);
    l.qbias.up = b.optional_vector(name("ffn_up.qbias"), hp.n_ff);
    l.qbias.down = b.optional_vector(name("ffn_down.qbias"), hp.n_embd);
    if (hp.has_post_norms) {
      l.post_attn_norm = b.vector(name("post_attention_norm.weight"), hp.n_embd);
      l.post_ffn_norm = b.vector(name("post_ffw_norm.weight"), hp.n_embd);
    }
  }
  return w;
}

std::vector<PackedMatrix> pack_weights(ModelWeights& w, ThreadPool& pool, bool token_activation_scales) {
  std::vector<PackedMatrix> owners;
  if (!repack_enabled()) return owners;
  // All packed copies share one arena: huge pages then cover the small
  // matrices too (one allocation per matrix would leave those below 2 MiB,
  // most of Gemma 3 270M's layers, on small pages).
  struct Planned {
    WeightMatrix* m;
    const PackedKernel* k;
    int64_t offset;
  };
  std::vector<Planned> plan;
  int64_t total = 0;
  auto add = [&](WeightMatrix& m, bool row_scaled) {
    if (m.packed != nullptr) return;
    const bool row_scales = row_scaled && has_row_scales(m);
    const PackedKernel* k = row_scales ? find_row_scaled_kernel(m.type, cpu_features().level) : nullptr;
    if (k == nullptr) k = find_packed_kernel(m.type);
    if (k == nullptr || !packs_columns(m)) return;
    plan.push_back({&m, k, total});
    total += packed_matrix_bytes(*k, m, /*row_scales_known=*/row_scales);
  };
  for (LayerWeights& l : w.layers) {
    for (WeightMatrix* m : {&l.wq, &l.wk, &l.wv, &l.wo, &l.w_gate, &l.w_up, &l.w_down}) {
      add(*m, token_activation_scales);
    }
  }
  add(w.output, false);
  if (plan.empty()) return owners;
  owners.push_back(allocate_packed(total));
  uint8_t* arena = owners.back().data.get();
  for (const Planned& p : plan) {
    pack_matrix_into(*p.k, *p.m, pool, arena + p.offset, /*release_source=*/true);
    p.m->packed = arena + p.offset;
    p.m->packed_kernel = p.k;
  }
  // A tied embedding table: packing released the file's pages, so the
  // embedding lookup reads its rows from the packed copy (matrix_row_bytes).
  if (w.token_embd.data == w.output.data) {
    w.token_embd.packed = w.output.packed;
    w.token_embd.packed_kernel = w.output.packed_kernel;
  }
  return owners;
}

void copy_vectors(ModelWeights& w, const HParams& hp, std::vector<std::vector<float>>& arena) {
  auto own = [&](const float*& p, int64_t n) {
    if (p == nullptr) return;
    arena.emplace_back(p, p + n);  // the inner buffer keeps its address when arena grows
    p = arena.back().data();
  };
  const int64_t q_dim = hp.n_head * hp.head_dim_k;
  const int64_t k_dim = hp.n_head_kv * hp.head_dim_k;
  const int64_t v_dim = hp.n_head_kv * hp.head_dim_v;
  own(w.output_norm, hp.n_embd);
  own(w.rope_freqs, hp.n_rot / 2);
  for (LayerWeights& l : w.layers) {
    for (const float** p : {&l.attn_norm, &l.post_attn_norm, &l.ffn_norm, &l.post_ffn_norm, &l.qbias.o,
                            &l.qbias.down}) {
      own(*p, hp.n_embd);
    }
    own(l.bq, q_dim);
    own(l.bk, k_dim);
    own(l.bv, v_dim);
    own(l.q_norm, hp.head_dim_k);
    own(l.k_norm, hp.head_dim_k);
    own(l.qbias.q, q_dim);
    own(l.qbias.k, k_dim);
    own(l.qbias.v, v_dim);
    own(l.qbias.gate, hp.n_ff);
    own(l.qbias.up, hp.n_ff);
  }
}

}  // namespace tessera
