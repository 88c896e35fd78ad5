// /metrics text: Prometheus exposition format with cumulative histograms.
#include <gtest/gtest.h>

#include "server/metrics_text.h"

namespace tessera::server {
namespace {

TEST(MetricsText, CountersGaugesAndHistograms) {
  serving::MetricsSnapshot m;
  m.requests_finished_stop = 3;
  m.requests_cancelled = 1;
  m.running = 2;
  m.kv_blocks_used = 5;
  m.kv_blocks_free = 11;
  m.prefix_cache_queries = 4;
  m.prefix_cache_hits = 1;
  m.time_to_first_token = {{0.1, 1.0}, {2, 3}, 4, 5.5};
  m.step_seconds_mixed = {{0.05, 1.0}, {1, 2}, 2, 0.25};
  m.step_prefill_tokens_total = 17;
  m.fairness_preemptions_total = 2;
  const std::string text = metrics_text(m, {{200, 7}, {400, 2}});
  for (const char* line : {
           "tessera_requests_total{status=\"stop\"} 3\n",
           "tessera_requests_total{status=\"cancelled\"} 1\n",
           "tessera_http_responses_total{code=\"400\"} 2\n",
           "tessera_requests_running 2\n",
           "tessera_kv_blocks{state=\"used\"} 5\n",
           "tessera_kv_blocks{state=\"free\"} 11\n",
           "tessera_prefix_cache_hit_rate 0.25\n",
           "# TYPE tessera_time_to_first_token_seconds histogram\n",
           "tessera_time_to_first_token_seconds_bucket{le=\"0.1\"} 2\n",
           "tessera_time_to_first_token_seconds_bucket{le=\"1\"} 3\n",
           "tessera_time_to_first_token_seconds_bucket{le=\"+Inf\"} 4\n",
           "tessera_time_to_first_token_seconds_sum 5.5\n",
           "tessera_time_to_first_token_seconds_count 4\n",
           "# TYPE tessera_engine_step_seconds histogram\n",
           "tessera_engine_step_seconds_bucket{kind=\"mixed\",le=\"0.05\"} 1\n",
           "tessera_engine_step_seconds_bucket{kind=\"mixed\",le=\"+Inf\"} 2\n",
           "tessera_engine_step_seconds_sum{kind=\"mixed\"} 0.25\n",
           "tessera_engine_step_seconds_count{kind=\"decode\"} 0\n",
           "tessera_engine_step_tokens_total{kind=\"prefill\"} 17\n",
           "tessera_fairness_preemptions_total 2\n",
       }) {
    EXPECT_NE(text.find(line), std::string::npos) << "missing: " << line;
  }
  // Every sample line is "name[{labels}] number".
  size_t start = 0;
  while (start < text.size()) {
    const size_t end = text.find('\n', start);
    ASSERT_NE(end, std::string::npos);
    const std::string line = text.substr(start, end - start);
    if (!line.starts_with("#")) {
      const size_t space = line.rfind(' ');
      ASSERT_NE(space, std::string::npos) << line;
      EXPECT_NO_THROW((void)std::stod(line.substr(space + 1))) << line;
    }
    start = end + 1;
  }
}

TEST(MetricsText, NoQueriesMeansZeroHitRate) {
  EXPECT_NE(metrics_text({}, {}).find("tessera_prefix_cache_hit_rate 0\n"), std::string::npos);
}

}  // namespace
}  // namespace tessera::server
