// Chat templates for models whose GGUF carries no `tokenizer.chat_template`
// (the default Gemma 3 270M file has none). Chosen by architecture; anything
// without a known template gets ChatML.
#pragma once

#include <string>

namespace tessera::server {

struct BuiltinChatTemplate {
  std::string name;    // "gemma3", "chatml"
  std::string source;  // Jinja2 text
};

BuiltinChatTemplate builtin_chat_template(const std::string& architecture);

}  // namespace tessera::server
