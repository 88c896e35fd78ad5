// alphaq's allocation: budget respected, direction set by alpha, positions only for uniform.
#include "quant/bit_allocation.h"

#include <gtest/gtest.h>

#include "core/error.h"

namespace tessera {
namespace {

double average(const std::vector<AllocationItem>& items, const std::vector<int>& bits) {
  double s = 0, n = 0;
  for (size_t i = 0; i < items.size(); ++i) {
    s += static_cast<double>(bits[i]) * items[i].elements;
    n += items[i].elements;
  }
  return s / n;
}

TEST(BitAllocation, MeetsTheBudgetAndFollowsAlpha) {
  std::vector<AllocationItem> items;
  for (int i = 0; i < 10; ++i) items.push_back({1000, 2.0 + i});  // alpha 2..11
  const auto low = allocate_bits(items, 4.5, AllocationOrder::AlphaLowMore);
  const auto high = allocate_bits(items, 4.5, AllocationOrder::AlphaHighMore);
  EXPECT_DOUBLE_EQ(average(items, low), 4.5);
  EXPECT_DOUBLE_EQ(average(items, high), 4.5);
  for (int i = 0; i < 10; ++i) {
    EXPECT_EQ(low[i], i < 5 ? 5 : 4) << i;
    EXPECT_EQ(high[i], i < 5 ? 4 : 5) << i;
  }
}

TEST(BitAllocation, NeverExceedsTheBudgetWithUnequalSizes) {
  const std::vector<AllocationItem> items = {{4000, 1.0}, {1000, 2.0}, {1000, 3.0}, {2000, 4.0}};
  for (auto order : {AllocationOrder::AlphaLowMore, AllocationOrder::AlphaHighMore, AllocationOrder::Uniform}) {
    const auto bits = allocate_bits(items, 3.3, order);
    EXPECT_LE(average(items, bits), 3.3 + 1e-12) << allocation_order_name(order);
    for (int b : bits) EXPECT_TRUE(b == 3 || b == 4);
  }
  // 3.3 leaves room for 2400 elements: alpha-low cannot take the 4000 one and takes the next.
  EXPECT_EQ(allocate_bits(items, 3.3, AllocationOrder::AlphaLowMore), (std::vector<int>{3, 4, 4, 3}));
}

TEST(BitAllocation, UniformIgnoresAlphaAndSpreadsOverPositions) {
  std::vector<AllocationItem> a, b;
  for (int i = 0; i < 20; ++i) {
    a.push_back({100, static_cast<double>(i)});
    b.push_back({100, static_cast<double>(20 - i)});
  }
  const auto ua = allocate_bits(a, 4.5, AllocationOrder::Uniform);
  EXPECT_EQ(ua, allocate_bits(b, 4.5, AllocationOrder::Uniform));
  int first_half = 0;
  for (int i = 0; i < 10; ++i) first_half += ua[i] == 5;
  EXPECT_GE(first_half, 4);
  EXPECT_LE(first_half, 6);
}

TEST(BitAllocation, RejectsImpossibleBudgets) {
  EXPECT_THROW(allocate_bits({{10, 1.0}}, 1.5, AllocationOrder::Uniform), InvalidArgument);
  EXPECT_THROW(allocate_bits({{10, 1.0}}, 9.0, AllocationOrder::Uniform), InvalidArgument);
  EXPECT_THROW(parse_allocation_order("alpha-sideways"), InvalidArgument);
  EXPECT_EQ(allocate_bits({{10, 1.0}}, 8.0, AllocationOrder::Uniform), std::vector<int>{8});
}

}  // namespace
}  // namespace tessera
