// The OpenAI-compatible HTTP server (cpp-httplib, one thread per connection
// from a fixed pool). Routes:
//   POST /v1/completions, /v1/chat/completions   (completion_handler.h)
//   GET  /v1/models, /v1/models/{id}, /health, /metrics
//   POST /tokenize, /detokenize                  (llama.cpp server bodies)
// Every error is an OpenAI error object with its status: 400 bad request,
// 401 missing/wrong API key (when one is set; /health stays open), 404 unknown
// route or model, 413 body over the limit, 500 internal failure.
#pragma once

#include <atomic>
#include <cstddef>
#include <memory>
#include <string>

#include "server/completion_handler.h"
#include "serving/serving_engine.h"

namespace tessera::server {

struct ServerOptions {
  std::string host = "127.0.0.1";
  int port = 8080;                      // 0: any free port (bind() returns it)
  std::string api_key;                  // empty: no authentication
  size_t max_body_bytes = 8u << 20;
  int http_threads = 0;                 // connections served at once; 0: max(64, 8 * max_seqs)
  CompletionSettings completion;
};

class HttpServer {
 public:
  // The engine must outlive the server.
  HttpServer(serving::ServingEngine& engine, ServerOptions options);
  ~HttpServer();
  HttpServer(const HttpServer&) = delete;
  HttpServer& operator=(const HttpServer&) = delete;

  // Binds the listening socket; returns the port. Throws Error when it cannot.
  int bind();
  // Serves until stop(). Returns false when the server failed to listen.
  bool run();
  // Thread-safe, idempotent: stops accepting, makes in-flight requests end
  // (their engine requests cancelled), and lets run() return.
  void stop();

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace tessera::server
