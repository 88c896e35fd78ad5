// The serving engine: one scheduler thread owns the model and the paged KV
// cache and runs iteration-level continuous batching over every request in
// flight. HTTP threads (src/server) only submit requests and read their event
// streams; they never touch the model.
//
// This header is the seam between the HTTP front end and the engine loop.
// Invariants:
//  - submit() validates everything it can before queueing (prompt + max_tokens
//    must fit one sequence's share of the context and the KV pool) and throws
//    InvalidArgument otherwise, so an accepted request only fails on shutdown.
//  - Every accepted request produces events ending in exactly one event with
//    done = true (finish_reason "stop" / "length", or "cancelled" / "error").
//  - cancel() (or destroying the last RequestStream reference) releases the
//    sequence's KV blocks within one engine step.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "model/model.h"
#include "sampling/logprobs.h"
#include "sampling/sampler.h"
#include "tokenizer/tokenizer.h"

namespace tessera::serving {

struct ServingConfig {
  int64_t n_ctx = 4096;             // max positions of one sequence (prompt + generated)
  int64_t kv_blocks = 0;            // blocks in the KV pool; 0: enough for max_seqs * n_ctx / 2
  int max_seqs = 8;                 // sequences decoded together at most
  int64_t step_token_budget = 512;  // tokens (decode + prefill chunks) per forward pass; >= max_seqs
  std::string policy = "fcfs";      // "fcfs" or "fair" (latency-controlled, per-user fairness)
  double target_tpot_ms = 0;        // fair policy: bound on time per output token; 0: derive
  bool prefix_cache = true;
  int threads = 0;                  // 0: hardware concurrency
};

// Logprob of one chosen token and of the most likely alternatives, computed
// from the logits after penalties and before temperature/top-k/top-p (as
// OpenAI reports them): {token, logprob, top = [(token, logprob)...]}, most
// likely first. Defined in sampling/logprobs.h, where Sequence computes it.
using TokenLogprob = ::tessera::TokenLogprob;

struct ServeRequest {
  std::vector<TokenId> prompt;     // already tokenized (BOS included as the model wants)
  int64_t max_tokens = 16;         // >= 1
  SamplingParams sampling;
  std::vector<std::string> stop;   // stop strings; text stops before them
  std::string user;                // fairness key for the "fair" policy ("" = anonymous)
  int top_logprobs = -1;           // -1: no logprobs; 0..20: chosen token (+ that many alternatives)
};

struct StreamEvent {
  std::string text;                     // new text (may be empty, e.g. held back for a stop string)
  std::vector<TokenLogprob> logprobs;   // one per token generated since the previous event, when asked
  bool done = false;
  std::string finish_reason;            // when done: "stop", "length", "cancelled", "error"
  std::string error;                    // when finish_reason == "error"
  // Counters, valid when done (and best-effort before):
  int64_t prompt_tokens = 0;
  int64_t completion_tokens = 0;
  int64_t cached_tokens = 0;            // prompt tokens served from the prefix cache
};

// The reader's end of one request. Thread-safe; the engine writes, one HTTP
// thread reads.
class RequestStream {
 public:
  virtual ~RequestStream() = default;
  // Waits up to `timeout` for the next event; nullopt on timeout. After the
  // done event, returns nullopt immediately.
  virtual std::optional<StreamEvent> next(std::chrono::milliseconds timeout) = 0;
  // Asks the engine to stop this request; its final event has finish_reason "cancelled".
  virtual void cancel() = 0;
  virtual uint64_t id() const = 0;
};

// Counters and histograms for /metrics. Histograms are cumulative bucket
// counts over the upper bounds in `*_buckets_s` (Prometheus convention).
struct Histogram {
  std::vector<double> upper_bounds_s;
  std::vector<uint64_t> cumulative_counts;  // same length as upper_bounds_s
  uint64_t count = 0;
  double sum_s = 0;
};

struct MetricsSnapshot {
  uint64_t requests_finished_stop = 0;
  uint64_t requests_finished_length = 0;
  uint64_t requests_cancelled = 0;
  uint64_t requests_failed = 0;
  uint64_t prompt_tokens_total = 0;
  uint64_t generated_tokens_total = 0;
  uint64_t preemptions_total = 0;
  uint64_t fairness_preemptions_total = 0;  // of those, asked by the policy (a user with nothing running waited)
  int64_t running = 0;
  int64_t waiting = 0;
  int64_t kv_blocks_total = 0;
  int64_t kv_blocks_used = 0;       // referenced by a live sequence
  int64_t kv_blocks_cached = 0;     // unreferenced, kept by the prefix cache (evictable)
  int64_t kv_blocks_free = 0;
  uint64_t prefix_cache_queries = 0;    // prompt blocks looked up
  uint64_t prefix_cache_hits = 0;       // prompt blocks found
  Histogram time_to_first_token;
  Histogram time_per_output_token;
  Histogram queue_time;
  uint64_t steps_total = 0;
  // Forward-pass time of the engine's steps by what they carried: decode
  // tokens only, decode tokens and prefill chunks (what a latency-controlled
  // policy sizes), prefill only. The token counters split the same steps.
  Histogram step_seconds_decode, step_seconds_mixed, step_seconds_prefill;
  uint64_t step_decode_tokens_total = 0;
  uint64_t step_prefill_tokens_total = 0;
};

class ServingEngine {
 public:
  // Starts the scheduler thread. Throws InvalidArgument for an impossible config.
  ServingEngine(Model& model, const ServingConfig& config);
  ~ServingEngine();  // cancels everything in flight and joins the thread
  ServingEngine(const ServingEngine&) = delete;
  ServingEngine& operator=(const ServingEngine&) = delete;

  // Queues a request. Throws InvalidArgument (message fit for an API client)
  // when it can never run: empty prompt, prompt + max_tokens beyond n_ctx or
  // the whole KV pool, bad sampling parameters.
  std::shared_ptr<RequestStream> submit(ServeRequest request);

  // Stops accepting requests (submit() then throws Error), ends every request
  // in flight with finish_reason "cancelled" and joins the scheduler thread;
  // returns after the step in progress. Idempotent; the destructor calls it.
  void shutdown();

  MetricsSnapshot metrics() const;
  const ServingConfig& config() const;
  Model& model();

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace tessera::serving
