// A loaded model: hyper-parameters from GGUF metadata, weights viewed in place
// in the mapping, a tokenizer, and one forward pass over a Batch + KvCache.
#pragma once

#include <memory>
#include <span>
#include <string>
#include <vector>

#include "core/thread_pool.h"
#include "kernels/activation_quant.h"
#include "kernels/matmul.h"
#include "gguf/gguf_file.h"
#include "kv/kv_cache.h"
#include "model/batch.h"
#include "model/hparams.h"
#include "tokenizer/tokenizer.h"

namespace tessera {

// Sees the input of every weight-matrix multiplication, before it runs: the
// hook quantizers use to collect activation statistics from calibration text.
// Called on the thread that runs forward(); x holds n_tokens rows of w.cols.
class MatmulObserver {
 public:
  virtual ~MatmulObserver() = default;
  virtual void observe(const WeightMatrix& w, const float* x, int64_t n_tokens) = 0;
};

class OpProfile;

class Model {
 public:
  virtual ~Model() = default;

  // Loads any supported architecture. Throws FormatError for an unsupported
  // architecture (listing the supported ones), a missing key or tensor, or a
  // tensor of the wrong shape or an unsupported type.
  static std::unique_ptr<Model> load(const std::string& path);

  virtual const HParams& hparams() const = 0;
  virtual const Tokenizer& tokenizer() const = 0;
  virtual const GgufFile& file() const = 0;

  // A KV cache sized for `n_ctx` tokens in total across sequences.
  virtual std::unique_ptr<KvCache> make_kv_cache(int64_t n_ctx) const = 0;

  // Runs the batch. For each token with want_logits set, in batch order, writes
  // n_vocab floats to logits (so logits must hold batch.n_logits() * n_vocab).
  // The KV cache must have room for every (seq, position) in the batch; tokens
  // of one sequence must appear in increasing position order.
  virtual void forward(const Batch& batch, KvCache& kv, float* logits, ThreadPool& pool) = 0;

  // The weights one decode step reads: every matrix in the layout the
  // kernels read (packed copies where there are some), and one row of the
  // embedding table (all of it again when it doubles as the output matrix).
  // `tessera bench` reads them to measure the bandwidth a decode could reach.
  virtual std::vector<std::span<const uint8_t>> decode_weight_spans() const = 0;
  // Their bytes, in all.
  int64_t weight_bytes_per_token() const;

  // Installs (or, with nullptr, removes) an observer of every matmul input.
  // Models that cannot report them throw Error.
  virtual void set_matmul_observer(MatmulObserver* observer);

  // Rounds the input of every layer matrix (not the output head) to the
  // activation grid `q` from the next forward on (q.bits == 0: off). Models
  // that cannot do it throw Error.
  virtual void set_activation_quant(const ActivationQuant& q);

  // Installs (or, with nullptr, removes) a profile that every forward adds
  // its operations' times to. Models that cannot time them throw Error.
  virtual void set_op_profile(OpProfile* profile);
};

// Names of the architectures Model::load accepts.
std::vector<std::string> supported_architectures();

}  // namespace tessera
