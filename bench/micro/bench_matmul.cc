// Matmul micro-benchmarks: GEMV (n_tokens = 1, the decode shape), GEMM8
// (n_tokens = 8, a serving step decoding 8 sequences together) and GEMM
// (n_tokens = 64, the prefill shape) at 2048 x 2048 for each weight type and
// each instruction-set level this CPU runs. bytes_per_second is the weight
// bytes read per second, so the GEMV numbers compare directly with the
// machine's memory bandwidth (decode is bandwidth-bound when they reach it).
// ".../packed" runs the 16-row packed kernels (kernels/packed.h) the model
// uses on AVX2 and AVX-512 CPUs (at the CPU's level); ".../packed-row" the
// row-scaled ones (one scale per weight row and per token, Q4_0 / Q8_0; the
// matrix's blocks then carry their row's scale); ".../avx512" etc. the row
// kernels of that level.
//
//   build/tessera_micro_bench --benchmark_filter='Gemv/Q4_K'
//   TESSERA_BENCH_THREADS=2 build/tessera_micro_bench
#include <benchmark/benchmark.h>

#include <cstdlib>
#include <cstring>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "../../tests/unit/kernels/test_weights.h"
#include "kernels/cpu_features.h"
#include "kernels/matmul.h"
#include "kernels/packed.h"

namespace tessera {
namespace {

constexpr int64_t kRows = 2048;
constexpr int64_t kCols = 2048;
// "...Dram": a matrix well beyond the last-level cache (32768 x 2048, 37 to
// 71 MB for the 4- and 8-bit types), so the weights stream from memory as in
// a real decode step (Gemm8Dram: a serving step decoding 8 sequences).
constexpr int64_t kDramRows = 32768;

int bench_threads() {
  const char* v = std::getenv("TESSERA_BENCH_THREADS");
  return v != nullptr ? std::max(1, std::atoi(v)) : 1;
}

struct Fixture {
  std::vector<uint8_t> weights;
  WeightMatrix w;
  std::vector<float> x, y;
  PackedMatrix packed;
};

enum class Kernels { kRow, kPacked, kPackedRowScaled };

void run_matmul(benchmark::State& state, GgmlType type, IsaLevel isa, int64_t n_tokens, int64_t rows,
                Kernels kernels) {
  std::mt19937 rng(1);
  Fixture f;
  f.weights = testing::random_weights(type, rows, kCols, rng);
  const int64_t stride = row_bytes(type, kCols);
  if (kernels == Kernels::kPackedRowScaled) {
    // Every block takes its row's first scale (Q4_0 / Q8_0 blocks start with it).
    const int64_t block = type_traits(type).block_bytes;
    for (int64_t r = 0; r < rows; ++r) {
      uint8_t* row = f.weights.data() + r * stride;
      for (int64_t b = 1; b < kCols / 32; ++b) std::memcpy(row + b * block, row, 2);
    }
  }
  f.w = WeightMatrix{type, rows, kCols, f.weights.data(), stride};
  std::normal_distribution<float> normal(0.0f, 1.0f);
  f.x.resize(static_cast<size_t>(n_tokens * kCols));
  for (auto& v : f.x) v = normal(rng);
  f.y.resize(static_cast<size_t>(n_tokens * rows));
  ThreadPool pool(bench_threads());
  const bool packed = kernels != Kernels::kRow;
  if (packed) {
    f.w.packed_kernel = kernels == Kernels::kPacked ? find_packed_kernel(type) : find_row_scaled_kernel(type, isa);
    f.packed = pack_matrix(*f.w.packed_kernel, f.w, pool);
    f.w.packed = f.packed.data.get();
  }
  for (auto _ : state) {
    matmul(f.w, f.x.data(), n_tokens, f.y.data(), pool, isa);
    benchmark::DoNotOptimize(f.y.data());
    benchmark::ClobberMemory();
  }
  state.SetBytesProcessed(state.iterations() * static_cast<int64_t>(f.weights.size()));
  state.counters["tokens/s"] =
      benchmark::Counter(static_cast<double>(n_tokens), benchmark::Counter::kIsIterationInvariantRate);
  const char* name = kernels == Kernels::kPacked ? "packed" : kernels == Kernels::kPackedRowScaled ? "packed-row" : isa_level_name(isa);
  state.SetLabel(std::string(name) + ", " + std::to_string(pool.size()) + " thread(s)");
}

const int kRegistered = [] {
  const GgmlType types[] = {GgmlType::Q4_0, GgmlType::Q4_1, GgmlType::Q5_0, GgmlType::Q5_1, GgmlType::Q8_0,
                            GgmlType::Q2_K, GgmlType::Q3_K, GgmlType::Q4_K, GgmlType::Q5_K, GgmlType::Q6_K,
                            GgmlType::F16,  GgmlType::BF16, GgmlType::F32};
  struct Shape {
    const char* name;
    int64_t n_tokens;
    int64_t rows;
  };
  for (const Shape& shape : {Shape{"Gemv", 1, kRows}, Shape{"Gemm8", 8, kRows}, Shape{"Gemm64", 64, kRows},
                             Shape{"GemvDram", 1, kDramRows}, Shape{"Gemm8Dram", 8, kDramRows}}) {
    const int64_t n_tokens = shape.n_tokens;
    const int64_t rows = shape.rows;
    for (GgmlType t : types) {
      if (rows == kDramRows && t != GgmlType::Q8_0 && t != GgmlType::Q4_K && t != GgmlType::Q6_K &&
          t != GgmlType::Q5_0 && t != GgmlType::Q4_0) {
        continue;
      }
      for (IsaLevel isa : {IsaLevel::kScalar, IsaLevel::kAvx2, IsaLevel::kAvx512}) {
        if (isa > cpu_features().level) continue;
        // Scalar GEMMs take seconds per iteration and tell nothing new.
        if (isa == IsaLevel::kScalar && (n_tokens > 1 || rows > kRows)) continue;
        const std::string name = std::string(shape.name) + "/" + type_name(t) + "/" + isa_level_name(isa);
        benchmark::RegisterBenchmark(name.c_str(),
                                     [=](benchmark::State& s) { run_matmul(s, t, isa, n_tokens, rows, Kernels::kRow); })
            ->Unit(benchmark::kMicrosecond)
            ->UseRealTime();
      }
      if (find_packed_kernel(t) != nullptr) {
        const std::string name = std::string(shape.name) + "/" + type_name(t) + "/packed";
        benchmark::RegisterBenchmark(name.c_str(), [=](benchmark::State& s) {
          run_matmul(s, t, cpu_features().level, n_tokens, rows, Kernels::kPacked);
        })->Unit(benchmark::kMicrosecond)->UseRealTime();
      }
      if (find_row_scaled_kernel(t, cpu_features().level) != nullptr) {
        const std::string name = std::string(shape.name) + "/" + type_name(t) + "/packed-row";
        benchmark::RegisterBenchmark(name.c_str(), [=](benchmark::State& s) {
          run_matmul(s, t, cpu_features().level, n_tokens, rows, Kernels::kPackedRowScaled);
        })->Unit(benchmark::kMicrosecond)->UseRealTime();
      }
    }
  }
  return 0;
}();

}  // namespace
}  // namespace tessera
