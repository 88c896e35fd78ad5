// The engine loop: one thread owns the model, the KV cache and the thread
// pool and runs steps until shut down. Each step
//   1. drops cancelled requests (their blocks go back at once), and when
//      every sequence slot is taken lets the policy preempt one for a
//      waiting request (fairness; re-queued behind the waiting ones),
//   2. gives every running sequence past its prompt one decode token,
//      preempting the newest running sequence when the pool has no block,
//   3. adds prefill chunks (running prompts first, then admitted requests)
//      up to the policy's prefill budget,
//   4. runs one forward pass, samples, streams text and finishes sequences,
//   5. publishes newly completed prompt blocks to the prefix cache.
//
// Admission reserves a request's whole context (+1 token) at once, so prefill
// chunks never need blocks mid-way; only decode growth can run out, and then
// the newest sequence is preempted (blocks freed, re-queued first, recomputed
// from its prompt and generated tokens with its sampler state kept).
#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <deque>
#include <mutex>
#include <thread>

#include "core/error.h"
#include "core/thread_pool.h"
#include "engine/sequence.h"
#include "serving/metrics.h"
#include "serving/request_stream.h"
#include "serving/schedule_policy.h"
#include "serving/serving_engine.h"

namespace tessera::serving {

namespace {

using Clock = std::chrono::steady_clock;

double seconds_between(Clock::time_point a, Clock::time_point b) {
  return std::chrono::duration<double>(b - a).count();
}

// Engine-side state of one request.
struct Request {
  std::shared_ptr<StreamChannel> channel;
  std::unique_ptr<Sequence> seq;
  std::string user;
  int top_logprobs = -1;
  uint64_t arrival = 0;                // submission order
  uint64_t admission = 0;              // order of the latest admission (newest = largest)
  std::vector<uint64_t> block_keys;    // prefix-cache keys of the prompt's full blocks
  int64_t published = 0;               // leading blocks of block_keys known to the prefix cache
  int64_t cached_tokens = 0;           // prompt tokens reused at first admission
  bool ever_admitted = false;
  bool preempted = false;              // re-queued after preemption (recomputes its generated tokens)
  Clock::time_point submitted;
  Clock::time_point last_token;
  bool has_token = false;
  // Filled while processing one step's logits, flushed as one event.
  std::string pending_text;
  std::vector<TokenLogprob> pending_logprobs;
};

}  // namespace

struct ServingEngine::Impl {
  Impl(Model& m, const ServingConfig& c);
  ~Impl();
  void shutdown();

  std::shared_ptr<RequestStream> submit(ServeRequest request);
  void run();
  bool step();
  void reap_cancelled();
  void schedule();
  bool admit(Request& r);
  void preempt_newest();
  void preempt_for_fairness();
  std::vector<WaitingRequest> waiting_view() const;  // what the policy sees of `waiting`
  // Frees a preempted request's blocks and queues it for recomputation: at the
  // front (out of blocks) or at the back (yielding its slot for fairness).
  void requeue_preempted(std::unique_ptr<Request> victim, bool for_fairness);
  void add_prefill(Request& r, int64_t& budget);
  void process_logits();
  void publish_blocks();
  void finish(Request& r, const std::string& reason, const std::string& error = {});
  void release_id(int id);
  void fail_all(const std::string& reason, const std::string& error);
  void update_gauges();

  Model& model;
  ServingConfig config;
  std::unique_ptr<KvCache> kv;
  int block_tokens = 0;
  ThreadPool pool;
  std::unique_ptr<SchedulePolicy> policy;
  MetricsRecorder metrics;

  // Shared with submitting threads, under mutex.
  std::mutex mutex;
  std::condition_variable wake;
  std::deque<std::unique_ptr<Request>> inbox;
  std::vector<int> free_ids;
  int next_id = 0;
  uint64_t next_request_id = 1;
  bool stopping = false;

