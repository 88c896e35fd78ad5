// Helpers for the serving tests: drain a stream into a result, run requests
// one at a time or all at once.
#pragma once

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "serving/serving_engine.h"

namespace tessera::serving::testing {

struct Outcome {
  std::string text;
  std::vector<TokenId> tokens;  // from the logprobs (requests ask for top_logprobs >= 0)
  std::vector<TokenLogprob> logprobs;
  std::string finish_reason;
  int64_t prompt_tokens = 0;
  int64_t completion_tokens = 0;
  int64_t cached_tokens = 0;
  int events = 0;
};

// Reads until the done event. The wait per event is long (a stuck engine
// fails the test instead of hanging it) but no time is asserted.
inline Outcome drain(RequestStream& stream) {
  Outcome out;
  for (;;) {
    auto ev = stream.next(std::chrono::seconds(120));
    if (!ev) {
      ADD_FAILURE() << "no event from request " << stream.id() << " within 120 s";
      return out;
    }
    ++out.events;
    out.text += ev->text;
    for (auto& lp : ev->logprobs) {
      out.tokens.push_back(lp.token);
      out.logprobs.push_back(lp);
    }
    if (ev->done) {
      out.finish_reason = ev->finish_reason;
      out.prompt_tokens = ev->prompt_tokens;
      out.completion_tokens = ev->completion_tokens;
      out.cached_tokens = ev->cached_tokens;
      return out;
    }
  }
}

inline std::vector<Outcome> run_one_at_a_time(ServingEngine& engine, const std::vector<ServeRequest>& requests) {
  std::vector<Outcome> out;
  for (const auto& r : requests) {
    auto stream = engine.submit(r);
    out.push_back(drain(*stream));
  }
  return out;
}

// Submits everything first, then reads the streams in order (the engine keeps
// producing into the unread ones meanwhile).
inline std::vector<Outcome> run_all_at_once(ServingEngine& engine, const std::vector<ServeRequest>& requests) {
  std::vector<std::shared_ptr<RequestStream>> streams;
  for (const auto& r : requests) streams.push_back(engine.submit(r));
  std::vector<Outcome> out;
  for (auto& s : streams) out.push_back(drain(*s));
  return out;
}

inline SamplingParams greedy() {
  SamplingParams p;
  p.temperature = 0;
  return p;
}

}  // namespace tessera::serving::testing
