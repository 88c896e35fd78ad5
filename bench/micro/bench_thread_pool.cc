// Fork-join cost of the thread pool: a parallel_for with no work, as issued
// once per matmul (hundreds of times per decoded token).
#include <benchmark/benchmark.h>

#include <atomic>

#include "core/thread_pool.h"

namespace tessera {
namespace {

void BM_ParallelForEmpty(benchmark::State& state) {
  ThreadPool pool(static_cast<int>(state.range(0)));
  std::atomic<int64_t> sink{0};
  for (auto _ : state) {
    pool.parallel_for(1024, 4, [&](int64_t b, int64_t e) { sink.fetch_add(e - b, std::memory_order_relaxed); });
  }
  benchmark::DoNotOptimize(sink.load());
}
BENCHMARK(BM_ParallelForEmpty)->Arg(1)->Arg(2)->UseRealTime()->Unit(benchmark::kMicrosecond);

}  // namespace
}  // namespace tessera
