// tessera perplexity: llama-perplexity's measurement, plus saving the scored
// log-probabilities and comparing against a saved baseline (KL, top-1).
#include <chrono>
#include <cstdio>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "cli/commands.h"
#include "cli/default_model.h"
#include "core/error.h"
#include "core/process_stats.h"
#include "eval/perplexity.h"

namespace tessera::cli {

namespace {

struct PerplexityCliOptions {
  std::string model;
  std::string file;
  PerplexityOptions options;
  int threads = 0;
  bool json = false;
};

void run_perplexity(const PerplexityCliOptions& o) {
  if (o.threads < 0) raise<InvalidArgument>("-t must be positive, got {}", o.threads);
  std::ifstream in(o.file, std::ios::binary);
  if (!in) raise("{}: cannot open", o.file);
  std::stringstream ss;
  ss << in.rdbuf();
  auto model = Model::load(resolve_model_path(o.model));
  ThreadPool pool(o.threads > 0 ? o.threads : default_thread_count());
  const auto t0 = std::chrono::steady_clock::now();
  auto progress = [&](int64_t done, int64_t total, double ppl) {
    const double elapsed = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    const double eta = elapsed / static_cast<double>(done) * static_cast<double>(total - done);
    const int width = 30;
    const int filled = static_cast<int>(width * done / total);
    std::fprintf(stderr, "\r[%.*s%*s] %lld/%lld windows, ppl %.4f, ETA %.0fs ", filled,
                 "##############################", width - filled, "", static_cast<long long>(done),
                 static_cast<long long>(total), ppl, eta);
    if (done == total) std::fprintf(stderr, "\n");
  };
  const PerplexityResult r = compute_perplexity(*model, ss.str(), o.options, pool, progress);
  if (o.json) {
    nlohmann::json j = {{"perplexity", r.perplexity},     {"perplexity_error", r.perplexity_error},
                        {"mean_nll", r.mean_nll},         {"n_chunks", r.n_chunks},
                        {"n_ctx", o.options.n_ctx},       {"n_scored", r.n_scored},
                        {"seconds", r.seconds},           {"tokens_per_second", r.n_chunks * o.options.n_ctx / r.seconds},
                        {"peak_rss_bytes", peak_rss_bytes()}};
    if (r.has_kl) {
      j["kl_mean"] = r.kl_mean;
      j["kl_p99"] = r.kl_p99;
      j["kl_max"] = r.kl_max;
      j["top1_agreement"] = r.top1_agreement;
      j["baseline_perplexity"] = r.baseline_perplexity;
    }
    std::printf("%s\n", j.dump(2).c_str());
    return;
  }
  std::printf("perplexity %.4f ± %.4f over %lld windows of %lld tokens (%lld scored), %.1f s\n", r.perplexity,
              r.perplexity_error, static_cast<long long>(r.n_chunks), static_cast<long long>(o.options.n_ctx),
              static_cast<long long>(r.n_scored), r.seconds);
  if (r.has_kl) {
    std::printf("KL divergence vs baseline: mean %.6f, p99 %.6f, max %.6f; top-1 agreement %.2f%%; baseline "
                "perplexity %.4f\n",
                r.kl_mean, r.kl_p99, r.kl_max, 100.0 * r.top1_agreement, r.baseline_perplexity);
  }
}

}  // namespace

void register_perplexity(CLI::App& app) {
  auto o = std::make_shared<PerplexityCliOptions>();
  CLI::App* cmd = app.add_subcommand("perplexity", "Perplexity of a text (llama-perplexity's method), KL against a baseline");
  cmd->add_option("-m,--model", o->model, "GGUF model (default: the set-up default model)");
  cmd->add_option("-f,--file", o->file, "text file")->required();
  cmd->add_option("-c,--ctx", o->options.n_ctx, "window size in tokens (default 512)");
  cmd->add_option("--chunks", o->options.max_chunks, "number of windows (default: all)");
  cmd->add_option("-b,--batch", o->options.batch, "tokens per forward pass (default 512)");
  cmd->add_option("-t,--threads", o->threads, "threads (default: all cores)");
  cmd->add_option("--save-logits", o->options.save_logits_path, "save the scored log-probabilities (baseline)");
  cmd->add_option("--kl", o->options.kl_baseline_path, "report KL divergence against a saved baseline");
  cmd->add_flag("--json", o->json, "print one JSON object");
  cmd->callback([o] { run_perplexity(*o); });
}

}  // namespace tessera::cli
