// How fast one thread runs a packed kernel over weights that stream from
// memory and over the same kernel's weights when they sit in cache, by the
// number of tokens sharing each weight (docs/performance.md, "Why batched
// decode steps stay far from their compute rate"). The packed groups are
// called directly (no activation preparation, no pool), alternating the two
// sizes, median of five.
//
//   g++ -O2 -std=c++20 -mavx2 -mfma -mf16c -mbmi2 -Isrc -Itests/unit bench/probes/kernel_stream.cc \
//       build/libtessera_kernels.a build/libtessera_quant.a build/libtessera_gguf.a build/libtessera_core.a \
//       -lfmt -lpthread -o /tmp/kernel_stream && /tmp/kernel_stream q4_k|q4_0|q6_k|q3_k [TOKENS,...]
//
// TOKENS: the token counts to time (default 1,2,4,8; 64 or 128 time the
// prefill tiles, from cache).
#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <cstdio>
#include <random>
#include <sstream>
#include <string>
#include <vector>

#include "kernels/matmul.h"
#include "kernels/packed.h"
#include "kernels/test_weights.h"

int main(int argc, char** argv) {
  using namespace tessera;
  const std::string name = argc > 1 ? argv[1] : "q4_k";
  const GgmlType type = name == "q4_0"   ? GgmlType::Q4_0
                        : name == "q6_k" ? GgmlType::Q6_K
                        : name == "q3_k" ? GgmlType::Q3_K
                                         : GgmlType::Q4_K;
  const int64_t cols = 2048;
  const int64_t memory_groups = 16384;  // 262144 rows: 300+ MB, beyond what the caches keep
  const int64_t cache_groups = 64;      // 1024 rows: 1.2-1.7 MB, in L2
  std::mt19937 rng(1);
  std::vector<uint8_t> weights = testing::random_weights(type, 16 * memory_groups, cols, rng);
  ThreadPool pool(1);
  WeightMatrix w{type, 16 * memory_groups, cols, weights.data(), row_bytes(type, cols)};
  const PackedKernel* k = find_packed_kernel(type);
  if (k == nullptr) {
    std::fprintf(stderr, "%s is not packed on this CPU\n", name.c_str());
    return 1;
  }
  const PackedMatrix packed = pack_matrix(*k, w, pool);
  weights = {};
  const int64_t xp_row = k->prepared_row_bytes(cols), group_bytes = k->group_bytes(cols);
  std::printf("%s, %ld columns, one thread; GB/s of weights (GMAC/s)\n", name.c_str(), static_cast<long>(cols));
  std::vector<int> token_counts;
  std::istringstream list(argc > 2 ? argv[2] : "1,2,4,8");
  for (std::string item; std::getline(list, item, ',');) token_counts.push_back(std::max(1, std::atoi(item.c_str())));
  for (int n_tokens : token_counts) {
    const std::vector<float> x = testing::random_floats(n_tokens * cols, rng);
    std::vector<uint8_t> xp(static_cast<size_t>(xp_row * n_tokens));
    for (int t = 0; t < n_tokens; ++t) k->prepare(x.data() + t * cols, xp.data() + t * xp_row, cols);
    std::vector<float> y(static_cast<size_t>(16 * n_tokens));
    std::vector<double> memory, cache;
    for (int round = 0; round < 5; ++round) {
      for (const bool from_memory : {true, false}) {
        const int64_t n_groups = from_memory ? memory_groups : cache_groups;
        const int passes = from_memory ? 1 : static_cast<int>(memory_groups / cache_groups);
        const auto t0 = std::chrono::steady_clock::now();
        for (int p = 0; p < passes; ++p) {
          for (int64_t g = 0; g < n_groups; ++g) {
            k->gemm(packed.data.get() + g * group_bytes, cols, xp.data(), xp_row, n_tokens, y.data(), 16, 16);
          }
        }
        const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
        (from_memory ? memory : cache).push_back(static_cast<double>(group_bytes * n_groups * passes) / s / 1e9);
      }
    }
    std::sort(memory.begin(), memory.end());
    std::sort(cache.begin(), cache.end());
    const double macs_per_byte = 16.0 * cols * n_tokens / static_cast<double>(group_bytes);
    std::printf("%d token(s): from memory %5.1f (%5.1f), from cache %5.1f (%5.1f)\n", n_tokens, memory[2],
                memory[2] * macs_per_byte, cache[2], cache[2] * macs_per_byte);
  }
}
