#include "chat/chat_template.h"

#include "chat/parser.h"

namespace tessera::chat {

struct ChatTemplate::Program {
  StmtList statements;
};

ChatTemplate::ChatTemplate(const std::string& source) : program_(std::make_unique<Program>()) {
  // transformers compiles chat templates with trim_blocks and lstrip_blocks.
  program_->statements = parse_template(source, LexerOptions{.trim_blocks = true, .lstrip_blocks = true});
}

ChatTemplate::~ChatTemplate() = default;
ChatTemplate::ChatTemplate(ChatTemplate&&) noexcept = default;
ChatTemplate& ChatTemplate::operator=(ChatTemplate&&) noexcept = default;

namespace {

template <typename Json>
ValueDict make_context(const Json& messages, bool add_generation_prompt, const std::string& bos_token,
                       const std::string& eos_token, const Json& extra_context) {
  if (!messages.is_array()) raise<TemplateError>("chat template: messages must be a JSON array");
  if (!extra_context.is_null() && !extra_context.is_object()) {
    raise<TemplateError>("chat template: extra_context must be a JSON object");
  }
  ValueDict context;
  context.set("messages", value_from_json(messages));
  context.set("add_generation_prompt", Value::boolean(add_generation_prompt));
  context.set("bos_token", Value::string(bos_token));
  context.set("eos_token", Value::string(eos_token));
  if (extra_context.is_object()) {
    for (auto it = extra_context.begin(); it != extra_context.end(); ++it) {
      context.set(it.key(), value_from_json(it.value()));
    }
  }
  return context;
}

}  // namespace

std::string ChatTemplate::render(const nlohmann::json& messages, bool add_generation_prompt,
                                 const std::string& bos_token, const std::string& eos_token,
                                 const nlohmann::json& extra_context, const RenderLimits& limits) const {
  const ValueDict context = make_context(messages, add_generation_prompt, bos_token, eos_token, extra_context);
  return render_template(program_->statements, context, limits);
}

std::string ChatTemplate::render(const nlohmann::ordered_json& messages, bool add_generation_prompt,
                                 const std::string& bos_token, const std::string& eos_token,
                                 const nlohmann::ordered_json& extra_context, const RenderLimits& limits) const {
  const ValueDict context = make_context(messages, add_generation_prompt, bos_token, eos_token, extra_context);
  return render_template(program_->statements, context, limits);
}

std::string render_chat_template(const std::string& template_source, const nlohmann::json& messages,
                                 bool add_generation_prompt, const std::string& bos_token,
                                 const std::string& eos_token, const nlohmann::json& extra_context) {
  return ChatTemplate(template_source).render(messages, add_generation_prompt, bos_token, eos_token, extra_context);
}

std::string render_chat_template(const std::string& template_source, const nlohmann::ordered_json& messages,
                                 bool add_generation_prompt, const std::string& bos_token,
                                 const std::string& eos_token, const nlohmann::ordered_json& extra_context) {
  return ChatTemplate(template_source).render(messages, add_generation_prompt, bos_token, eos_token, extra_context);
}

}  // namespace tessera::chat
