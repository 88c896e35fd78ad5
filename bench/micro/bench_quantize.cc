// Activation quantizers: run once per matmul over every token's row, so at
// decode they are a fixed cost on top of the weight streaming.
#include <benchmark/benchmark.h>

#include <random>
#include <vector>

#include "quant/quantize.h"

namespace tessera {
namespace {

template <void (*Quantize)(const float*, uint8_t*, int64_t)>
void BM_Quantize(benchmark::State& state) {
  const int64_t n = 2048;
  std::mt19937 rng(1);
  std::normal_distribution<float> normal(0.0f, 1.0f);
  std::vector<float> x(n);
  for (auto& v : x) v = normal(rng);
  std::vector<uint8_t> out(n * 4);
  for (auto _ : state) {
    Quantize(x.data(), out.data(), n);
    benchmark::DoNotOptimize(out.data());
  }
  state.SetItemsProcessed(state.iterations() * n);
}
BENCHMARK(BM_Quantize<quantize_row_q8_0>)->Name("Quantize/Q8_0");
BENCHMARK(BM_Quantize<quantize_row_q8_1>)->Name("Quantize/Q8_1");
BENCHMARK(BM_Quantize<quantize_row_q8_k>)->Name("Quantize/Q8_K");
BENCHMARK(BM_Quantize<quantize_row_f16>)->Name("Quantize/F16");
BENCHMARK(BM_Quantize<quantize_row_bf16>)->Name("Quantize/BF16");

}  // namespace
}  // namespace tessera
