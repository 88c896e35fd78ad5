// tessera tokenize: token ids and pieces of a text (or of each line of a file),
// using only the GGUF vocabulary (the weights are not touched).
#include <cstdio>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "cli/commands.h"
#include "core/error.h"
#include "gguf/gguf_file.h"
#include "tokenizer/tokenizer.h"

namespace tessera::cli {

namespace {

struct TokenizeOptions {
  std::string model;
  std::string text;
  std::string file;
  bool lines = false;
  bool ids_only = false;
  bool no_bos = false;
  bool no_parse_special = false;
  bool json = false;
};

std::string quoted(const std::string& piece) {
  std::string out = "'";
  for (unsigned char c : piece) {
    if (c == '\n') out += "\\n";
    else if (c == '\t') out += "\\t";
    else if (c == '\'') out += "\\'";
    else if (c < 0x20) out += fmt::format("\\x{:02x}", c);
    else out += static_cast<char>(c);
  }
  return out + "'";
}

void run_tokenize(const TokenizeOptions& o) {
  if (!o.text.empty() && !o.file.empty()) {
    raise<InvalidArgument>("give either TEXT or -f FILE, not both");
  }
  GgufFile file(o.model);
  const auto tok = Tokenizer::from_gguf(file);
  const bool add_special = !o.no_bos;
  const bool parse_special = !o.no_parse_special;

  std::string text = o.text;
  if (!o.file.empty()) {
    std::ifstream in(o.file, std::ios::binary);
    if (!in) raise("{}: cannot open", o.file);
    std::stringstream ss;
    ss << in.rdbuf();
    text = ss.str();
  }
  if (o.lines) {
    // One id list per line (without its newline), as a JSON array of arrays.
    nlohmann::json all = nlohmann::json::array();
    size_t start = 0;
    while (start <= text.size()) {
      size_t end = text.find('\n', start);
      if (end == std::string::npos) end = text.size();
      if (end == text.size() && start == text.size()) break;
      all.push_back(tok->encode(std::string_view(text).substr(start, end - start), add_special, parse_special));
      start = end + 1;
    }
    std::printf("%s\n", all.dump().c_str());
    return;
  }
  const auto ids = tok->encode(text, add_special, parse_special);
  if (o.json) {
    std::printf("%s\n", nlohmann::json(ids).dump().c_str());
  } else if (o.ids_only) {
    for (size_t i = 0; i < ids.size(); ++i) std::printf("%s%d", i ? " " : "", ids[i]);
    std::printf("\n");
  } else {
    for (TokenId id : ids) std::printf("%6d\t%s\n", id, quoted(tok->token_to_piece(id, true)).c_str());
  }
}

}  // namespace

void register_tokenize(CLI::App& app) {
  auto o = std::make_shared<TokenizeOptions>();
  CLI::App* cmd = app.add_subcommand("tokenize", "Print the token ids and pieces of a text");
  cmd->add_option("model", o->model, "GGUF model (only its vocabulary is read)")->required();
  cmd->add_option("text", o->text, "text to tokenize");
  cmd->add_option("-f,--file", o->file, "read the text from a file");
  cmd->add_flag("--lines", o->lines, "tokenize each line of the text separately; print a JSON array of id arrays");
  cmd->add_flag("--ids", o->ids_only, "print only the ids, space separated");
  cmd->add_flag("--json", o->json, "print the ids as a JSON array");
  cmd->add_flag("--no-bos", o->no_bos, "do not add BOS/EOS");
  cmd->add_flag("--no-parse-special", o->no_parse_special, "treat control-token texts as plain text");
  cmd->callback([o] { run_tokenize(*o); });
}

}  // namespace tessera::cli
