#include "model/transformer.h"

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <thread>

#include "core/error.h"
#include "kernels/ggml_vec_math.h"
#include "kernels/ops.h"
#include "model/attention.h"
#include "model/hparams_loader.h"
#include "quant/dequantize.h"
#include "quant/hadamard.h"
#include "quant/model_quantizer.h"

namespace tessera {

namespace {

void grow(std::vector<float>& v, size_t n) {
  if (v.size() < n) v.resize(n);
}

// fn(t) for every token of a batch; tokens are independent, so splitting them
// over the pool changes no bits. Batches of up to kInlineTokens tokens (decode,
// serving steps) run on the calling thread: their per-token work (a norm, a
// residual add: microseconds) is below what waking the pool costs. (1.1B
// Q4_K_M, 512-token prefill, 2 threads: 251-259 -> 259-269 tok/s.)
template <typename Fn>
void for_each_token(int64_t n, ThreadPool& pool, const Fn& fn) {
  constexpr int64_t kInlineTokens = 16;
  pool.parallel_for(n, kInlineTokens, [&](int64_t begin, int64_t end) {
    for (int64_t t = begin; t < end; ++t) fn(t);
  });
}

// dabc's output biases (".qbias") carry the mean quantization error over the
// calibration text's positions after the first (src/eval/calibration.cc), so
// they apply there only. A sequence's first position is the attention sink:
// its activations are unlike any other token's, and a bias added there moves
// the key and value every later token attends to most (measured on Gemma 3
// 270M: KL 0.264 -> 0.180 against applying it everywhere; docs/quantization.md).
bool takes_quant_bias(int64_t pos) { return pos > 0; }

// The file's kActivationScalesKey: true for "token", false when absent.
bool token_activation_scales(const GgufFile& f) {
  const auto v = f.get_string_opt(kActivationScalesKey);
  if (!v) return false;
  if (*v != "token") raise<FormatError>("{}: {} is \"{}\"; tessera knows \"token\"", f.path(), kActivationScalesKey, *v);
  return true;
}

// Debug aid for parity work against llama.cpp: with TESSERA_DUMP=DIR set, each
// forward appends its intermediate activations to DIR/NAME-LAYER.f32 (float32,
// tokens x width), named as llama.cpp's graph callback names them.
void dump(const char* name, int il, const float* x, int64_t n) {
  static const char* dir = std::getenv("TESSERA_DUMP");
  if (dir == nullptr) return;
  const std::string path = std::string(dir) + "/" + name + "-" + std::to_string(il) + ".f32";
  if (std::FILE* f = std::fopen(path.c_str(), "ab")) {
    std::fwrite(x, sizeof(float), static_cast<size_t>(n), f);
    std::fclose(f);
  }
}

}  // namespace

std::unique_ptr<Model> Model::load(const std::string& path) {
  return std::make_unique<Transformer>(std::make_unique<GgufFile>(path));
}

int64_t Model::weight_bytes_per_token() const {
  int64_t bytes = 0;
  for (const auto& span : decode_weight_spans()) bytes += static_cast<int64_t>(span.size());
  return bytes;
}

void Model::set_matmul_observer(MatmulObserver*) { raise("this model does not report its matmul inputs"); }
void Model::set_activation_quant(const ActivationQuant&) { raise("this model has no activation quantization"); }
void Model::set_op_profile(OpProfile*) { raise("this model does not time its operations"); }

const float* Transformer::layer_input(const float* x, int64_t n_tokens, int64_t cols, ThreadPool& pool) {
  if (!act_quant_.enabled() && rotation_block_ == 0) return x;
  grow(act_scratch_, static_cast<size_t>(n_tokens * cols));
  float* out = act_scratch_.data();
  const ActivationQuant q = act_quant_;
  const int64_t block = rotation_block_;
  // Checked here, not only in fake_quantize_activations: an exception must not
  // leave a pool worker.
  if (q.enabled() && q.group != 0 && cols % q.group != 0) {
    raise<InvalidArgument>("activation group {} does not divide a matrix input of {} values", q.group, cols);
  }
  pool.parallel_for(n_tokens, 1, [&](int64_t begin, int64_t end) {
    const float* from = x + begin * cols;
    if (block != 0) {
      std::memcpy(out + begin * cols, from, static_cast<size_t>((end - begin) * cols) * sizeof(float));
      for (int64_t t = begin; t < end; ++t) hadamard_rotate(out + t * cols, cols, block);
      from = out + begin * cols;
    }
    if (q.enabled()) fake_quantize_activations(from, out + begin * cols, end - begin, cols, q);
  });
  return out;
}

Transformer::Transformer(std::unique_ptr<GgufFile> file)
    : file_(std::move(file)), hp_(read_hparams(*file_)), w_(bind_weights(*file_, hp_)) {
  hp_.n_vocab = w_.token_embd.rows;
  {
    ThreadPool pool(static_cast<int>(std::max(1u, std::thread::hardware_concurrency())));
    // Vectors first: reading them after the matrices are packed and released
    // would map the released neighbours back (see copy_vectors).
    if (repack_enabled()) copy_vectors(w_, hp_, vectors_);
    packed_ = pack_weights(w_, pool, token_activation_scales(*file_));
  }
  if (const auto block = file_->get_u64_opt("tessera.rotation.block_size")) {
    rotation_block_ = static_cast<int64_t>(*block);
    for (const LayerWeights& l : w_.layers) {
      for (const WeightMatrix* m : {&l.wq, &l.wk, &l.wv, &l.wo, &l.w_gate, &l.w_up, &l.w_down}) {
        if (m->cols > 0 && !is_rotation_block(rotation_block_, m->cols)) {
          raise<FormatError>("{}: tessera.rotation.block_size {} is not a power of two dividing the layer "
                             "matrices' rows of {} inputs", file_->path(), rotation_block_, m->cols);
        }
      }
    }
  }
  tokenizer_ = Tokenizer::from_gguf(*file_);
  if (tokenizer_->n_vocab() != hp_.n_vocab) {
    raise<FormatError>("{}: the vocabulary has {} tokens but token_embd.weight has {} rows",
                       file_->path(), tokenizer_->n_vocab(), hp_.n_vocab);
  }
}

std::unique_ptr<KvCache> Transformer::make_kv_cache(int64_t n_ctx) const {
  if (n_ctx <= 0) raise<InvalidArgument>("context size must be positive, got {}", n_ctx);
  KvCacheConfig c;
  c.n_layers = static_cast<int>(hp_.n_layer);
  c.n_kv_heads = static_cast<int>(hp_.n_head_kv);
  c.head_dim_k = static_cast<int>(hp_.head_dim_k);
  c.head_dim_v = static_cast<int>(hp_.head_dim_v);
  c.block_tokens = 32;
  c.n_blocks = (n_ctx + c.block_tokens - 1) / c.block_tokens;
  return std::make_unique<KvCache>(c);
}

void Transformer::check_batch(const Batch& batch, const KvCache& kv) const {
  const size_t n = batch.tokens.size();
  if (batch.positions.size() != n || batch.seq_ids.size() != n || batch.want_logits.size() != n) {
    raise<InvalidArgument>("batch: tokens, positions, seq_ids and want_logits differ in length");
  }
  for (size_t i = 0; i < n; ++i) {
    if (batch.tokens[i] < 0 || batch.tokens[i] >= hp_.n_vocab) {
      raise<InvalidArgument>("batch: token id {} at index {} is outside the vocabulary (0..{})",
                             batch.tokens[i], i, hp_.n_vocab - 1);
    }
    if (batch.positions[i] < 0 || batch.positions[i] >= kv.reserved_tokens(batch.seq_ids[i])) {
      raise<InvalidArgument>("batch: position {} of sequence {} has no KV cache space",
                             batch.positions[i], batch.seq_ids[i]);
    }
  }
}

std::vector<std::span<const uint8_t>> Transformer::decode_weight_spans() const {
  std::vector<std::span<const uint8_t>> spans;
  for (const LayerWeights& l : w_.layers) {
    for (const WeightMatrix* m : {&l.wq, &l.wk, &l.wv, &l.wo, &l.w_gate, &l.w_up, &l.w_down}) {
      spans.push_back(matrix_read_span(*m));
    }
  }
  spans.push_back(matrix_read_span(w_.output));
  // A token's embedding row (any: they are all one size), from the packed copy
  // when the table doubles as a packed output matrix (the file's pages of it
  // were released; reading them would page them back in).
  const std::span<const uint8_t> embd = matrix_read_span(w_.token_embd);
  const auto embd_row = static_cast<size_t>(row_bytes(w_.token_embd.type, w_.token_embd.cols));
  spans.push_back(embd.first(std::min(embd.size(), embd_row)));
  return spans;
}

void Transformer::forward(const Batch& batch, KvCache& kv, float* logits, ThreadPool& pool) {
  if (profile_ == nullptr) {
    run_forward(batch, kv, logits, pool);
    return;
  }
  const auto start = std::chrono::steady_clock::now();
  run_forward(batch, kv, logits, pool);
  profile_->add_forward(seconds_since(start));
}

void Transformer::run_forward(const Batch& batch, KvCache& kv, float* logits, ThreadPool& pool) {
  check_batch(batch, kv);
  order_ = batch.invariant ? SumOrder::kBatchInvariant : SumOrder::kLlamaCpp;
  const int64_t n = batch.size();
  if (n == 0) return;
  const int64_t d = hp_.n_embd;
  grow(x_, n * d);
  grow(xn_, n * d);
  grow(q_, n * hp_.n_head * hp_.head_dim_k);
  grow(k_, n * hp_.n_head_kv * hp_.head_dim_k);
  grow(v_, n * hp_.n_head_kv * hp_.head_dim_v);
  grow(attn_, n * hp_.n_head * hp_.head_dim_v);
  grow(proj_, n * d);
  grow(rope_angles_, n * hp_.n_rot);
  grow(gate_, n * hp_.n_ff);
  grow(up_, n * hp_.n_ff);

  // Embedding rows, dequantized from the table (scaled for gemma).
  pool.parallel_for(n, 1, [&](int64_t begin, int64_t end) {
    thread_local std::vector<uint8_t> row_buf;
    row_buf.resize(static_cast<size_t>(w_.token_embd.row_stride));
    for (int64_t t = begin; t < end; ++t) {
      const uint8_t* row = matrix_row_bytes(w_.token_embd, batch.tokens[t], row_buf.data());
      dequantize_row(w_.token_embd.type, row, x_.data() + t * d, d);
      if (hp_.embd_scale != 1.0f) scale_inplace(x_.data() + t * d, hp_.embd_scale, d);
    }
  });

  // The last layer's FFN runs only for the tokens that want logits, as
  // llama.cpp's graph does (its inp_out_ids): every other token's output of
  // that layer is never read, and its K / V are in the cache by then. A
  // serving step's prompt chunks want one row or none, so this removes about
  // a layer's FFN per prompt token (1.1B: 22 layers). A matmul observer
  // (calibration) sees every token's input, so it keeps the full batch.
  const int64_t n_out = batch.n_logits();
  const bool prune_last = observer_ == nullptr && n_out < n;
  for (int il = 0; il < hp_.n_layer; ++il) {
    attention_block(il, batch, kv, pool);
    if (il + 1 == hp_.n_layer && prune_last) {
      if (n_out == 0) return;
      keep_logit_rows(batch);
      ffn_block(il, out_batch_, pool);
    } else {
      ffn_block(il, batch, pool);
    }
  }

  // Final norm and output projection, only for the tokens that want logits
  // (after keep_logit_rows, x_'s first n_out rows are those tokens).
  if (n_out == 0) return;
  grow(logit_in_, n_out * d);
  for (int64_t t = 0, o = 0; o < n_out; ++t) {
    if (!prune_last && !batch.want_logits[t]) continue;
    rms_norm(x_.data() + t * d, w_.output_norm, logit_in_.data() + o * d, d, hp_.norm_eps);
    ++o;
  }
  project(w_.output, logit_in_.data(), n_out, logits, pool, /*layer_matrix=*/false);
  if (hp_.final_logit_softcap > 0.0f) {
    softcap_inplace(logits, hp_.final_logit_softcap, n_out * hp_.n_vocab);
  }
}

void Transformer::keep_logit_rows(const Batch& batch) {
  const int64_t d = hp_.n_embd;
  out_batch_.clear();
  for (int64_t t = 0; t < batch.size(); ++t) {
    if (!batch.want_logits[t]) continue;
    const int64_t o = out_batch_.size();
    // o <= t: rows move towards the front, never over one still to be read.
    if (o != t) std::memcpy(x_.data() + o * d, x_.data() + t * d, static_cast<size_t>(d) * sizeof(float));
    out_batch_.add(batch.tokens[t], batch.positions[t], batch.seq_ids[t], true);
  }
  out_batch_.invariant = batch.invariant;
}

void Transformer::attention_block(int il, const Batch& batch, KvCache& kv, ThreadPool& pool) {
  const LayerWeights& l = w_.layers[il];
  const int64_t n = batch.size();
  const int64_t d = hp_.n_embd;
  const int64_t hd = hp_.head_dim_k;
  const int64_t q_dim = hp_.n_head * hd;
  const int64_t k_dim = hp_.n_head_kv * hd;
  const int64_t v_dim = hp_.n_head_kv * hp_.head_dim_v;
  const bool swa = hp_.layer_is_swa[il] != 0;
  const float freq_base = swa ? hp_.rope_freq_base_swa : hp_.rope_freq_base;
  const float freq_scale = swa ? 1.0f : hp_.rope_freq_scale;
  const bool neox = hp_.rope_style == RopeStyle::Neox;

  for_each_token(n, pool, [&](int64_t t) { rms_norm(x_.data() + t * d, l.attn_norm, xn_.data() + t * d, d, hp_.norm_eps); });
  {
    const WeightMatrix* ws[] = {&l.wq, &l.wk, &l.wv};
    float* ys[] = {q_.data(), k_.data(), v_.data()};
    dump("attn_norm", il, xn_.data(), n * d);
    project_shared(ws, xn_.data(), n, ys, pool);
  }

  pool.parallel_for(n, 1, [&](int64_t begin, int64_t end) {
    for (int64_t t = begin; t < end; ++t) {
      float* rope_cos = rope_angles_.data() + t * hp_.n_rot;
      float* rope_sin = rope_cos + hp_.n_rot / 2;
      float* q = q_.data() + t * q_dim;
      float* k = k_.data() + t * k_dim;
      float* v = v_.data() + t * v_dim;
      if (l.bq != nullptr) {
        add_inplace(q, l.bq, q_dim);
        add_inplace(k, l.bk, k_dim);
        add_inplace(v, l.bv, v_dim);
      }
      const int64_t pos = batch.positions[t];
      // Every head of this token turns by the same angles: computed once, not
      // once per head (the prefill profile's "other" share, 1.1B, 512 tokens:
      // 0.21 -> 0.16 ms per token).
      rope_angles(hp_.n_rot, pos, freq_base, freq_scale, w_.rope_freqs, rope_cos, rope_sin);
      if (takes_quant_bias(pos)) {
        if (l.qbias.q != nullptr) add_inplace(q, l.qbias.q, q_dim);
        if (l.qbias.k != nullptr) add_inplace(k, l.qbias.k, k_dim);
        if (l.qbias.v != nullptr) add_inplace(v, l.qbias.v, v_dim);
      }
      for (int64_t h = 0; h < hp_.n_head; ++h) {
        if (l.q_norm != nullptr) rms_norm(q + h * hd, l.q_norm, q + h * hd, hd, hp_.norm_eps);
        rope_rotate(q + h * hd, hp_.n_rot, rope_cos, rope_sin, neox);
      }
      if (hp_.scale_q) scale_inplace(q, hp_.attn_scale, q_dim);
      for (int64_t h = 0; h < hp_.n_head_kv; ++h) {
        if (l.k_norm != nullptr) rms_norm(k + h * hd, l.k_norm, k + h * hd, hd, hp_.norm_eps);
        rope_rotate(k + h * hd, hp_.n_rot, rope_cos, rope_sin, neox);
      }
      f32_to_f16(k, kv.k(il, batch.seq_ids[t], pos), k_dim);
      f32_to_f16(v, kv.v(il, batch.seq_ids[t], pos), v_dim);
    }
  });

  AttentionShape shape;
  shape.layer = il;
  shape.n_head = hp_.n_head;
  shape.n_head_kv = hp_.n_head_kv;
  shape.head_dim_k = hd;
  shape.head_dim_v = hp_.head_dim_v;
  shape.scale = hp_.scale_q ? 1.0f : hp_.attn_scale;
  shape.softcap = hp_.attn_logit_softcap;
  shape.window = swa ? hp_.sliding_window : 0;
  dump("Qcur", il, q_.data(), n * q_dim);
  dump("Kcur", il, k_.data(), n * k_dim);
  dump("Vcur", il, v_.data(), n * v_dim);
  if (profile_ == nullptr) {
    attention(shape, batch, q_.data(), kv, attn_.data(), pool, attn_scratch_);
  } else {
    const auto start = std::chrono::steady_clock::now();
    attention(shape, batch, q_.data(), kv, attn_.data(), pool, attn_scratch_);
    profile_->add("attention", seconds_since(start));
  }
  dump("kqv_out", il, attn_.data(), n * hp_.n_head * hp_.head_dim_v);

  project(l.wo, attn_.data(), n, proj_.data(), pool);
  for_each_token(n, pool, [&](int64_t t) {
    float* p = proj_.data() + t * d;
    if (l.qbias.o != nullptr && takes_quant_bias(batch.positions[t])) add_inplace(p, l.qbias.o, d);
    if (l.post_attn_norm != nullptr) rms_norm(p, l.post_attn_norm, p, d, hp_.norm_eps);
    add_inplace(x_.data() + t * d, p, d);
  });
  dump("attn_out", il, proj_.data(), n * d);
  dump("ffn_inp", il, x_.data(), n * d);
}

void Transformer::ffn_block(int il, const Batch& batch, ThreadPool& pool) {
  const LayerWeights& l = w_.layers[il];
  const int64_t n = batch.size();
  const int64_t d = hp_.n_embd;
  const int64_t ff = hp_.n_ff;
  for_each_token(n, pool, [&](int64_t t) { rms_norm(x_.data() + t * d, l.ffn_norm, xn_.data() + t * d, d, hp_.norm_eps); });
  {
    const WeightMatrix* ws[] = {&l.w_gate, &l.w_up};
    float* ys[] = {gate_.data(), up_.data()};
    dump("ffn_norm", il, xn_.data(), n * d);
    project_shared(ws, xn_.data(), n, ys, pool);
  }
  dump("ffn_gate", il, gate_.data(), n * ff);
  dump("ffn_up", il, up_.data(), n * ff);
  pool.parallel_for(n, 1, [&](int64_t begin, int64_t end) {
    for (int64_t t = begin; t < end; ++t) {
      float* g = gate_.data() + t * ff;
      float* u = up_.data() + t * ff;
      if (takes_quant_bias(batch.positions[t])) {
        if (l.qbias.gate != nullptr) add_inplace(g, l.qbias.gate, ff);
        if (l.qbias.up != nullptr) add_inplace(u, l.qbias.up, ff);
      }
      if (hp_.activation == FfnActivation::GeluTanh) geglu_tanh(g, u, g, ff);
      else ggml_swiglu(g, u, g, ff);
    }
  });
  dump("ffn_swiglu", il, gate_.data(), n * ff);
  project(l.w_down, gate_.data(), n, proj_.data(), pool);
  dump("ffn_out", il, proj_.data(), n * d);
  for_each_token(n, pool, [&](int64_t t) {
    float* p = proj_.data() + t * d;
    if (l.qbias.down != nullptr && takes_quant_bias(batch.positions[t])) add_inplace(p, l.qbias.down, d);
    if (l.post_ffn_norm != nullptr) rms_norm(p, l.post_ffn_norm, p, d, hp_.norm_eps);
    add_inplace(x_.data() + t * d, p, d);
  });
  dump("l_out", il, x_.data(), n * d);
}

}  // namespace tessera
