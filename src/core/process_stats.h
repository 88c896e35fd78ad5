#pragma once

#include <cstdint>

namespace tessera {

// Peak resident set size of this process in bytes (VmHWM), or 0 if unknown.
int64_t peak_rss_bytes();
// Current resident set size in bytes (VmRSS), or 0 if unknown.
int64_t current_rss_bytes();

}  // namespace tessera
