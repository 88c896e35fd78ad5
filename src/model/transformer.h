// The decoder-only transformer shared by every supported architecture; the
// differences between llama, qwen2, qwen3 and gemma3 are flags in HParams
// (biases, QK-norm, post-norms, activation, RoPE style, sliding windows).
#pragma once

#include <memory>
#include <span>
#include <vector>

#include "kernels/matmul.h"
#include "model/model.h"
#include "model/op_profile.h"
#include "model/weights.h"

namespace tessera {

class Transformer final : public Model {
 public:
  explicit Transformer(std::unique_ptr<GgufFile> file);

  const HParams& hparams() const override { return hp_; }
  const Tokenizer& tokenizer() const override { return *tokenizer_; }
  const GgufFile& file() const override { return *file_; }
  std::unique_ptr<KvCache> make_kv_cache(int64_t n_ctx) const override;
  void forward(const Batch& batch, KvCache& kv, float* logits, ThreadPool& pool) override;
  std::vector<std::span<const uint8_t>> decode_weight_spans() const override;
  void set_matmul_observer(MatmulObserver* observer) override { observer_ = observer; }
  void set_activation_quant(const ActivationQuant& q) override { act_quant_ = q; }
  void set_op_profile(OpProfile* profile) override { profile_ = profile; }

 private:
  // The input a layer matrix reads: x itself, or in act_scratch_ x rotated
  // (a file written with --rotate stores every layer matrix as W H, so its
  // input must be H x; quant/hadamard.h) and/or rounded to the activation
  // grid (act_quant_). The output head keeps its float, unrotated input, as
  // the W8A8 / W4A4 literature does.
  const float* layer_input(const float* x, int64_t n_tokens, int64_t cols, ThreadPool& pool);
  // matmul() behind the observer hook (and the activation grid for layer matrices).
  void project(const WeightMatrix& w, const float* x, int64_t n_tokens, float* y, ThreadPool& pool,
               bool layer_matrix = true) {
    if (layer_matrix) x = layer_input(x, n_tokens, w.cols, pool);
    if (observer_ != nullptr) observer_->observe(w, x, n_tokens);
    if (profile_ == nullptr) {
      matmul(w, x, n_tokens, y, pool, order_);
      return;
    }
    const auto start = std::chrono::steady_clock::now();
    matmul(w, x, n_tokens, y, pool, order_);
    const WeightMatrix* ws[] = {&w};
    profile_->add_matmul(ws, seconds_since(start));
  }
  // matmul_shared_input() (one activation quantization for several weights
  // that read the same input) behind the same hooks.
  void project_shared(std::span<const WeightMatrix* const> ws, const float* x, int64_t n_tokens,
                      std::span<float* const> ys, ThreadPool& pool) {
    x = layer_input(x, n_tokens, ws[0]->cols, pool);
    if (observer_ != nullptr) {
      for (const WeightMatrix* w : ws) observer_->observe(*w, x, n_tokens);
    }
    if (profile_ == nullptr) {
      matmul_shared_input(ws, x, n_tokens, ys, pool, order_);
      return;
    }
    const auto start = std::chrono::steady_clock::now();
    matmul_shared_input(ws, x, n_tokens, ys, pool, order_);
    profile_->add_matmul(ws, seconds_since(start));
  }

  void run_forward(const Batch& batch, KvCache& kv, float* logits, ThreadPool& pool);
  void check_batch(const Batch& batch, const KvCache& kv) const;
  void attention_block(int il, const Batch& batch, KvCache& kv, ThreadPool& pool);
  void ffn_block(int il, const Batch& batch, ThreadPool& pool);
  // Moves the rows of x_ whose tokens want logits to its front, in order, and
  // describes them in out_batch_ (the last layer's FFN runs on those alone).
  void keep_logit_rows(const Batch& batch);

  std::unique_ptr<GgufFile> file_;
  HParams hp_;
  ModelWeights w_;
  std::vector<PackedMatrix> packed_;  // owners of w_'s packed copies
  std::vector<std::vector<float>> vectors_;  // w_'s 1-D vectors, copied out of the file when packed
  std::unique_ptr<Tokenizer> tokenizer_;
  MatmulObserver* observer_ = nullptr;
  OpProfile* profile_ = nullptr;
  SumOrder order_ = SumOrder::kLlamaCpp;  // of the batch being run (Batch::invariant)
  ActivationQuant act_quant_;             // off unless set_activation_quant()
  int64_t rotation_block_ = 0;            // tessera.rotation.block_size; 0 = the file is not rotated

  // Activations, grown to the largest batch seen and reused (no allocation in
  // the steady-state decode loop).
  std::vector<float> x_, xn_, q_, k_, v_, attn_, proj_, gate_, up_, attn_scratch_, logit_in_, act_scratch_;
  std::vector<float> rope_angles_;  // per token: cos, then sin of its n_rot / 2 angles
  Batch out_batch_;                 // keep_logit_rows' tokens (reused: no allocation per step)
};

}  // namespace tessera
