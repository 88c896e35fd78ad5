#include "server/completion_handler.h"

#include <httplib.h>

#include <algorithm>

#include "server/api_error.h"
#include "server/client_connection.h"
#include "server/openai_response.h"

namespace tessera::server {

namespace {

using Clock = std::chrono::steady_clock;
using json = nlohmann::json;

// How long one poll of a stream waits before checking deadlines, shutdown and
// (when streaming) whether the client is still there.
constexpr std::chrono::milliseconds kPollWait{50};
// A streamed response that has sent nothing for this long sends an SSE
// comment: clients ignore it, and a failed write reveals a client that left
// while its prompt was still queued or being prefilled.
constexpr std::chrono::milliseconds kKeepAliveEvery{1000};

struct Choice {
  std::shared_ptr<serving::RequestStream> stream;
  size_t prompt_index = 0;
  bool done = false;
  std::string finish_reason;
  std::string error;
  int64_t text_offset = 0;                      // bytes of text sent so far
  std::string text;                             // non-streaming: the whole text
  std::vector<serving::TokenLogprob> logprobs;  // non-streaming: all of them
  int64_t prompt_tokens = 0, completion_tokens = 0, cached_tokens = 0;
};

// The engine requests of one HTTP request. Destroying it cancels whatever is
// still running, so every way out of a handler releases the KV blocks.
struct Job {
  std::vector<Choice> choices;
  Clock::time_point deadline;

