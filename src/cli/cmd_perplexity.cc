// tessera perplexity: llama-perplexity's measurement, plus saving the scored
// log-probabilities and comparing against a saved baseline (KL, top-1).
#include <cstdio>
#include <fstream>
#include <nlohmann/json.hpp>
#include <optional>
#include <sstream>

#include "cli/commands.h"
#include "cli/default_model.h"
#include "cli/progress_bar.h"
#include "core/error.h"
#include "core/process_stats.h"
#include "eval/perplexity.h"

namespace tessera::cli {

namespace {

struct PerplexityCliOptions {
  std::string model;
  std::string file;
  PerplexityOptions options;
  int threads = default_thread_count();
  bool json = false;
  int act_bits = 0;
  std::string act_group = "32";
  double act_clip = 1.0;
};

std::string read_text(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) raise<InvalidArgument>("{}: cannot open the text file", path);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

void run_perplexity(const PerplexityCliOptions& o) {
  if (o.threads <= 0) raise<InvalidArgument>("-t/--threads must be positive, got {}", o.threads);
  o.options.validate();
  const ActivationQuant act = make_activation_quant(o.act_bits, o.act_group, o.act_clip);
  const std::string text = read_text(o.file);
  const std::string model_path = resolve_model_path(o.model);
  auto model = Model::load(model_path);
  model->set_activation_quant(act);
  ThreadPool pool(o.threads);
  std::optional<ProgressBar> bar;
  auto progress = [&](int64_t done, int64_t total, double ppl) {
    if (!bar) bar.emplace(total, "windows");
    char detail[64];
    std::snprintf(detail, sizeof(detail), "ppl %.4f", ppl);
    bar->update(done, detail);
  };
  const PerplexityResult r = compute_perplexity(*model, text, o.options, pool, progress);
  const double tokens_per_second = r.seconds > 0 ? static_cast<double>(r.n_chunks * o.options.n_ctx) / r.seconds : 0;
  if (o.json) {
    nlohmann::json j = {{"model", model_path},
                        {"file", o.file},
                        {"activations", act.describe()},
                        {"perplexity", r.perplexity},
                        {"perplexity_error", r.perplexity_error},
                        {"mean_nll", r.mean_nll},
                        {"n_tokens", r.n_tokens},
                        {"n_ctx", o.options.n_ctx},
                        {"n_chunks", r.n_chunks},
                        {"n_scored", r.n_scored},
                        {"seconds", r.seconds},
                        {"tokens_per_second", tokens_per_second},
                        {"peak_rss_bytes", peak_rss_bytes()}};
    if (!o.options.save_logits_path.empty()) j["saved_logits"] = o.options.save_logits_path;
    if (r.has_kl) {
      j["baseline"] = o.options.kl_baseline_path;
      j["kl_mean"] = r.kl_mean;
      j["kl_p99"] = r.kl_p99;
      j["kl_max"] = r.kl_max;
      j["top1_agreement"] = r.top1_agreement;
      j["baseline_perplexity"] = r.baseline_perplexity;
      j["baseline_perplexity_error"] = r.baseline_perplexity_error;
    }
    std::printf("%s\n", j.dump(2).c_str());
    return;
  }
  if (act.enabled()) std::printf("activations of the layer matrices: %s\n", act.describe().c_str());
  std::printf("perplexity %.4f ± %.4f over %lld windows of %lld tokens (%lld positions scored), %.1f s, %.0f tok/s\n",
              r.perplexity, r.perplexity_error, static_cast<long long>(r.n_chunks),
              static_cast<long long>(o.options.n_ctx), static_cast<long long>(r.n_scored), r.seconds,
              tokens_per_second);
  if (r.has_kl) {
    std::printf("vs %s: KL mean %.6f, p99 %.6f, max %.6f; top-1 agreement %.2f%%; baseline perplexity %.4f ± %.4f\n",
                o.options.kl_baseline_path.c_str(), r.kl_mean, r.kl_p99, r.kl_max, 100.0 * r.top1_agreement,
                r.baseline_perplexity, r.baseline_perplexity_error);
  }
}

}  // namespace

void register_perplexity(CLI::App& app) {
  auto o = std::make_shared<PerplexityCliOptions>();
  CLI::App* cmd =
      app.add_subcommand("perplexity", "Perplexity of a text (llama-perplexity's method), KL against a baseline");
  cmd->add_option("-m,--model", o->model, "GGUF model (default: the set-up default model)");
  cmd->add_option("-f,--file", o->file, "text file")->required();
  cmd->add_option("-c,--ctx", o->options.n_ctx, "window size in tokens (default 512)");
  cmd->add_option("--chunks", o->options.max_chunks, "number of windows (default: all)");
  cmd->add_option("-b,--batch", o->options.batch, "tokens per forward pass (default 512)");
  cmd->add_option("-t,--threads", o->threads, "threads (default: all cores)");
  cmd->add_option("--save-logits", o->options.save_logits_path,
                  "save the scored log-probabilities as a baseline (fp16; see docs/formats.md)");
  cmd->add_option("--kl", o->options.kl_baseline_path,
                  "compare with a baseline saved by --save-logits: KL divergence, top-1 agreement");
  cmd->add_option("--act-bits", o->act_bits,
                  "round every layer matrix's input to a symmetric grid of this many bits, 2-8 (W8A8 / W4A4 "
                  "quality; default 0: off)");
  cmd->add_option("--act-group", o->act_group, "with --act-bits: inputs per scale, or 'token' (default 32)");
  cmd->add_option("--act-clip", o->act_clip,
                  "with --act-bits: the grid spans this fraction of each group's largest |x|, in (0, 1] (default 1; "
                  "QuaRot uses 0.9)");
  cmd->add_flag("--json", o->json, "print one JSON object with every figure");
  cmd->callback([o] { run_perplexity(*o); });
}

}  // namespace tessera::cli
