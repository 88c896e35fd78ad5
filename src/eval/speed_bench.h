// Prefill and decode throughput of a model, measured as llama-bench measures
// it: ppN = one forward pass over N prompt tokens from an empty cache; tgN = N
// single-token decode steps from an empty cache. Tokens are random ids.
#pragma once

#include <cstdint>
#include <functional>

#include "core/thread_pool.h"
#include "model/model.h"
#include "model/op_profile.h"

namespace tessera {

// The most sequences `tessera bench` decodes together.
inline constexpr int kMaxParallel = 256;

struct SpeedBenchOptions {
  int n_prompt = 512;
  int n_gen = 128;
  // Sequences decoded together: each decode step is one token of each (the
  // serving engine's batched decode; llama-batched-bench's parallel
  // sequences). Decode tok/s counts every sequence's tokens.
  int n_parallel = 1;
  int repetitions = 3;
  uint32_t seed = 42;
  // After the timed repetitions, one more prefill of n_prompt tokens and one
  // more decode run of n_gen tokens, each with an OpProfile installed (their
  // own runs: the clock reads do not touch the figures).
  bool profile = false;
};

struct Throughput {
  double mean = 0;    // tokens / s
  double stddev = 0;  // over repetitions
};

// An OpProfile's totals over one profiled run of `tokens` tokens.
struct ProfiledRun {
  std::vector<OpProfile::Entry> ops;
  int64_t tokens = 0;
  double seconds = 0;  // forward passes, in all
  bool empty() const { return ops.empty(); }
};

struct SpeedBenchResult {
  Throughput prefill;
  Throughput decode;
  int64_t weight_bytes_per_token = 0;  // bytes of weights one decode step reads
  double decode_read_gbps = 0;         // weight_bytes_per_token * decode steps / s
  // The same weights read without compute (read_spans) right before and
  // right after each decode run, the best of kReadPasses passes on each side;
  // the mean over runs.
  double weights_read_gbps = 0;
  // The mean over decode runs of the run's weight GB/s over its own read
  // figure: how close decode comes to streaming its weights.
  double bandwidth_share = 0;
  ProfiledRun prefill_profile;  // with options.profile (empty without prompt tokens)
  ProfiledRun decode_profile;   // with options.profile (empty without decode tokens)
};


// Read passes over the decode weights on each side of a decode run.
inline constexpr int kReadPasses = 3;

// progress(stage, repetition) is called before each measurement.
SpeedBenchResult run_speed_bench(Model& model, ThreadPool& pool, const SpeedBenchOptions& options,
                                 const std::function<void(const char*, int)>& progress = {});

}  // namespace tessera
