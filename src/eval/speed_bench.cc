#include "eval/speed_bench.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <random>
#include <vector>

#include "core/error.h"
#include "eval/roofline.h"
#include "kv/kv_cache.h"

namespace tessera {

namespace {

Throughput summarize(const std::vector<double>& tps) {
  Throughput t;
  if (tps.empty()) return t;
  for (double v : tps) t.mean += v;
  t.mean /= static_cast<double>(tps.size());
  if (tps.size() > 1) {
    double var = 0;
    for (double v : tps) var += (v - t.mean) * (v - t.mean);
    t.stddev = std::sqrt(var / static_cast<double>(tps.size() - 1));
  }
  return t;
}

double elapsed(std::chrono::steady_clock::time_point start) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

}  // namespace

SpeedBenchResult run_speed_bench(Model& model, ThreadPool& pool, const SpeedBenchOptions& o,
                                 const std::function<void(const char*, int)>& progress) {
  if (o.n_prompt < 0 || o.n_gen < 0 || o.repetitions <= 0) {
    raise<InvalidArgument>("bench: -p and -n must be >= 0 and -r > 0");
  }
  if (o.n_parallel < 1 || o.n_parallel > kMaxParallel) {
    raise<InvalidArgument>("bench: parallel sequences must be in [1, {}], got {}", kMaxParallel, o.n_parallel);
  }
  const int64_t n_vocab = model.hparams().n_vocab;
  // The model's cache geometry (as the serving engine takes it), with room for
  // the prefill's sequence or for every decoding sequence: the pool is paged,
  // so each sequence needs its own whole blocks.
  KvCacheConfig kc = model.make_kv_cache(1)->config();
  kc.n_blocks = (std::max(o.n_prompt, o.n_gen) + 1 + kc.block_tokens - 1) / kc.block_tokens * o.n_parallel;
  auto kv = std::make_unique<KvCache>(kc);
  std::mt19937 rng(o.seed);
  std::uniform_int_distribution<int32_t> token(0, static_cast<int32_t>(n_vocab - 1));
  std::vector<float> logits(static_cast<size_t>(n_vocab * o.n_parallel));
  Batch batch;
  std::vector<double> pp, tg;
  // n_gen steps of n_parallel sequences (one token each), from an empty cache.
  auto decode_from_empty = [&] {
    for (int s = 0; s < o.n_parallel; ++s) {
      kv->release(s);
      if (!kv->reserve(s, o.n_gen)) raise("bench: the KV cache cannot hold {} sequences", o.n_parallel);
    }
    // Several sequences decode as the serving engine runs them.
    batch.invariant = o.n_parallel > 1;
    for (int i = 0; i < o.n_gen; ++i) {
      batch.clear();
      for (int s = 0; s < o.n_parallel; ++s) batch.add(token(rng), i, s, true);
      model.forward(batch, *kv, logits.data(), pool);
    }
    for (int s = 1; s < o.n_parallel; ++s) kv->release(s);
  };

  // One prefill of n_prompt tokens from an empty cache; returns its seconds.
  auto prefill_from_empty = [&] {
    kv->release(0);
    kv->reserve(0, o.n_prompt);
    batch.clear();
    // One sequence, in llama.cpp's order, also after a batch-invariant -b decode.
    batch.invariant = false;
    for (int i = 0; i < o.n_prompt; ++i) batch.add(token(rng), i, 0, i + 1 == o.n_prompt);
    const auto t0 = std::chrono::steady_clock::now();
    model.forward(batch, *kv, logits.data(), pool);
    return elapsed(t0);
  };
  // run() with an OpProfile installed: its totals over `tokens` tokens.
  auto profiled = [&](const auto& run, int64_t tokens) {
    OpProfile profile;
    {
      // The model must not keep a pointer to this profile if a step throws.
      struct Attached {
        Model& m;
        ~Attached() { m.set_op_profile(nullptr); }
      } attached{model};
      model.set_op_profile(&profile);
      run();
    }
    return ProfiledRun{profile.entries(), tokens, profile.forward_seconds()};
  };

  // One untimed warm-up step pages the weights in and sizes the buffers.
  kv->release(0);
  kv->reserve(0, 1);
  batch.add(token(rng), 0, 0, true);
  model.forward(batch, *kv, logits.data(), pool);

  const std::vector<std::span<const uint8_t>> weights = model.decode_weight_spans();
  auto best_read_gbps = [&] {
    double best = 0;
    for (int i = 0; i < kReadPasses; ++i) best = std::max(best, read_spans(weights, pool).gbps());
    return best;
  };
  std::vector<double> read_gbps, shares;
  const int64_t bytes_per_step = model.weight_bytes_per_token();
  for (int rep = 0; rep < o.repetitions; ++rep) {
    if (o.n_prompt > 0) {
      if (progress) progress("prefill", rep);
      pp.push_back(o.n_prompt / prefill_from_empty());
    }
    if (o.n_gen > 0) {
      if (progress) progress("decode", rep);
      const double read_before = best_read_gbps();
      const auto t0 = std::chrono::steady_clock::now();
      decode_from_empty();
      const double seconds = elapsed(t0);
      const double read = std::max(read_before, best_read_gbps());
      tg.push_back(static_cast<double>(o.n_gen) * o.n_parallel / seconds);
      read_gbps.push_back(read);
      if (read > 0) shares.push_back(static_cast<double>(bytes_per_step) * o.n_gen / seconds / 1e9 / read);
    }
  }
  SpeedBenchResult r;
  if (o.profile && o.n_prompt > 0) {
    if (progress) progress("profiled prefill", 0);
    r.prefill_profile = profiled(prefill_from_empty, o.n_prompt);
  }
  if (o.profile && o.n_gen > 0) {
    if (progress) progress("profiled decode", 0);
    r.decode_profile = profiled(decode_from_empty, static_cast<int64_t>(o.n_gen) * o.n_parallel);
  }
  r.prefill = summarize(pp);
  r.decode = summarize(tg);
  r.weight_bytes_per_token = bytes_per_step;
  r.decode_read_gbps = static_cast<double>(r.weight_bytes_per_token) * r.decode.mean / o.n_parallel / 1e9;
  r.weights_read_gbps = summarize(read_gbps).mean;
  r.bandwidth_share = summarize(shares).mean;
  return r;
}

}  // namespace tessera
