// What preparing a packed matmul's activations costs: one 2048-wide token
// through each packed kernel's `prepare` (docs/performance.md, "Activation
// quantizers in AVX2"), and 8 tokens split over a 2-thread pool as matmul()
// does for a serving step. Median of five rounds of 20 000 calls.
//
//   g++ -O2 -std=c++20 -mavx2 -mfma -mf16c -mbmi2 -Isrc -Itests/unit bench/probes/prepare_rows.cc \
//       build/libtessera_kernels.a build/libtessera_quant.a build/libtessera_gguf.a build/libtessera_core.a \
//       -lfmt -lpthread -o /tmp/prepare_rows && /tmp/prepare_rows
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <random>
#include <vector>

#include "core/thread_pool.h"
#include "gguf/ggml_type.h"
#include "kernels/packed.h"
#include "kernels/test_weights.h"

namespace {

template <typename Fn>
double median_us(int calls, const Fn& fn) {
  std::vector<double> us;
  for (int round = 0; round < 5; ++round) {
    const auto t0 = std::chrono::steady_clock::now();
    for (int i = 0; i < calls; ++i) fn();
    us.push_back(std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count() / calls * 1e6);
  }
  std::sort(us.begin(), us.end());
  return us[2];
}

}  // namespace

int main() {
  using namespace tessera;
  const int64_t cols = 2048;
  std::mt19937 rng(1);
  const std::vector<float> x = testing::random_floats(8 * cols, rng);
  ThreadPool pool(2);
  for (GgmlType type : {GgmlType::Q4_K, GgmlType::Q4_0, GgmlType::Q4_1, GgmlType::F16, GgmlType::BF16}) {
    const PackedKernel* k = find_packed_kernel(type);
    if (k == nullptr) continue;
    const int64_t row = k->prepared_row_bytes(cols);
    std::vector<uint8_t> xp(static_cast<size_t>(8 * row));
    const double one = median_us(20000, [&] { k->prepare(x.data(), xp.data(), cols); });
    const double eight = median_us(20000, [&] {
      pool.parallel_for(8, 1, [&](int64_t b, int64_t e) {
        for (int64_t t = b; t < e; ++t) k->prepare(x.data() + t * cols, xp.data() + t * row, cols);
      });
    });
    std::printf("%-5s prepare: 1 token %.2f us, 8 tokens on 2 threads %.2f us\n", type_name(type), one, eight);
  }
}
