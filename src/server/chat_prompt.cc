#include "server/chat_prompt.h"

#include <cstdio>

#include "server/api_error.h"
#include "server/builtin_chat_templates.h"

namespace tessera::server {

namespace {

std::string special_text(const Tokenizer& tok, TokenId id) {
  return id >= 0 && id < tok.n_vocab() ? tok.token_text(id) : std::string();
}

}  // namespace

ChatPrompt::ChatPrompt(const Model& model)
    : tokenizer_(model.tokenizer()),
      bos_text_(special_text(tokenizer_, tokenizer_.bos())),
      eos_text_(special_text(tokenizer_, tokenizer_.eos())) {
  if (auto source = model.file().get_string_opt("tokenizer.chat_template")) {
    try {
      template_ = std::make_unique<chat::ChatTemplate>(*source);
      origin_ = "model";
      return;
    } catch (const chat::TemplateError& e) {
      std::fprintf(stderr, "warning: the model's chat template does not parse (%s); using a built-in one\n", e.what());
    }
  }
  const BuiltinChatTemplate builtin = builtin_chat_template(model.hparams().arch);
  template_ = std::make_unique<chat::ChatTemplate>(builtin.source);
  origin_ = "built-in " + builtin.name;
}

std::string ChatPrompt::render(const nlohmann::ordered_json& messages) const {
  try {
    return template_->render(messages, /*add_generation_prompt=*/true, bos_text_, eos_text_,
                             nlohmann::ordered_json::object());
  } catch (const chat::TemplateRaised& e) {
    throw ApiError(400, e.what(), "invalid_request_error", "messages");
  } catch (const chat::TemplateError& e) {
    throw ApiError(400, fmt::format("the chat template failed on these messages: {}", e.what()),
                   "invalid_request_error", "messages");
  }
}

std::vector<TokenId> ChatPrompt::tokens(const nlohmann::ordered_json& messages) const {
  const std::string text = render(messages);
  const bool has_bos = tokenizer_.add_bos() && !bos_text_.empty() && text.starts_with(bos_text_);
  return tokenizer_.encode(text, /*add_special=*/!has_bos, /*parse_special=*/true);
}

}  // namespace tessera::server
