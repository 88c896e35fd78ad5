// tessera bench: prefill / decode throughput as llama-bench reports it, the
// weight bytes a decode step reads, and how close that comes to the machine's
// measured read bandwidth.
#include <cstdio>
#include <nlohmann/json.hpp>

#include "cli/commands.h"
#include "cli/default_model.h"
#include "core/error.h"
#include "core/process_stats.h"
#include "eval/roofline.h"
#include "eval/speed_bench.h"
#include "kernels/cpu_features.h"
#include "model/model.h"

namespace tessera::cli {

namespace {

struct BenchOptions {
  std::string model;
  SpeedBenchOptions speed;
  int threads = 0;
  bool roofline = false;
  bool json = false;
};

// Weights read per second by an op (matmuls only; 0 for the rest).
double weight_gbps(const OpProfile::Entry& e) {
  return e.weight_bytes > 0 && e.seconds > 0 ? e.weight_bytes * e.calls / e.seconds / 1e9 : 0.0;
}

nlohmann::json profile_json(const ProfiledRun& run) {
  nlohmann::json ops = nlohmann::json::array();
  for (const auto& e : run.ops) {
    ops.push_back({{"op", e.name},
                   {"calls_per_token", static_cast<double>(e.calls) / run.tokens},
                   {"ms_per_token", 1e3 * e.seconds / run.tokens},
                   {"share", run.seconds > 0 ? e.seconds / run.seconds : 0.0},
                   {"weight_bytes", e.weight_bytes},
                   {"weight_gbps", weight_gbps(e)}});
  }
  return ops;
}

// With weight_rate, a column of weight bytes read per second (decode: each
// step reads every matrix once, so it compares with the read bandwidth; a
// prefill pass reads each once for many tokens, where it means nothing).
void print_profile(const char* stage, const ProfiledRun& run, bool weight_rate) {
  std::printf("%s profile (%lld profiled tokens, %.3f ms per token):\n", stage, static_cast<long long>(run.tokens),
              1e3 * run.seconds / run.tokens);
  std::printf("  %-58s %9s %11s %6s %12s\n", "op (weights rows x cols)", "calls/tok", "ms/tok", "share",
              weight_rate ? "weights GB/s" : "");
  for (const auto& e : run.ops) {
    std::printf("  %-58s %9.2f %11.4f %5.1f%% ", e.name.c_str(), static_cast<double>(e.calls) / run.tokens,
                1e3 * e.seconds / run.tokens, run.seconds > 0 ? 100.0 * e.seconds / run.seconds : 0.0);
    if (weight_rate && weight_gbps(e) > 0) {
      std::printf("%12.1f\n", weight_gbps(e));
    } else {
      std::printf("%12s\n", "");
    }
  }
}

void run_bench(const BenchOptions& o) {
  if (o.threads < 0) raise<InvalidArgument>("-t must be positive, got {}", o.threads);
  const std::string path = resolve_model_path(o.model);
  auto model = Model::load(path);
  ThreadPool pool(o.threads > 0 ? o.threads : default_thread_count());
  auto progress = [&](const char* stage, int rep) {
    if (!o.json) std::fprintf(stderr, "\r%s %d/%d   ", stage, rep + 1, o.speed.repetitions);
  };
  const SpeedBenchResult r = run_speed_bench(*model, pool, o.speed, progress);
  if (!o.json) std::fprintf(stderr, "\r%*s\r", 24, "");
  const int64_t peak_rss = peak_rss_bytes();
  // The roofline is measured after the RSS reading so its buffer does not count.
  const Roofline roof = o.roofline ? measure_roofline(pool) : Roofline{};

  if (o.json) {
    nlohmann::json j = {
        {"model", path},
        {"threads", pool.size()},
        {"isa", cpu_features().summary()},
        {"n_prompt", o.speed.n_prompt},
        {"n_gen", o.speed.n_gen},
        {"n_parallel", o.speed.n_parallel},
        {"repetitions", o.speed.repetitions},
        {"prefill_tok_s", r.prefill.mean},
        {"prefill_tok_s_stddev", r.prefill.stddev},
        {"decode_tok_s", r.decode.mean},
        {"decode_tok_s_stddev", r.decode.stddev},
        {"weight_bytes_per_token", r.weight_bytes_per_token},
        {"decode_read_gbps", r.decode_read_gbps},
        {"weights_read_gbps", r.weights_read_gbps},
        {"bandwidth_share", r.bandwidth_share},
        {"peak_rss_bytes", peak_rss},
    };
    if (!r.prefill_profile.empty()) j["prefill_profile"] = profile_json(r.prefill_profile);
    if (!r.decode_profile.empty()) j["decode_profile"] = profile_json(r.decode_profile);
    if (o.roofline) {
      j["roofline_read_gbps"] = roof.read_gbps;
      j["fma_gflops"] = roof.fma_gflops;
      j["int8_gops"] = roof.int8_gops;
      j["int8_vnni_gops"] = roof.int8_vnni_gops;
    }
    std::printf("%s\n", j.dump(2).c_str());
    return;
  }
  const auto& hp = model->hparams();
  std::printf("model    %s (%s, %lld layers, %.1f MiB file)\n", path.c_str(), hp.arch.c_str(),
              static_cast<long long>(hp.n_layer), model->file().file_size() / 1048576.0);
  std::printf("threads  %d   ISA %s\n", pool.size(), cpu_features().summary().c_str());
  if (o.speed.n_prompt > 0) {
    std::printf("pp%-5d  %8.2f ± %.2f tok/s\n", o.speed.n_prompt, r.prefill.mean, r.prefill.stddev);
  }
  if (o.speed.n_gen > 0) {
    if (o.speed.n_parallel > 1) {
      std::printf("tg%-5d  %8.2f ± %.2f tok/s in total, %d sequences decoding together\n", o.speed.n_gen,
                  r.decode.mean, r.decode.stddev, o.speed.n_parallel);
    } else {
      std::printf("tg%-5d  %8.2f ± %.2f tok/s\n", o.speed.n_gen, r.decode.mean, r.decode.stddev);
    }
    std::printf("decode   %.1f MiB of weights per step, %.1f GB/s = %.0f%% of the rate those weights are "
                "read at beside each run (%.1f GB/s)\n",
                r.weight_bytes_per_token / 1048576.0, r.decode_read_gbps, 100.0 * r.bandwidth_share,
                r.weights_read_gbps);
  }
  if (!r.prefill_profile.empty()) print_profile("prefill", r.prefill_profile, false);
  if (!r.decode_profile.empty()) print_profile("decode", r.decode_profile, true);

  if (o.roofline) {
    std::printf("roofline read %.1f GB/s, fp32 FMA %.0f GFLOP/s, int8 %.0f GOP/s (AVX2), %.0f GOP/s (VNNI)\n",
                roof.read_gbps, roof.fma_gflops, roof.int8_gops, roof.int8_vnni_gops);
  }
  std::printf("peak RSS %.1f MiB\n", peak_rss / 1048576.0);
}

}  // namespace

void register_bench(CLI::App& app) {
  auto o = std::make_shared<BenchOptions>();
  CLI::App* cmd = app.add_subcommand("bench", "Measure prefill and decode speed");
  cmd->add_option("-m,--model", o->model, "GGUF model (default: the set-up default model)");
  // CLI11's NonNegativeNumber / PositiveNumber print a range up to DBL_MAX;
  // these say what is allowed.
  cmd->add_option("-p,--n-prompt", o->speed.n_prompt, "prompt tokens for the prefill test")
      ->check(CLI::Range(0, 1 << 20));
  cmd->add_option("-n,--n-gen", o->speed.n_gen, "tokens for the decode test")->check(CLI::Range(0, 1 << 20));
  cmd->add_option("-r,--repetitions", o->speed.repetitions, "repetitions")->check(CLI::Range(1, 1000));
  cmd->add_option("-b,--parallel", o->speed.n_parallel,
                  "sequences decoded together in the decode test (one token each per step; tok/s counts all)")
      ->check(CLI::Range(1, kMaxParallel));
  cmd->add_option("-t,--threads", o->threads, "threads (default: all cores)");
  cmd->add_flag("--roofline", o->roofline, "also measure peak FMA and int8 throughput");
  cmd->add_flag("--profile", o->speed.profile,
                "after the timed runs, one more prefill and one more decode run timing each matmul (by weight "
                "type and shape), the attention and the rest");
  cmd->add_flag("--json", o->json, "print one JSON object");
  cmd->callback([o] { run_bench(*o); });
}

}  // namespace tessera::cli