  // Engine thread only.
  std::deque<std::unique_ptr<Request>> waiting;    // oldest first; KV-preempted ones at the front,
                                                   // fairness-preempted ones at the back
  std::vector<std::unique_ptr<Request>> running;   // admission order
  uint64_t admissions = 0;
  Batch batch;
  std::vector<Request*> in_batch;    // requests with tokens in the batch
  std::vector<Request*> logit_rows;  // request of each logits row
  std::vector<float> logits;
  int64_t n_decode = 0;

  std::mutex join_mutex;
  std::thread thread;
};

ServingEngine::Impl::Impl(Model& m, const ServingConfig& c)
    : model(m), config(c), pool(c.threads > 0 ? c.threads : default_thread_count()) {
  if (c.n_ctx <= 0) raise<InvalidArgument>("the context size must be positive, got {}", c.n_ctx);
  if (c.kv_blocks < 0) raise<InvalidArgument>("the KV block count must be >= 0 (0 = derive), got {}", c.kv_blocks);
  if (c.max_seqs <= 0) raise<InvalidArgument>("max sequences must be positive, got {}", c.max_seqs);
  if (c.step_token_budget <= 0) {
    raise<InvalidArgument>("the step token budget must be positive, got {}", c.step_token_budget);
  }
  // Decode tokens are never deferred (that would stall streams), so the
  // budget must hold one per running sequence.
  if (c.step_token_budget < c.max_seqs) {
    raise<InvalidArgument>("the step token budget ({}) must be at least max sequences ({})", c.step_token_budget,
                           c.max_seqs);
  }
  if (!(c.target_tpot_ms >= 0)) raise<InvalidArgument>("the TPOT target must be >= 0 ms, got {}", c.target_tpot_ms);
  if (c.threads < 0) raise<InvalidArgument>("threads must be >= 0 (0 = all cores), got {}", c.threads);
  policy = make_schedule_policy(c);

  // The model decides the cache geometry; the engine decides the pool size.
  KvCacheConfig kc = model.make_kv_cache(1)->config();
  block_tokens = kc.block_tokens;
  const int64_t one_seq = (c.n_ctx + block_tokens - 1) / block_tokens;
  kc.n_blocks = c.kv_blocks > 0 ? c.kv_blocks
                                : std::max(one_seq, (c.max_seqs * c.n_ctx / 2 + block_tokens - 1) / block_tokens);
  config.kv_blocks = kc.n_blocks;
  kv = std::make_unique<KvCache>(kc);
  // A request's output must not depend on which others share its steps
  // (nor on whether it was recomputed after preemption): kernels keep one
  // summation order whatever the batch size.
  batch.invariant = true;
  metrics.update([&](MetricsSnapshot& m) {
    m.kv_blocks_total = kc.n_blocks;
    m.kv_blocks_free = kc.n_blocks;
  });
  thread = std::thread([this] { run(); });
}

ServingEngine::Impl::~Impl() { shutdown(); }

void ServingEngine::Impl::shutdown() {
  {
    std::lock_guard lock(mutex);
    stopping = true;
  }
  wake.notify_all();
  std::lock_guard join_lock(join_mutex);  // concurrent shutdown() calls: one joins, the others wait
  if (thread.joinable()) thread.join();
}

std::shared_ptr<RequestStream> ServingEngine::Impl::submit(ServeRequest req) {
  const auto n_prompt = static_cast<int64_t>(req.prompt.size());
  if (n_prompt == 0) raise<InvalidArgument>("the prompt is empty");
  if (req.max_tokens < 1) raise<InvalidArgument>("max_tokens must be at least 1, got {}", req.max_tokens);
  if (req.top_logprobs < -1 || req.top_logprobs > kMaxTopLogprobs) {
    raise<InvalidArgument>("top_logprobs must be between 0 and {}, got {}", kMaxTopLogprobs, req.top_logprobs);
  }
  const int64_t n_vocab = model.hparams().n_vocab;
  for (TokenId t : req.prompt) {
    if (t < 0 || t >= n_vocab) raise<InvalidArgument>("prompt token {} is outside the vocabulary (0..{})", t, n_vocab - 1);
  }
  if (n_prompt + req.max_tokens > config.n_ctx) {
    raise<InvalidArgument>(
        "this model's context is {} tokens, but {} prompt tokens + max_tokens {} were requested; "
        "shorten the prompt or lower max_tokens",
        config.n_ctx, n_prompt, req.max_tokens);
  }
  const int64_t blocks = (n_prompt + req.max_tokens + block_tokens - 1) / block_tokens;
  if (blocks > config.kv_blocks) {
    raise<InvalidArgument>("{} prompt tokens + max_tokens {} need {} KV blocks of {} tokens, but the pool has {}",
                           n_prompt, req.max_tokens, blocks, block_tokens, config.kv_blocks);
  }
  req.sampling.validate();

  auto r = std::make_unique<Request>();
  r->user = std::move(req.user);
  r->top_logprobs = req.top_logprobs;
  r->submitted = Clock::now();
  // Keys of the prompt's full blocks, chained: computed here, on the caller's
  // thread, not in the engine loop.
  for (int64_t b = 0; (b + 1) * block_tokens <= n_prompt; ++b) {
    const uint64_t prev = r->block_keys.empty() ? 0 : r->block_keys.back();
    r->block_keys.push_back(prefix_block_key(prev, req.prompt.data() + b * block_tokens, block_tokens));
  }
  std::shared_ptr<RequestStream> handle;
  {
    std::lock_guard lock(mutex);
    if (stopping) raise("the server is shutting down");
    int id;
    if (!free_ids.empty()) {
      id = free_ids.back();
      free_ids.pop_back();
    } else {
      id = next_id++;
    }
    try {
      r->seq = std::make_unique<Sequence>(id, std::move(req.prompt), req.max_tokens, req.sampling, std::move(req.stop));
    } catch (...) {
      free_ids.push_back(id);
      throw;
    }
    r->arrival = next_request_id++;
    r->channel = std::make_shared<StreamChannel>(r->arrival);
    handle = std::make_shared<StreamHandle>(r->channel);
    inbox.push_back(std::move(r));
  }
  wake.notify_all();
  return handle;
}

void ServingEngine::Impl::run() {
  for (;;) {
    {
      std::unique_lock lock(mutex);
      wake.wait(lock, [&] { return stopping || !inbox.empty() || !running.empty() || !waiting.empty(); });
      if (stopping) break;
      while (!inbox.empty()) {
        waiting.push_back(std::move(inbox.front()));
        inbox.pop_front();
      }
    }
    bool progressed = false;
    try {
      progressed = step();
    } catch (const std::exception& e) {
      // A bug or an allocation failure: fail what is in flight rather than
      // leave clients waiting forever.
      fail_all("error", e.what());
    }
    update_gauges();
    if (!progressed) {
      // Nothing could run (should not happen: the oldest request always
      // fits). Don't spin; wait for a change.
      std::unique_lock lock(mutex);
      wake.wait_for(lock, std::chrono::milliseconds(5));
    }
  }
  {
    // submit() refuses from now on; what it queued last goes the same way.
    std::lock_guard lock(mutex);
    while (!inbox.empty()) {
      waiting.push_back(std::move(inbox.front()));
      inbox.pop_front();
    }
  }
  fail_all("cancelled", {});
}

bool ServingEngine::Impl::step() {
  reap_cancelled();
  schedule();
  if (batch.size() == 0) return running.empty() && waiting.empty();

  const int64_t n_vocab = model.hparams().n_vocab;
  logits.resize(logit_rows.size() * static_cast<size_t>(n_vocab));
  const auto t0 = Clock::now();
  try {
    model.forward(batch, *kv, logits.data(), pool);
  } catch (const std::exception& e) {
    // Fail only the requests in this batch; the others continue.
    for (Request* r : in_batch) finish(*r, "error", e.what());
    return true;
  }
  const double seconds = seconds_between(t0, Clock::now());
  policy->on_step(batch.size(), n_decode, seconds);
  publish_blocks();
  process_logits();
  const auto n_prefill = static_cast<uint64_t>(batch.size() - n_decode);
  metrics.update([&](MetricsSnapshot& m) {
    ++m.steps_total;
    m.step_decode_tokens_total += static_cast<uint64_t>(n_decode);
    m.step_prefill_tokens_total += n_prefill;
    histogram_observe(n_prefill == 0 ? m.step_seconds_decode
                                     : n_decode == 0 ? m.step_seconds_prefill : m.step_seconds_mixed,
                      seconds);
  });
  return true;
}

void ServingEngine::Impl::reap_cancelled() {
  for (size_t i = 0; i < running.size();) {
    if (running[i]->channel->cancel_requested()) finish(*running[i], "cancelled");
    else ++i;
  }
  for (size_t i = 0; i < waiting.size();) {
    if (waiting[i]->channel->cancel_requested()) finish(*waiting[i], "cancelled");
    else ++i;
  }
}

void ServingEngine::Impl::schedule() {
  batch.clear();
  in_batch.clear();
  logit_rows.clear();
  n_decode = 0;
  preempt_for_fairness();

  // Decode tokens, oldest first. A victim of preemption is always the newest
  // running sequence, i.e. one not yet visited (or the current one).
  for (size_t i = 0; i < running.size(); ++i) {
    Request& r = *running[i];
    if (r.seq->prefilling()) continue;
    bool self_preempted = false;
    while (!kv->reserve(r.seq->id(), r.seq->n_past() + 1)) {
      self_preempted = running.back().get() == &r;
      preempt_newest();
      if (self_preempted) break;
    }
    if (self_preempted) break;
    r.seq->add_decode_token(batch);
    in_batch.push_back(&r);
    logit_rows.push_back(&r);
    ++n_decode;
  }

  const int64_t room = config.step_token_budget - n_decode;
  int64_t budget = std::clamp<int64_t>(policy->prefill_budget(n_decode), 0, std::max<int64_t>(room, 0));
  for (auto& r : running) {
    if (budget <= 0) break;
    if (r->seq->prefilling()) add_prefill(*r, budget);
  }
  while (budget > 0 && static_cast<int>(running.size()) < config.max_seqs && !waiting.empty()) {
    size_t pick = 0;
    std::vector<WaitingRequest> view;
    if (!waiting.front()->preempted) {
      view = waiting_view();
      pick = std::min(policy->pick_next(view), waiting.size() - 1);
    }
    Request& r = *waiting[pick];
    if (!admit(r)) break;  // not enough blocks: wait for some to come back
    if (!view.empty()) policy->on_admit(view[pick]);
    running.push_back(std::move(waiting[pick]));
    waiting.erase(waiting.begin() + static_cast<std::ptrdiff_t>(pick));
    add_prefill(*running.back(), budget);
  }
}

bool ServingEngine::Impl::admit(Request& r) {
  Sequence& seq = *r.seq;
  const int id = seq.id();
  int64_t reused = 0;
  int64_t usable = 0;
  if (config.prefix_cache && !r.block_keys.empty()) {
    // A fresh prompt must compute at least its last token (for logits); a
    // preempted one needs no logits from its prefill.
    const auto n_prompt = static_cast<int64_t>(seq.prompt().size());
    usable = seq.generated().empty() ? std::min<int64_t>(r.block_keys.size(), (n_prompt - 1) / block_tokens)
                                     : static_cast<int64_t>(r.block_keys.size());
    reused = kv->attach_cached_prefix(id, r.block_keys.data(), seq.prompt().data(), usable);
  }
  // The whole context plus the first decode token, at once.
  if (!kv->reserve(id, seq.n_context() + 1)) {
    kv->release(id);
    return false;
  }
  if (reused > 0) seq.skip_cached_prefix(reused * block_tokens);
  r.published = reused;
  r.admission = ++admissions;
  const auto now = Clock::now();
  if (!r.ever_admitted) {
    r.ever_admitted = true;
    r.cached_tokens = reused * block_tokens;
    metrics.update([&](MetricsSnapshot& m) {
      m.prefix_cache_queries += static_cast<uint64_t>(usable);
      m.prefix_cache_hits += static_cast<uint64_t>(reused);
      m.prompt_tokens_total += seq.prompt().size();
      histogram_observe(m.queue_time, seconds_between(r.submitted, now));
    });
  }
  r.preempted = false;
  return true;
}

std::vector<WaitingRequest> ServingEngine::Impl::waiting_view() const {
  std::vector<WaitingRequest> view;
  view.reserve(waiting.size());
  for (const auto& w : waiting) view.push_back({w->arrival, &w->user, w->seq->n_context()});
  return view;
}

void ServingEngine::Impl::preempt_for_fairness() {
  if (static_cast<int>(running.size()) < config.max_seqs || waiting.empty()) return;
  std::vector<RunningRequest> running_view;
  running_view.reserve(running.size());
  for (const auto& r : running) running_view.push_back({r->admission, &r->user});
  const int64_t v = policy->fairness_victim(running_view, waiting_view());
  if (v < 0 || v >= static_cast<int64_t>(running.size())) return;
  std::unique_ptr<Request> victim = std::move(running[static_cast<size_t>(v)]);
  running.erase(running.begin() + v);
  // Behind the requests it yields to; admitted again by the policy's order.
  requeue_preempted(std::move(victim), /*for_fairness=*/true);
}

void ServingEngine::Impl::preempt_newest() {
  std::unique_ptr<Request> victim = std::move(running.back());
  running.pop_back();
  // Newest admitted goes back first in line: preempted requests are
  // readmitted in the order they were running, before any new request.
  requeue_preempted(std::move(victim), /*for_fairness=*/false);
}

void ServingEngine::Impl::requeue_preempted(std::unique_ptr<Request> victim, bool for_fairness) {
  kv->release(victim->seq->id());
  victim->seq->preempt();
  victim->preempted = true;
  metrics.update([&](MetricsSnapshot& m) {
    ++m.preemptions_total;
    if (for_fairness) ++m.fairness_preemptions_total;
  });
  if (for_fairness) {
    waiting.push_back(std::move(victim));
  } else {
    waiting.push_front(std::move(victim));
  }
}

void ServingEngine::Impl::add_prefill(Request& r, int64_t& budget) {
  const int64_t added = r.seq->add_prefill_chunk(batch, budget);
  if (added <= 0) return;
  budget -= added;
  in_batch.push_back(&r);
  if (batch.want_logits.back()) logit_rows.push_back(&r);
}

void ServingEngine::Impl::publish_blocks() {
  if (!config.prefix_cache) return;
  for (Request* r : in_batch) {
    const int64_t full = std::min<int64_t>(r->block_keys.size(), r->seq->n_past() / block_tokens);
    for (int64_t b = r->published; b < full; ++b) {
      kv->publish_block(r->seq->id(), b, r->block_keys[b], r->seq->prompt().data() + b * block_tokens);
    }
    r->published = std::max(r->published, full);
  }
}

void ServingEngine::Impl::process_logits() {
  const Tokenizer& tokenizer = model.tokenizer();
  const int64_t n_vocab = model.hparams().n_vocab;
  const auto now = Clock::now();
  uint64_t generated = 0;
  std::vector<double> ttft, tpot;
  for (size_t row = 0; row < logit_rows.size(); ++row) {
    Request& r = *logit_rows[row];
    Sequence& seq = *r.seq;
    const size_t before = seq.generated().size();
    TokenLogprob lp;
    seq.on_logits(logits.data() + row * static_cast<size_t>(n_vocab), n_vocab, tokenizer,
                  [&](std::string_view text) { r.pending_text.append(text); }, r.top_logprobs, &lp);
    if (seq.generated().size() > before) {
      ++generated;
      if (r.top_logprobs >= 0) r.pending_logprobs.push_back(std::move(lp));
    }
    // Every sampling is an output step, the end-of-generation token included.
    if (!r.has_token) ttft.push_back(seconds_between(r.submitted, now));
    else tpot.push_back(seconds_between(r.last_token, now));
    r.has_token = true;
    r.last_token = now;
    if (!seq.finished() && (!r.pending_text.empty() || !r.pending_logprobs.empty())) {
      StreamEvent ev;
      ev.text = std::move(r.pending_text);
      ev.logprobs = std::move(r.pending_logprobs);
      ev.prompt_tokens = static_cast<int64_t>(seq.prompt().size());
      ev.completion_tokens = static_cast<int64_t>(seq.generated().size());
      ev.cached_tokens = r.cached_tokens;
      r.pending_text.clear();
      r.pending_logprobs.clear();
      r.channel->push(std::move(ev));
    }
  }
  metrics.update([&](MetricsSnapshot& m) {
    m.generated_tokens_total += generated;
    for (double s : ttft) histogram_observe(m.time_to_first_token, s);
    for (double s : tpot) histogram_observe(m.time_per_output_token, s);
  });
  // Finish after all rows are consumed (finish() reorders `running`).
  for (Request* r : logit_rows) {
    if (r->seq->finished()) finish(*r, finish_reason_name(r->seq->finish_reason()));
  }
}

void ServingEngine::Impl::finish(Request& r, const std::string& reason, const std::string& error) {
  Sequence& seq = *r.seq;
  if (reason == "stop" || reason == "length") {
    seq.flush([&](std::string_view text) { r.pending_text.append(text); });
  }
  StreamEvent ev;
  ev.text = std::move(r.pending_text);
  ev.logprobs = std::move(r.pending_logprobs);
  ev.done = true;
  ev.finish_reason = reason;
  ev.error = error;
  ev.prompt_tokens = static_cast<int64_t>(seq.prompt().size());
  ev.completion_tokens = static_cast<int64_t>(seq.generated().size());
  ev.cached_tokens = r.cached_tokens;
  metrics.update([&](MetricsSnapshot& m) {
    if (reason == "stop") ++m.requests_finished_stop;
    else if (reason == "length") ++m.requests_finished_length;
    else if (reason == "cancelled") ++m.requests_cancelled;
    else ++m.requests_failed;
  });
  kv->release(seq.id());
  release_id(seq.id());
  // Drop it from whichever queue holds it (this destroys r), and update the
  // gauges before the client sees the done event: a client that saw it never
  // reads metrics still counting this request's sequence or blocks.
  std::shared_ptr<StreamChannel> channel = r.channel;
  const auto same = [&](const std::unique_ptr<Request>& p) { return p.get() == &r; };
  if (auto it = std::find_if(running.begin(), running.end(), same); it != running.end()) {
    running.erase(it);
  } else if (auto wt = std::find_if(waiting.begin(), waiting.end(), same); wt != waiting.end()) {
    waiting.erase(wt);
  }
  update_gauges();
  channel->push(std::move(ev));
}

void ServingEngine::Impl::release_id(int id) {
  std::lock_guard lock(mutex);
  free_ids.push_back(id);
}

void ServingEngine::Impl::fail_all(const std::string& reason, const std::string& error) {
  while (!running.empty()) finish(*running.back(), reason, error);
  while (!waiting.empty()) finish(*waiting.back(), reason, error);
}

void ServingEngine::Impl::update_gauges() {
  metrics.update([&](MetricsSnapshot& m) {
    m.running = static_cast<int64_t>(running.size());
    m.waiting = static_cast<int64_t>(waiting.size());
    m.kv_blocks_used = kv->used_blocks();
    m.kv_blocks_cached = kv->cached_blocks();
    m.kv_blocks_free = kv->free_blocks();
  });
}

ServingEngine::ServingEngine(Model& model, const ServingConfig& config)
    : impl_(std::make_unique<Impl>(model, config)) {}
ServingEngine::~ServingEngine() = default;

std::shared_ptr<RequestStream> ServingEngine::submit(ServeRequest request) { return impl_->submit(std::move(request)); }
void ServingEngine::shutdown() { impl_->shutdown(); }
MetricsSnapshot ServingEngine::metrics() const { return impl_->metrics.snapshot(); }
const ServingConfig& ServingEngine::config() const { return impl_->config; }
Model& ServingEngine::model() { return impl_->model; }

}  // namespace tessera::serving
