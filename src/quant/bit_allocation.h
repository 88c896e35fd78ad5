// alphaq's calibration-free bit allocation: each weight matrix gets one of two
// neighbouring grid widths so the element-weighted average meets a budget; the
// order in which matrices are promoted to the wider grid is set by their
// heavy-tail exponent alpha (spectrum.h) or, for the ablation, by position only.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace tessera {

enum class AllocationOrder {
  AlphaLowMore,   // heavier-tailed spectra (lower alpha, "better trained") get the wider grid
  AlphaHighMore,  // the opposite direction
  Uniform,        // ignores alpha: promotions spread evenly over the model's depth
};
AllocationOrder parse_allocation_order(std::string_view name);  // "alpha-low", "alpha-high", "uniform"
const char* allocation_order_name(AllocationOrder order);

struct AllocationItem {
  int64_t elements = 0;
  double alpha = 0.0;
};

// Grid bits per item: floor(avg_bits) or one more, the element-weighted mean
// as close to avg_bits as whole matrices allow without exceeding it.
// avg_bits must lie in [2, 8].
std::vector<int> allocate_bits(const std::vector<AllocationItem>& items, double avg_bits, AllocationOrder order);

}  // namespace tessera
