// Chat messages -> prompt tokens: renders the model's chat template (GGUF
// `tokenizer.chat_template`, or the built-in one for its architecture when the
// file has none) with add_generation_prompt, then tokenizes the text with
// special tokens parsed.
//
// BOS invariant: the prompt holds exactly one BOS when the vocabulary wants
// one. Templates that print `bos_token` already put it in the text, so the
// tokenizer adds its own only when the rendered text does not start with it.
#pragma once

#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "chat/chat_template.h"
#include "model/model.h"

namespace tessera::server {

class ChatPrompt {
 public:
  // Parses the template once. A model template that does not parse is
  // replaced by the built-in one (with a warning on stderr), so a server with
  // a broken template still starts.
  explicit ChatPrompt(const Model& model);

  // Throws ApiError(400) when the template rejects the conversation
  // (raise_exception) or fails on it.
  std::string render(const nlohmann::ordered_json& messages) const;
  std::vector<TokenId> tokens(const nlohmann::ordered_json& messages) const;

  // Where the template came from: "model" or "built-in <name>".
  const std::string& origin() const { return origin_; }

 private:
  const Tokenizer& tokenizer_;
  std::unique_ptr<chat::ChatTemplate> template_;
  std::string origin_;
  std::string bos_text_;
  std::string eos_text_;
};

}  // namespace tessera::server
