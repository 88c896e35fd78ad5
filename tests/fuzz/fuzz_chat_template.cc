// libFuzzer target: arbitrary bytes as a chat template (GGUF
// tokenizer.chat_template comes from the model file, so it is untrusted
// input). It either renders a fixed conversation or throws TemplateError;
// anything else — a crash, a sanitizer report, another exception, a hang, a
// stack overflow — is a bug (docs/testing.md, "Fuzzing").
#include <cstdint>
#include <string>

#include "chat/chat_template.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace tessera::chat;
  static const nlohmann::json messages = nlohmann::json::parse(R"([
    {"role": "system", "content": "You are terse."},
    {"role": "user", "content": "Hi <b>there</b>"},
    {"role": "assistant", "content": "Hello.", "tool_calls": [{"function": {"name": "f", "arguments": {"x": 1}}}]},
    {"role": "user", "content": [{"type": "text", "text": "and now?"}]}
  ])");
  static const nlohmann::json extra = {{"tools", nlohmann::json::array({{{"name", "f"}}})},
                                       {"enable_thinking", false}};
  const std::string source(reinterpret_cast<const char*>(data), size);
  try {
    (void)render_chat_template(source, messages, true, "<s>", "</s>", extra);
  } catch (const TemplateError&) {
    // A clear refusal.
  }
  return 0;
}
