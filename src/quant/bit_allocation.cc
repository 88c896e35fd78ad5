#include "quant/bit_allocation.h"

#include <algorithm>
#include <cmath>
#include <numeric>

#include "core/error.h"

namespace tessera {

AllocationOrder parse_allocation_order(std::string_view name) {
  if (name == "alpha-low") return AllocationOrder::AlphaLowMore;
  if (name == "alpha-high") return AllocationOrder::AlphaHighMore;
  if (name == "uniform") return AllocationOrder::Uniform;
  raise<InvalidArgument>("unknown allocation '{}' (alpha-low, alpha-high, uniform)", name);
}

const char* allocation_order_name(AllocationOrder order) {
  switch (order) {
    case AllocationOrder::AlphaLowMore: return "alpha-low";
    case AllocationOrder::AlphaHighMore: return "alpha-high";
    case AllocationOrder::Uniform: return "uniform";
  }
  return "?";
}

std::vector<int> allocate_bits(const std::vector<AllocationItem>& items, double avg_bits, AllocationOrder order) {
  if (!(avg_bits >= 2.0 && avg_bits <= 8.0)) raise<InvalidArgument>("--avg-bits must be 2 to 8, got {}", avg_bits);
  const int lo = static_cast<int>(std::floor(avg_bits));
  std::vector<int> bits(items.size(), lo);
  if (lo == 8) return bits;
  int64_t total = 0;
  for (const auto& it : items) total += it.elements;
  // Elements that may take the extra bit.
  double room = (avg_bits - lo) * static_cast<double>(total);
  std::vector<size_t> order_idx(items.size());
  std::iota(order_idx.begin(), order_idx.end(), 0);
  switch (order) {
    case AllocationOrder::AlphaLowMore:
      std::stable_sort(order_idx.begin(), order_idx.end(),
                       [&](size_t a, size_t b) { return items[a].alpha < items[b].alpha; });
      break;
    case AllocationOrder::AlphaHighMore:
      std::stable_sort(order_idx.begin(), order_idx.end(),
                       [&](size_t a, size_t b) { return items[a].alpha > items[b].alpha; });
      break;
    case AllocationOrder::Uniform: {
      // A low-discrepancy walk over positions (golden-ratio steps): any prefix
      // of the order is spread evenly through the model.
      std::vector<double> key(items.size());
      for (size_t i = 0; i < items.size(); ++i) key[i] = std::fmod(static_cast<double>(i) * 0.6180339887498949, 1.0);
      std::stable_sort(order_idx.begin(), order_idx.end(), [&](size_t a, size_t b) { return key[a] < key[b]; });
      break;
    }
  }
  for (size_t i : order_idx) {
    if (static_cast<double>(items[i].elements) <= room) {
      bits[i] = lo + 1;
      room -= static_cast<double>(items[i].elements);
    }
  }
  return bits;
}

}  // namespace tessera
