// Chat templates: turns an OpenAI-style list of messages into the prompt text
// a model was trained on, by rendering the model's Jinja2 template
// (GGUF `tokenizer.chat_template`, or `chat_template` of tokenizer_config.json).
//
// The renderer implements the part of Jinja2 that real chat templates use and
// renders the way Hugging Face transformers' apply_chat_template does:
// trim_blocks and lstrip_blocks on, the loopcontrols extension (break /
// continue), `raise_exception(message)`, `tojson` as json.dumps with
// ensure_ascii=False, and `strftime_now(format)`. Supported: {{ }}, {% %},
// {# #}, `-`/`+` whitespace control; if/elif/else, for (with loop.*, `for ...
// if ...`, else, tuple unpacking), set (plain, tuple, block, and namespace
// attributes), macros; Python-like values, operators, slices, str and dict
// methods, and the common filters and tests (see builtins.h). Not supported
// (a clear TemplateError): call blocks, includes/imports, recursive loops.
//
// Known differences from Python: upper/lower/title/capitalize change ASCII
// letters only; dict keys must be strings; integers are 64-bit (overflow is a
// TemplateError); tuples are lists that print as tuples.
#pragma once

#include <memory>
#include <nlohmann/json.hpp>
#include <string>

#include "chat/interpreter.h"
#include "chat/template_error.h"

namespace tessera::chat {

// Renders `template_source` for one conversation.
//
//   messages: JSON array of message objects, e.g.
//     [{"role": "system", "content": "..."}, {"role": "user", "content": "..."}]
//     passed to the template as-is (content may also be a list of parts, and
//     assistant messages may carry tool_calls; the template decides).
//   add_generation_prompt: true to end the prompt with the assistant header
//     (what a server wants before generating the reply).
//   bos_token / eos_token: the model's special token texts (e.g. "<bos>",
//     "</s>"); templates that print them need them to be right.
//   extra_context: a JSON object whose members become further template
//     variables, e.g. {"tools": [...]} or {"enable_thinking": false}; members
//     named like the arguments above override them.
//
// Returns the prompt text. Throws TemplateError (a tessera::Error) for every
// template problem: syntax errors (with line and column), undefined
// functions, type errors, output or work limits exceeded, or bad arguments
// (messages not an array, extra_context not an object). A template that
// rejects the conversation with raise_exception(msg) throws TemplateRaised,
// a TemplateError whose what() is exactly msg. Never crashes, loops forever or
// overflows the stack on hostile templates or inputs.
//
// Note: nlohmann::json stores object keys sorted, so dicts iterate (and
// `tojson` prints) in sorted key order; pass nlohmann::ordered_json to keep the
// request's key order (overload below).
std::string render_chat_template(const std::string& template_source, const nlohmann::json& messages,
                                 bool add_generation_prompt, const std::string& bos_token,
                                 const std::string& eos_token, const nlohmann::json& extra_context = {});
std::string render_chat_template(const std::string& template_source, const nlohmann::ordered_json& messages,
                                 bool add_generation_prompt, const std::string& bos_token,
                                 const std::string& eos_token, const nlohmann::ordered_json& extra_context);

// A parsed template, for rendering many conversations without re-parsing
// (a server parses its model's template once at start-up, which also reports
// syntax errors before the first request). Thread-safe: render() is const.
class ChatTemplate {
 public:
  // Throws TemplateError on syntax errors.
  explicit ChatTemplate(const std::string& source);
  ~ChatTemplate();
  ChatTemplate(ChatTemplate&&) noexcept;
  ChatTemplate& operator=(ChatTemplate&&) noexcept;

  // Same contract as render_chat_template().
  std::string render(const nlohmann::json& messages, bool add_generation_prompt, const std::string& bos_token,
                     const std::string& eos_token, const nlohmann::json& extra_context = {},
                     const RenderLimits& limits = {}) const;
  std::string render(const nlohmann::ordered_json& messages, bool add_generation_prompt,
                     const std::string& bos_token, const std::string& eos_token,
                     const nlohmann::ordered_json& extra_context, const RenderLimits& limits = {}) const;

 private:
  struct Program;
  std::unique_ptr<Program> program_;
};

}  // namespace tessera::chat
