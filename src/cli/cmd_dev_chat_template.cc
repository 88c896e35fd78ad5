// tessera dev chat-template: renders a chat template for a conversation and
// prints the prompt exactly (no trailing newline added). The template and the
// BOS/EOS texts come from the model's GGUF metadata, or from --template-file
// and --bos-token/--eos-token; the test suite compares the output with
// Python's jinja2.
#include <cstdio>
#include <fstream>
#include <sstream>

#include "chat/chat_template.h"
#include "cli/default_model.h"
#include "cli/dev_commands.h"
#include "core/error.h"
#include "gguf/gguf_file.h"

namespace tessera::cli {

namespace {

struct DevChatTemplateOptions {
  std::string model;
  std::string template_file;
  std::string messages;
  std::string messages_file;
  std::string context = "{}";
  std::optional<std::string> bos_token;
  std::optional<std::string> eos_token;
  bool add_generation_prompt = false;
};

std::string read_text_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) raise("{}: cannot open", path);
  std::ostringstream text;
  text << in.rdbuf();
  return text.str();
}

nlohmann::ordered_json parse_json_option(const std::string& text, const char* flag) {
  try {
    return nlohmann::ordered_json::parse(text);
  } catch (const nlohmann::json::exception& e) {
    raise<InvalidArgument>("{}: invalid JSON: {}", flag, e.what());
  }
}

// The text of a special token named by its id key, or "" when absent.
std::string special_token_text(const GgufFile& gguf, const char* id_key) {
  const auto id = gguf.get_u64_opt(id_key);
  if (!id) return "";
  const std::vector<std::string> tokens = gguf.get_string_array("tokenizer.ggml.tokens");
  if (*id >= tokens.size()) raise<FormatError>("{}: {} = {} is outside the vocabulary", gguf.path(), id_key, *id);
  return tokens[*id];
}

void run_dev_chat_template(const DevChatTemplateOptions& o) {
  std::string source;
  std::string bos, eos;
  if (!o.template_file.empty()) {
    source = read_text_file(o.template_file);
  } else {
    const GgufFile gguf(resolve_model_path(o.model));
    const auto chat_template = gguf.get_string_opt("tokenizer.chat_template");
    if (!chat_template) raise("{}: the model has no tokenizer.chat_template; pass --template-file", gguf.path());
    source = *chat_template;
    bos = special_token_text(gguf, "tokenizer.ggml.bos_token_id");
    eos = special_token_text(gguf, "tokenizer.ggml.eos_token_id");
  }
  if (o.bos_token) bos = *o.bos_token;
  if (o.eos_token) eos = *o.eos_token;
  if (o.messages.empty() == o.messages_file.empty()) raise<InvalidArgument>("give exactly one of --messages and --messages-file");
  const auto messages = o.messages_file.empty() ? parse_json_option(o.messages, "--messages")
                                                : parse_json_option(read_text_file(o.messages_file), "--messages-file");
  const auto context = parse_json_option(o.context, "--context");
  const std::string prompt =
      chat::render_chat_template(source, messages, o.add_generation_prompt, bos, eos, context);
  std::fwrite(prompt.data(), 1, prompt.size(), stdout);
  std::fflush(stdout);
}

}  // namespace

void register_dev_chat_template(CLI::App& dev) {
  auto opts = std::make_shared<DevChatTemplateOptions>();
  CLI::App* cmd = dev.add_subcommand("chat-template", "Print the prompt a chat template renders for a conversation");
  cmd->add_option("-m,--model", opts->model, "GGUF model whose tokenizer.chat_template to use (default: the set-up default model)");
  cmd->add_option("--template-file", opts->template_file, "Jinja2 template file instead of the model's");
  cmd->add_option("--messages", opts->messages, "JSON array of {role, content} messages");
  cmd->add_option("--messages-file", opts->messages_file, "file holding the messages JSON (for long conversations)");
  cmd->add_option("--context", opts->context, "JSON object of extra template variables (tools, ...)");
  cmd->add_option("--bos-token", opts->bos_token, "BOS text (default: the model's)");
  cmd->add_option("--eos-token", opts->eos_token, "EOS text (default: the model's)");
  cmd->add_flag("--add-generation-prompt", opts->add_generation_prompt, "end with the assistant header");
  cmd->callback([opts] { run_dev_chat_template(*opts); });
}

}  // namespace tessera::cli