  ~Job() { cancel_all(); }
  void cancel_all() {
    for (auto& c : choices) {
      if (!c.done && c.stream) c.stream->cancel();
    }
  }
  bool all_done() const {
    return std::all_of(choices.begin(), choices.end(), [](const Choice& c) { return c.done; });
  }
  // Prompt tokens count once per prompt (not once per choice), as OpenAI does.
  Usage usage() const {
    Usage u;
    std::vector<bool> seen;
    for (const auto& c : choices) {
      u.completion_tokens += c.completion_tokens;
      if (c.prompt_index >= seen.size()) seen.resize(c.prompt_index + 1, false);
      if (!seen[c.prompt_index]) {
        seen[c.prompt_index] = true;
        u.prompt_tokens += c.prompt_tokens;
        u.cached_tokens += c.cached_tokens;
      }
    }
    return u;
  }
};

void record_counts(Choice& c, const serving::StreamEvent& ev) {
  c.prompt_tokens = ev.prompt_tokens;
  c.completion_tokens = ev.completion_tokens;
  c.cached_tokens = ev.cached_tokens;
  if (ev.done) {
    c.done = true;
    c.finish_reason = ev.finish_reason;
    c.error = ev.error;
  }
}

// Waits for events of the unfinished choices and hands each to on_event.
// Returns true when at least one event arrived.
template <typename OnEvent>
bool poll_once(Job& job, OnEvent&& on_event) {
  bool got = false, waited = false;
  for (size_t i = 0; i < job.choices.size(); ++i) {
    Choice& c = job.choices[i];
    if (c.done) continue;
    // Only the first unfinished stream waits, and only when nothing came yet.
    auto wait = (waited || got) ? std::chrono::milliseconds(0) : kPollWait;
    waited = true;
    while (auto ev = c.stream->next(wait)) {
      // Then only drain what is queued: waiting again here would keep the
      // caller in this loop for as long as the engine keeps producing, and
      // the caller must regularly get back to check the client, deadlines
      // and shutdown (a vanished client was otherwise only noticed when its
      // request had finished).
      wait = std::chrono::milliseconds(0);
      got = true;
      record_counts(c, *ev);
      on_event(i, *ev);
      if (c.done) break;
    }
  }
  return got;
}

// The error a finished-but-failed choice reports.
ApiError choice_failure(const Choice& c) {
  if (c.finish_reason == "error") {
    return ApiError(500, c.error.empty() ? "the engine failed on this request" : c.error, "server_error");
  }
  return ApiError(503, "the request was cancelled (the server is shutting down)", "server_error");
}

}  // namespace

CompletionHandler::CompletionHandler(serving::ServingEngine& engine, const ChatPrompt& chat_prompt,
                                     CompletionSettings settings, const std::atomic<bool>& stopping)
    : engine_(engine), chat_prompt_(chat_prompt), settings_(std::move(settings)), stopping_(stopping) {}

void CompletionHandler::handle(const httplib::Request& http_req, httplib::Response& res, Endpoint endpoint) const {
  CompletionRequest r = parse_completion_request(http_req.body, endpoint, settings_.limits);
  if (r.model && *r.model != settings_.model_id) {
    throw ApiError(404, fmt::format("The model '{}' does not exist; this server serves '{}'", *r.model,
                                    settings_.model_id),
                   "invalid_request_error", "model", "model_not_found");
  }

  // Prompts -> tokens.
  const Tokenizer& tok = engine_.model().tokenizer();
  std::vector<std::vector<TokenId>> prompts;
  if (endpoint == Endpoint::ChatCompletions) {
    prompts.push_back(chat_prompt_.tokens(r.messages));
  } else {
    for (const Prompt& p : r.prompts) {
      if (const auto* text = std::get_if<std::string>(&p)) {
        prompts.push_back(tok.encode(*text, /*add_special=*/true, /*parse_special=*/true));
      } else {
        const auto& ids = std::get<std::vector<TokenId>>(p);
        for (TokenId id : ids) {
          if (id >= tok.n_vocab()) {
            bad_request("prompt", fmt::format("token id {} is outside the vocabulary (size {})", id, tok.n_vocab()));
          }
        }
        prompts.push_back(ids);
      }
    }
  }

  // Context checks, with OpenAI's code and wording.
  const int64_t n_ctx = engine_.config().n_ctx;
  for (const auto& p : prompts) {
    if (p.empty()) bad_request("prompt", "the prompt is empty");
    const int64_t want = static_cast<int64_t>(p.size()) + r.max_tokens.value_or(1);
    if (want > n_ctx) {
      throw ApiError(400,
                     fmt::format("This model's maximum context length is {} tokens. However, you requested {} tokens "
                                 "({} in the prompt, {} for the completion).",
                                 n_ctx, want, p.size(), r.max_tokens.value_or(1)),
                     "invalid_request_error", endpoint == Endpoint::ChatCompletions ? "messages" : "prompt",
                     "context_length_exceeded");
    }
  }

  // Submit every choice; a rejection cancels the ones already queued (~Job).
  auto job = std::make_shared<Job>();
  job->deadline = Clock::now() + settings_.request_timeout;
  for (size_t p = 0; p < prompts.size(); ++p) {
    for (int j = 0; j < r.n; ++j) {
      serving::ServeRequest sr;
      sr.prompt = prompts[p];
      // Chat without max_tokens: until the context is full.
      sr.max_tokens = r.max_tokens.value_or(n_ctx - static_cast<int64_t>(prompts[p].size()));
      sr.sampling = r.sampling;
      sr.sampling.seed = r.sampling.seed + static_cast<uint32_t>(j);
      sr.stop = r.stop;
      sr.user = r.user;
      sr.top_logprobs = r.top_logprobs;
      Choice c;
      c.prompt_index = p;
      try {
        c.stream = engine_.submit(std::move(sr));
      } catch (const InvalidArgument& e) {
        throw ApiError(400, e.what(), "invalid_request_error");
      }
      job->choices.push_back(std::move(c));
    }
  }

  auto builder = std::make_shared<ResponseBuilder>(endpoint, settings_.model_id, tok, r.top_logprobs >= 0);

  if (!r.stream) {
    // Nothing is written until the response is complete, so a client that
    // left is seen on its socket, not by a failed write.
    const std::optional<ClientConnection> connection = ClientConnection::find(http_req);
    while (!job->all_done()) {
      if (stopping_) throw ApiError(503, "the server is shutting down", "server_error");
      if (Clock::now() > job->deadline) throw ApiError(504, "the request timed out", "server_error");
      if (connection && connection->peer_closed()) {
        // ~Job cancels the sequences; nobody reads the 499 (nginx's "client closed request").
        throw ApiError(499, "the client closed the connection before the response was ready");
      }
      poll_once(*job, [&](size_t i, serving::StreamEvent& ev) {
        Choice& c = job->choices[i];
        c.text += ev.text;
        for (auto& lp : ev.logprobs) c.logprobs.push_back(std::move(lp));
      });
    }
    std::vector<ChoiceOutput> outputs;
    for (size_t i = 0; i < job->choices.size(); ++i) {
      Choice& c = job->choices[i];
      if (c.finish_reason != "stop" && c.finish_reason != "length") throw choice_failure(c);
      outputs.push_back({static_cast<int>(i), std::move(c.text), std::move(c.logprobs), 0, c.finish_reason});
    }
    res.status = 200;
    res.set_content(dump_json(builder->final_object(outputs, job->usage())), "application/json");
    return;
  }

  // Streaming: the provider runs the whole stream in its first call, on this
  // HTTP thread, after the headers went out.
  const bool include_usage = r.include_usage;
  const std::atomic<bool>& stopping = stopping_;
  res.status = 200;
  res.set_header("Cache-Control", "no-cache");
  res.set_header("X-Accel-Buffering", "no");
  res.set_chunked_content_provider(
      "text/event-stream",
      [job, builder, include_usage, &stopping, endpoint](size_t, httplib::DataSink& sink) {
        auto last_write = Clock::now();
        auto write = [&](const std::string& s) {
          last_write = Clock::now();
          return sink.write(s.data(), s.size());
        };
        auto send = [&](const json& j) { return write("data: " + dump_json(j) + "\n\n"); };
        auto fail = [&](const ApiError& e) {
          job->cancel_all();
          send(error_body(e));
          write("data: [DONE]\n\n");
          sink.done();
          return true;
        };
        // Chat streams open with the assistant role, as OpenAI's do.
        if (endpoint == Endpoint::ChatCompletions) {
          for (size_t i = 0; i < job->choices.size(); ++i) {
            ChoiceOutput opening;
            opening.index = static_cast<int>(i);
            if (!send(builder->chunk(opening, /*first=*/true, include_usage))) {
              job->cancel_all();
              return false;
            }
          }
        }
        bool client_gone = false;
        while (!job->all_done()) {
          if (stopping) return fail(ApiError(503, "the server is shutting down", "server_error"));
          if (Clock::now() > job->deadline) return fail(ApiError(504, "the request timed out", "server_error"));
          const bool got = poll_once(*job, [&](size_t i, serving::StreamEvent& ev) {
            if (client_gone) return;
            Choice& c = job->choices[i];
            const bool finished = ev.done && (ev.finish_reason == "stop" || ev.finish_reason == "length");
            if (ev.text.empty() && ev.logprobs.empty() && !finished) return;
            ChoiceOutput out{static_cast<int>(i), std::move(ev.text), std::move(ev.logprobs), c.text_offset,
                             finished ? std::optional<std::string>(ev.finish_reason) : std::nullopt};
            c.text_offset += static_cast<int64_t>(out.text.size());
            if (!send(builder->chunk(out, /*first=*/false, include_usage))) client_gone = true;
          });
          if (!got && !client_gone && Clock::now() - last_write > kKeepAliveEvery) {
            if (!write(": keep-alive\n\n")) client_gone = true;
          }
          if (client_gone) {
            job->cancel_all();
            return false;
          }
        }
        for (const auto& c : job->choices) {
          if (c.finish_reason != "stop" && c.finish_reason != "length") return fail(choice_failure(c));
        }
        if (include_usage && !send(builder->usage_chunk(job->usage()))) return false;
        write("data: [DONE]\n\n");
        sink.done();
        return true;
      },
      [job](bool) { job->cancel_all(); });
}

}  // namespace tessera::server
