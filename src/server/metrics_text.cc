#include "server/metrics_text.h"

#include <fmt/format.h>

#include <iterator>

namespace tessera::server {

namespace {

// Prometheus floats: shortest round-trip form; +Inf for the last bucket.
std::string number(double x) { return fmt::format("{}", x); }

void family(std::string& out, const char* name, const char* type, const char* help) {
  fmt::format_to(std::back_inserter(out), "# HELP {} {}\n# TYPE {} {}\n", name, help, name, type);
}

void sample(std::string& out, const char* name, double value, const std::string& labels = {}) {
  fmt::format_to(std::back_inserter(out), "{}{}{} {}\n", name, labels.empty() ? "" : "{",
                 labels.empty() ? labels : labels + "}", number(value));
}

// One series of a histogram family; `labels` (may be empty) go before "le".
void histogram_series(std::string& out, const char* name, const serving::Histogram& h, const std::string& labels) {
  const std::string bucket = std::string(name) + "_bucket";
  const std::string prefix = labels.empty() ? "" : labels + ",";
  for (size_t i = 0; i < h.upper_bounds_s.size() && i < h.cumulative_counts.size(); ++i) {
    sample(out, bucket.c_str(), static_cast<double>(h.cumulative_counts[i]),
           fmt::format("{}le=\"{}\"", prefix, number(h.upper_bounds_s[i])));
  }
  sample(out, bucket.c_str(), static_cast<double>(h.count), prefix + "le=\"+Inf\"");
  sample(out, (std::string(name) + "_sum").c_str(), h.sum_s, labels);
  sample(out, (std::string(name) + "_count").c_str(), static_cast<double>(h.count), labels);
}

void histogram(std::string& out, const char* name, const char* help, const serving::Histogram& h) {
  family(out, name, "histogram", help);
  histogram_series(out, name, h, {});
}

}  // namespace

std::string metrics_text(const serving::MetricsSnapshot& m, const std::map<int, uint64_t>& http_responses) {
  std::string out;
  family(out, "tessera_requests_total", "counter", "Finished generation requests by how they ended.");
  sample(out, "tessera_requests_total", static_cast<double>(m.requests_finished_stop), "status=\"stop\"");
  sample(out, "tessera_requests_total", static_cast<double>(m.requests_finished_length), "status=\"length\"");
  sample(out, "tessera_requests_total", static_cast<double>(m.requests_cancelled), "status=\"cancelled\"");
  sample(out, "tessera_requests_total", static_cast<double>(m.requests_failed), "status=\"error\"");

  family(out, "tessera_http_responses_total", "counter", "HTTP responses by status code.");
  for (const auto& [code, count] : http_responses) {
    sample(out, "tessera_http_responses_total", static_cast<double>(count), fmt::format("code=\"{}\"", code));
  }

  family(out, "tessera_prompt_tokens_total", "counter", "Prompt tokens of accepted requests.");
  sample(out, "tessera_prompt_tokens_total", static_cast<double>(m.prompt_tokens_total));
  family(out, "tessera_generation_tokens_total", "counter", "Generated tokens.");
  sample(out, "tessera_generation_tokens_total", static_cast<double>(m.generated_tokens_total));
  family(out, "tessera_preemptions_total", "counter", "Sequences preempted for lack of KV blocks (recomputed later).");
  sample(out, "tessera_preemptions_total", static_cast<double>(m.preemptions_total));
  family(out, "tessera_fairness_preemptions_total", "counter",
         "Preemptions asked by the scheduling policy so a user with nothing running gets a slot.");
  sample(out, "tessera_fairness_preemptions_total", static_cast<double>(m.fairness_preemptions_total));
  family(out, "tessera_engine_steps_total", "counter", "Forward passes run by the engine loop.");
  sample(out, "tessera_engine_steps_total", static_cast<double>(m.steps_total));

  family(out, "tessera_requests_running", "gauge", "Sequences being prefilled or decoded.");
  sample(out, "tessera_requests_running", static_cast<double>(m.running));
  family(out, "tessera_requests_waiting", "gauge", "Requests queued (including preempted ones).");
  sample(out, "tessera_requests_waiting", static_cast<double>(m.waiting));

  family(out, "tessera_kv_blocks", "gauge", "KV cache blocks by state (used: held by live sequences; "
                                            "cached: kept by the prefix cache, evictable; free).");
  sample(out, "tessera_kv_blocks", static_cast<double>(m.kv_blocks_total), "state=\"total\"");
  sample(out, "tessera_kv_blocks", static_cast<double>(m.kv_blocks_used), "state=\"used\"");
  sample(out, "tessera_kv_blocks", static_cast<double>(m.kv_blocks_cached), "state=\"cached\"");
  sample(out, "tessera_kv_blocks", static_cast<double>(m.kv_blocks_free), "state=\"free\"");

  family(out, "tessera_prefix_cache_queries_total", "counter", "Full prompt blocks looked up in the prefix cache.");
  sample(out, "tessera_prefix_cache_queries_total", static_cast<double>(m.prefix_cache_queries));
  family(out, "tessera_prefix_cache_hits_total", "counter", "Full prompt blocks found in the prefix cache.");
  sample(out, "tessera_prefix_cache_hits_total", static_cast<double>(m.prefix_cache_hits));
  family(out, "tessera_prefix_cache_hit_rate", "gauge", "prefix_cache_hits_total / prefix_cache_queries_total.");
  sample(out, "tessera_prefix_cache_hit_rate",
         m.prefix_cache_queries ? static_cast<double>(m.prefix_cache_hits) / static_cast<double>(m.prefix_cache_queries)
                                : 0.0);

  histogram(out, "tessera_time_to_first_token_seconds", "Time from arrival to the first generated token.",
            m.time_to_first_token);
  histogram(out, "tessera_time_per_output_token_seconds", "Time between consecutive generated tokens.",
            m.time_per_output_token);
  histogram(out, "tessera_queue_time_seconds", "Time from arrival to the first scheduled step.", m.queue_time);

  family(out, "tessera_engine_step_seconds", "histogram",
         "Forward-pass time of engine steps by content: decode tokens only, decode and prefill (mixed), prefill only.");
  histogram_series(out, "tessera_engine_step_seconds", m.step_seconds_decode, "kind=\"decode\"");
  histogram_series(out, "tessera_engine_step_seconds", m.step_seconds_mixed, "kind=\"mixed\"");
  histogram_series(out, "tessera_engine_step_seconds", m.step_seconds_prefill, "kind=\"prefill\"");
  family(out, "tessera_engine_step_tokens_total", "counter", "Tokens run by engine steps, by kind.");
  sample(out, "tessera_engine_step_tokens_total", static_cast<double>(m.step_decode_tokens_total), "kind=\"decode\"");
  sample(out, "tessera_engine_step_tokens_total", static_cast<double>(m.step_prefill_tokens_total), "kind=\"prefill\"");
  return out;
}

}  // namespace tessera::server
