// POST /v1/completions and /v1/chat/completions: a request body becomes one
// engine request per choice (n per prompt, seeds seed, seed+1, ...), whose
// event streams are collected into one response or relayed as server-sent
// events. Everything that can be rejected is rejected before the first engine
// submit, so a streamed response that started with 200 only ends early on a
// timeout, a shutdown or an engine failure (then with an SSE error event).
//
// Invariant: every submitted request is cancelled (its KV blocks released) as
// soon as the client cannot receive its output: a failed write, a timeout, a
// shutdown, or the response being destroyed.
#pragma once

#include <atomic>
#include <chrono>
#include <string>

#include "server/chat_prompt.h"
#include "server/openai_request.h"
#include "serving/serving_engine.h"

namespace httplib {
struct Request;
struct Response;
}  // namespace httplib

namespace tessera::server {

struct CompletionSettings {
  std::string model_id;                         // the id /v1/models lists
  RequestLimits limits;
  std::chrono::milliseconds request_timeout{600'000};  // whole request, queueing included
};

class CompletionHandler {
 public:
  // `stopping` turns true when the server shuts down; in-flight requests then end.
  CompletionHandler(serving::ServingEngine& engine, const ChatPrompt& chat_prompt, CompletionSettings settings,
                    const std::atomic<bool>& stopping);

  // Fills `res` (status, body or SSE content provider). Throws ApiError.
  void handle(const httplib::Request& req, httplib::Response& res, Endpoint endpoint) const;

  const std::string& model_id() const { return settings_.model_id; }

 private:
  serving::ServingEngine& engine_;
  const ChatPrompt& chat_prompt_;
  CompletionSettings settings_;
  const std::atomic<bool>& stopping_;
};

}  // namespace tessera::server
