// tessera dev logits: raw logits of every position of a token list, for the
// parity tests against llama.cpp. Input: little-endian int32 token ids (the
// caller includes BOS itself). Output: float32, n_tokens x n_vocab, row-major.
#include <cstdio>
#include <fstream>
#include <vector>

#include "cli/default_model.h"
#include "cli/dev_commands.h"
#include "core/error.h"
#include "model/model.h"

namespace tessera::cli {

namespace {

struct DevLogitsOptions {
  std::string model;
  std::string tokens_file;
  std::string out_file;
  int threads = 0;
  int batch = 512;
};

std::vector<int32_t> read_tokens(const std::string& path) {
  std::ifstream in(path, std::ios::binary | std::ios::ate);
  if (!in) raise("{}: cannot open token file", path);
  const auto size = static_cast<size_t>(in.tellg());
  if (size == 0 || size % sizeof(int32_t) != 0) {
    raise("{}: token file must hold a non-zero number of int32 ids ({} bytes)", path, size);
  }
  std::vector<int32_t> tokens(size / sizeof(int32_t));
  in.seekg(0);
  in.read(reinterpret_cast<char*>(tokens.data()), static_cast<std::streamsize>(size));
  return tokens;
}

void run_dev_logits(const DevLogitsOptions& o) {
  if (o.batch <= 0) raise<InvalidArgument>("--batch must be positive, got {}", o.batch);
  if (o.threads < 0) raise<InvalidArgument>("--threads must be positive, got {}", o.threads);
  const std::vector<int32_t> tokens = read_tokens(o.tokens_file);
  auto model = Model::load(resolve_model_path(o.model));
  const int64_t n_vocab = model->hparams().n_vocab;
  const auto n = static_cast<int64_t>(tokens.size());
  auto kv = model->make_kv_cache(n);
  if (!kv->reserve(0, n)) raise("KV cache too small for {} tokens", n);
  ThreadPool pool(o.threads > 0 ? o.threads : default_thread_count());

  std::FILE* out = std::fopen(o.out_file.c_str(), "wb");
  if (out == nullptr) raise("{}: cannot open for writing", o.out_file);
  std::vector<float> logits;
  Batch batch;
  for (int64_t begin = 0; begin < n; begin += o.batch) {
    const int64_t end = std::min<int64_t>(n, begin + o.batch);
    batch.clear();
    for (int64_t i = begin; i < end; ++i) batch.add(tokens[i], static_cast<int32_t>(i), 0, true);
    logits.resize(static_cast<size_t>((end - begin) * n_vocab));
    try {
      model->forward(batch, *kv, logits.data(), pool);
    } catch (...) {
      std::fclose(out);
      throw;
    }
    if (std::fwrite(logits.data(), sizeof(float), logits.size(), out) != logits.size()) {
      std::fclose(out);
      raise("{}: write failed", o.out_file);
    }
  }
  if (std::fclose(out) != 0) raise("{}: write failed", o.out_file);
}

}  // namespace

void register_dev_logits(CLI::App& dev) {
  auto opts = std::make_shared<DevLogitsOptions>();
  CLI::App* cmd = dev.add_subcommand("logits", "Write float32 logits of every position of a token list");
  cmd->add_option("-m,--model", opts->model, "GGUF model (default: the set-up default model)");
  cmd->add_option("--tokens-file", opts->tokens_file, "little-endian int32 token ids")->required();
  cmd->add_option("--out", opts->out_file, "output: float32 n_tokens x n_vocab")->required();
  cmd->add_option("-t,--threads", opts->threads, "threads (default: all cores)");
  cmd->add_option("--batch", opts->batch, "tokens per forward pass");
  cmd->callback([opts] { run_dev_logits(*opts); });
}

}  // namespace tessera::cli
