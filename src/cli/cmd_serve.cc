// tessera serve: the OpenAI-compatible HTTP server (src/server) in front of
// the continuous-batching engine (src/serving). Prints the URL once it is
// listening; SIGINT / SIGTERM stop it cleanly (in-flight requests are
// cancelled, the engine joins its thread) and the process exits 0.
#include <pthread.h>

#include <atomic>
#include <csignal>
#include <cstdio>
#include <filesystem>
#include <thread>

#include "cli/commands.h"
#include "cli/default_model.h"
#include "core/error.h"
#include "core/thread_pool.h"
#include "server/http_server.h"

namespace tessera::cli {

namespace {

struct ServeOptions {
  std::string model;
  std::string host = "127.0.0.1";
  int port = 8080;
  int max_seqs = 8;
  int64_t n_ctx = 4096;
  int64_t kv_blocks = 0;
  int64_t step_tokens = 512;
  std::string api_key;
  std::string policy = "fcfs";
  size_t max_body_bytes = 8u << 20;
  int threads = default_thread_count();
  int http_threads = 0;
  int max_n = 16;
  double timeout_s = 600;
  bool no_prefix_cache = false;
  std::string alias;
};

void validate(const ServeOptions& o) {
  if (o.port < 0 || o.port > 65535) raise<InvalidArgument>("--port must be in 0..65535, got {}", o.port);
  if (o.max_seqs <= 0) raise<InvalidArgument>("--max-seqs must be positive, got {}", o.max_seqs);
  if (o.n_ctx <= 0) raise<InvalidArgument>("-c/--ctx-size must be positive, got {}", o.n_ctx);
  if (o.kv_blocks < 0) raise<InvalidArgument>("--kv-blocks must be >= 0, got {}", o.kv_blocks);
  if (o.step_tokens <= 0) raise<InvalidArgument>("--step-tokens must be positive, got {}", o.step_tokens);
  if (o.policy != "fcfs" && o.policy != "fair") raise<InvalidArgument>("--policy must be fcfs or fair, got '{}'", o.policy);
  if (o.max_body_bytes == 0) raise<InvalidArgument>("--max-body-bytes must be positive");
  if (o.threads <= 0) raise<InvalidArgument>("-t/--threads must be positive, got {}", o.threads);
  if (o.http_threads < 0) raise<InvalidArgument>("--http-threads must be >= 0, got {}", o.http_threads);
  if (o.max_n <= 0) raise<InvalidArgument>("--max-n must be positive, got {}", o.max_n);
  if (!(o.timeout_s > 0)) raise<InvalidArgument>("--timeout must be positive, got {}", o.timeout_s);
}

// The id clients pass as "model": --alias, else the file name without .gguf.
std::string model_id(const ServeOptions& o, const std::string& path) {
  if (!o.alias.empty()) return o.alias;
  std::filesystem::path p(path);
  return p.extension() == ".gguf" ? p.stem().string() : p.filename().string();
}

void run_serve(const ServeOptions& o) {
  validate(o);
  // SIGINT/SIGTERM are handled by one thread with sigwait; every other thread
  // (engine, HTTP pool) inherits the blocked mask. A client that vanishes
  // must be a failed write, not SIGPIPE.
  std::signal(SIGPIPE, SIG_IGN);
  sigset_t stop_signals;
  sigemptyset(&stop_signals);
  sigaddset(&stop_signals, SIGINT);
  sigaddset(&stop_signals, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &stop_signals, nullptr);

  const std::string path = resolve_model_path(o.model);
  auto model = Model::load(path);
  serving::ServingConfig config;
  config.n_ctx = o.n_ctx;
  if (model->hparams().n_ctx_train > 0) config.n_ctx = std::min(config.n_ctx, model->hparams().n_ctx_train);
  config.kv_blocks = o.kv_blocks;
  config.max_seqs = o.max_seqs;
  config.step_token_budget = o.step_tokens;
  config.policy = o.policy;
  config.prefix_cache = !o.no_prefix_cache;
  config.threads = o.threads;
  serving::ServingEngine engine(*model, config);

  server::ServerOptions so;
  so.host = o.host;
  so.port = o.port;
  so.api_key = o.api_key;
  so.max_body_bytes = o.max_body_bytes;
  so.http_threads = o.http_threads;
  so.completion.model_id = model_id(o, path);
  so.completion.limits.max_choices = o.max_n;
  so.completion.request_timeout = std::chrono::milliseconds(static_cast<int64_t>(o.timeout_s * 1000));
  server::HttpServer server(engine, so);
  const int port = server.bind();

  std::atomic<bool> finished{false};
  std::thread watcher([&] {
    timespec poll{0, 200'000'000};
    bool stop_requested = false;
    while (!finished) {
      if (!stop_requested) stop_requested = sigtimedwait(&stop_signals, nullptr, &poll) > 0;
      else std::this_thread::sleep_for(std::chrono::milliseconds(200));
      // Repeated until run() returns: a stop that lands before the server
      // started listening would otherwise be lost.
      if (stop_requested) server.stop();
    }
  });
  const auto mc = engine.metrics();
  std::printf("tessera serve: model %s (id \"%s\"), context %lld, %d sequences, %lld KV blocks, policy %s\n",
              path.c_str(), so.completion.model_id.c_str(), static_cast<long long>(engine.config().n_ctx), o.max_seqs,
              static_cast<long long>(mc.kv_blocks_total), o.policy.c_str());
  std::printf("listening on http://%s:%d\n", o.host.c_str(), port);
  std::fflush(stdout);
  const bool ok = server.run();
  finished = true;
  watcher.join();
  if (!ok) raise("the HTTP server stopped with an error");
  std::printf("tessera serve: stopped\n");
  std::fflush(stdout);
}

}  // namespace

void register_serve(CLI::App& app) {
  auto o = std::make_shared<ServeOptions>();
  CLI::App* cmd = app.add_subcommand("serve", "OpenAI-compatible HTTP server with continuous batching");
  cmd->add_option("-m,--model", o->model, "GGUF model (default: the set-up default model)");
  cmd->add_option("--host", o->host, "address to listen on (default 127.0.0.1)");
  cmd->add_option("--port", o->port, "port; 0 = any free port (default 8080)");
  cmd->add_option("--max-seqs", o->max_seqs, "sequences decoded together at most (default 8)");
  cmd->add_option("-c,--ctx-size", o->n_ctx, "context of one sequence in tokens (default 4096, capped by the model's)");
  cmd->add_option("--kv-blocks", o->kv_blocks, "KV cache blocks in the pool; 0 = max-seqs * ctx-size / 2 tokens' worth");
  cmd->add_option("--step-tokens", o->step_tokens, "tokens per engine step, decode + prefill chunks (default 512)");
  cmd->add_option("--policy", o->policy, "scheduling policy: fcfs or fair (latency-bounded, per-user fairness)");
  cmd->add_flag("--no-prefix-cache", o->no_prefix_cache, "do not reuse KV blocks of shared prompt prefixes");
  cmd->add_option("--api-key", o->api_key, "require 'Authorization: Bearer KEY' on every route but /health");
  cmd->add_option("--max-body-bytes", o->max_body_bytes, "largest request body accepted (default 8 MiB; 413 above)");
  cmd->add_option("--max-n", o->max_n, "most choices one request may ask for, n x prompts (default 16)");
  cmd->add_option("--timeout", o->timeout_s, "seconds a request may take, queueing included (default 600)");
  cmd->add_option("--alias", o->alias, "model id to serve under (default: the file name without .gguf)");
  cmd->add_option("-t,--threads", o->threads, "engine threads (default: all cores)");
  cmd->add_option("--http-threads", o->http_threads, "connections served at once (default max(64, 8 x max-seqs))");
  cmd->callback([o] { run_serve(*o); });
}

}  // namespace tessera::cli
