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

struct SpeedBenchOptions {
  int n_prompt = 512;
  int n_gen = 128;
  int repetitions = 3;
  uint32_t seed = 42;
  // After the timed repetitions, one more decode run of n_gen tokens with an
  // OpProfile installed (its own run: the clock reads do not touch the figures).
  bool profile = false;
};

struct Throughput {
  double mean = 0;    // tokens / s
  double stddev = 0;  // over repetitions
};

struct SpeedBenchResult {
  Throughput prefill;
  Throughput decode;
  int64_t weight_bytes_per_token = 0;  // bytes of weights one decode step reads
  double decode_read_gbps = 0;         // weight_bytes_per_token * decode tok/s
  std::vector<OpProfile::Entry> decode_profile;  // with options.profile: totals over profiled_tokens
  int64_t profiled_tokens = 0;
  double profiled_seconds = 0;
};


// progress(stage, repetition) is called before each measurement.
SpeedBenchResult run_speed_bench(Model& model, ThreadPool& pool, const SpeedBenchOptions& options,
                                 const std::function<void(const char*, int)>& progress = {});

}  // namespace tessera
