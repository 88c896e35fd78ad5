// GET /metrics: the engine's MetricsSnapshot (and the server's HTTP response
// counts) in the Prometheus text exposition format, version 0.0.4.
#pragma once

#include <cstdint>
#include <map>
#include <string>

#include "serving/serving_engine.h"

namespace tessera::server {

// http_responses: HTTP status code -> responses sent with it.
std::string metrics_text(const serving::MetricsSnapshot& m, const std::map<int, uint64_t>& http_responses);

}  // namespace tessera::server
