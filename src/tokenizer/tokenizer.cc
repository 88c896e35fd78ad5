#include "tokenizer/tokenizer.h"

#include "core/error.h"
#include "tokenizer/bpe_tokenizer.h"
#include "tokenizer/spm_tokenizer.h"

namespace tessera {

namespace {

struct PreTokenizerName {
  const char* name;
  PreTokenizer kind;
  bool ignore_merges;
  bool add_bos;
};

// tokenizer.ggml.pre values this build understands (llama.cpp's names).
constexpr PreTokenizerName kPreTokenizers[] = {
    {"default", PreTokenizer::Gpt2, false, false},
    {"gpt-2", PreTokenizer::Gpt2, false, false},
    {"gpt2", PreTokenizer::Gpt2, false, false},
    {"llama3", PreTokenizer::Llama3, true, true},
    {"llama-v3", PreTokenizer::Llama3, true, true},
    {"llama-bpe", PreTokenizer::Llama3, true, true},
    {"smaug-bpe", PreTokenizer::Llama3, false, false},
    {"qwen2", PreTokenizer::Qwen2, false, false},
    {"deepseek-r1-qwen", PreTokenizer::Qwen2, false, false},
};

}  // namespace

std::unique_ptr<Tokenizer> Tokenizer::from_gguf(const GgufFile& f) {
  const std::string model = f.get_string("tokenizer.ggml.model");
  if (model == "llama") return std::make_unique<SpmTokenizer>(Vocab::from_gguf(f, true));
  if (model == "gpt2") {
    const std::string pre = f.get_string_opt("tokenizer.ggml.pre").value_or("default");
    for (const auto& p : kPreTokenizers) {
      if (pre != p.name) continue;
      auto merges = f.get_string_array("tokenizer.ggml.merges");
      return std::make_unique<BpeTokenizer>(Vocab::from_gguf(f, p.add_bos), std::move(merges), p.kind,
                                            pre, p.ignore_merges);
    }
    std::string names;
    for (const auto& p : kPreTokenizers) names += (names.empty() ? "" : ", ") + std::string(p.name);
    raise<FormatError>("{}: unsupported pre-tokenizer tokenizer.ggml.pre = '{}'; supported: {}", f.path(),
                       pre, names);
  }
  raise<FormatError>("{}: unsupported tokenizer model '{}'; supported: llama (SentencePiece), gpt2 (BPE)",
                     f.path(), model);
}

std::string Tokenizer::decode(const std::vector<TokenId>& ids, bool render_special) const {
  std::string out;
  for (TokenId id : ids) out += token_to_piece(id, render_special);
  return out;
}

}  // namespace tessera
