// tessera run: generate text from a prompt, streaming it to stdout, with a
// one-line summary on stderr (or one JSON object on stdout with --json).
#include <cstdio>
#include <nlohmann/json.hpp>

#include "cli/commands.h"
#include "cli/default_model.h"
#include "core/error.h"
#include "core/process_stats.h"
#include "engine/generator.h"

namespace tessera::cli {

namespace {

struct RunOptions {
  std::string model;
  std::string prompt;
  GenerationRequest request;
  int threads = default_thread_count();
  bool greedy = false;
  bool json = false;
};

// Flags checked before the model is loaded, so a typo fails at once.
void validate(RunOptions& o) {
  if (o.threads <= 0) raise<InvalidArgument>("-t/--threads must be positive, got {}", o.threads);
  if (o.request.max_tokens < 0) raise<InvalidArgument>("-n/--n-predict must be >= 0, got {}", o.request.max_tokens);
  if (o.request.n_ctx <= 0) raise<InvalidArgument>("-c/--ctx-size must be positive, got {}", o.request.n_ctx);
  for (const auto& s : o.request.stop) {
    if (s.empty()) raise<InvalidArgument>("--stop strings must not be empty");
  }
  if (o.greedy) o.request.sampling.temperature = 0.0f;
  o.request.sampling.validate();
}

double per_second(double count, double seconds) { return seconds > 0 ? count / seconds : 0.0; }

void run_run(RunOptions o) {
  validate(o);
  auto model = Model::load(resolve_model_path(o.model));
  if (model->hparams().n_ctx_train > 0) o.request.n_ctx = std::min(o.request.n_ctx, model->hparams().n_ctx_train);
  o.request.prompt = o.prompt;
  ThreadPool pool(o.threads);
  Generator generator(*model, pool);
  auto stream = [&](std::string_view text) {
    if (o.json) return;
    std::fwrite(text.data(), 1, text.size(), stdout);
    std::fflush(stdout);
  };
  const GenerationResult r = generator.generate(o.request, stream);
  const double prompt_tps = per_second(static_cast<double>(r.prompt_tokens), r.prefill_seconds);
  const double gen_tps = per_second(static_cast<double>(r.tokens.size()), r.decode_seconds);
  const int64_t peak_rss = peak_rss_bytes();
  if (o.json) {
    nlohmann::json j = {{"text", r.text},
                        {"tokens", r.tokens},
                        {"prompt_tokens", r.prompt_tokens},
                        {"generated_tokens", r.tokens.size()},
                        {"prefill_seconds", r.prefill_seconds},
                        {"decode_seconds", r.decode_seconds},
                        {"prompt_tok_s", prompt_tps},
                        {"generation_tok_s", gen_tps},
                        {"finish_reason", r.finish_reason},
                        {"n_ctx", o.request.n_ctx},
                        {"peak_rss_bytes", peak_rss}};
    // Text is valid UTF-8 except where the model produced invalid bytes;
    // those become U+FFFD instead of aborting the dump.
    std::printf("%s\n", j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace).c_str());
    return;
  }
  std::printf("\n");
  std::fflush(stdout);
  std::fprintf(stderr,
               "prompt: %lld tokens, %.1f tok/s | generated: %zu tokens, %.1f tok/s | finish: %s | peak RSS: %.0f MiB\n",
               static_cast<long long>(r.prompt_tokens), prompt_tps, r.tokens.size(), gen_tps, r.finish_reason.c_str(),
               static_cast<double>(peak_rss) / 1048576.0);
}

}  // namespace

void register_run(CLI::App& app) {
  auto o = std::make_shared<RunOptions>();
  auto& s = o->request.sampling;
  CLI::App* cmd = app.add_subcommand("run", "Generate text from a prompt");
  cmd->add_option("prompt", o->prompt, "the prompt")->required();
  cmd->add_option("-m,--model", o->model, "GGUF model (default: the set-up default model)");
  cmd->add_option("-n,--n-predict", o->request.max_tokens, "tokens to generate (default 128)");
  cmd->add_option("-c,--ctx-size", o->request.n_ctx, "context size in tokens (default 4096, capped by the model's)");
  cmd->add_option("-t,--threads", o->threads, "threads (default: all cores)");
  cmd->add_option("--temp", s.temperature, "temperature; <= 0 = greedy (default 0.8)");
  cmd->add_option("--top-k", s.top_k, "top-k, 0 = off (default 40)");
  cmd->add_option("--top-p", s.top_p, "top-p, 1 = off (default 0.95)");
  cmd->add_option("--min-p", s.min_p, "min-p, 0 = off (default 0.05)");
  cmd->add_option("--repeat-penalty", s.repeat_penalty, "repetition penalty, 1 = off (default 1)");
  cmd->add_option("--repeat-last-n", s.repeat_last_n, "tokens the penalties look back over, 0 = off (default 64)");
  cmd->add_option("--frequency-penalty", s.frequency_penalty, "frequency penalty (default 0)");
  cmd->add_option("--presence-penalty", s.presence_penalty, "presence penalty (default 0)");
  cmd->add_option("--seed", s.seed, "random seed: the same seed gives the same output (default 12648430)");
  cmd->add_option("--stop", o->request.stop, "stop before this string (repeatable); it is not printed");
  cmd->add_flag("--greedy", o->greedy, "always take the most likely token (same as --temp 0)");
  cmd->add_flag("--json", o->json, "print one JSON object (text, tokens, figures) instead of streaming");
  cmd->callback([o] { run_run(*o); });
}

}  // namespace tessera::cli
