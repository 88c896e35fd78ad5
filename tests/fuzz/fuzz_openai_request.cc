// libFuzzer target: arbitrary bytes as the body of POST /v1/completions and
// POST /v1/chat/completions. Parsing either yields a request or throws
// ApiError (a 400 naming the field); anything else — a crash, a sanitizer
// report, another exception, a hang — is a bug (docs/testing.md, "Fuzzing").
#include <cstdint>
#include <string>

#include "server/api_error.h"
#include "server/openai_request.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace tessera::server;
  const std::string body(reinterpret_cast<const char*>(data), size);
  for (const Endpoint endpoint : {Endpoint::Completions, Endpoint::ChatCompletions}) {
    try {
      (void)parse_completion_request(body, endpoint, RequestLimits{});
    } catch (const ApiError&) {
      // A clear refusal.
    }
  }
  try {
    (void)parse_json_object(body);
  } catch (const ApiError&) {
  }
  return 0;
}
