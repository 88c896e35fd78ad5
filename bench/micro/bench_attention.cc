// Attention micro-benchmarks: one decode step (a single query token at the
// end of the context) over a 512- and a 4096-token KV cache, in the shapes of
// the 1.1B Llama-shaped model (32 heads, 4 KV heads, head dim 64) and Gemma 3
// 270M (4 heads, 1 KV head, head dim 256); and a 512-token prefill (every
// token attends to its causal prefix). bytes_per_second counts the K and V
// cache bytes read, comparable with the matmul benchmarks' weight bytes.
//
//   build/tessera_micro_bench --benchmark_filter=Attention
//   TESSERA_BENCH_THREADS=2 build/tessera_micro_bench --benchmark_filter=Attention
#include <benchmark/benchmark.h>

#include <cmath>
#include <cstdlib>
#include <random>
#include <string>
#include <vector>

#include "kernels/ops.h"
#include "model/attention.h"

namespace tessera {
namespace {

struct Shape {
  const char* name;
  int n_head, n_head_kv, head_dim;
};

int bench_threads() {
  const char* v = std::getenv("TESSERA_BENCH_THREADS");
  return v != nullptr ? std::max(1, std::atoi(v)) : 1;
}

void run_attention(benchmark::State& state, Shape s, int64_t context, bool prefill) {
  KvCacheConfig c;
  c.n_layers = 1;
  c.n_kv_heads = s.n_head_kv;
  c.head_dim_k = s.head_dim;
  c.head_dim_v = s.head_dim;
  c.block_tokens = 32;
  c.n_blocks = (context + c.block_tokens - 1) / c.block_tokens;
  KvCache kv(c);
  kv.reserve(0, context);
  std::mt19937 rng(1);
  std::normal_distribution<float> normal(0.0f, 1.0f);
  std::vector<float> row(static_cast<size_t>(s.n_head_kv * s.head_dim));
  for (int64_t p = 0; p < context; ++p) {
    for (auto& v : row) v = normal(rng);
    f32_to_f16(row.data(), kv.k(0, 0, p), static_cast<int64_t>(row.size()));
    for (auto& v : row) v = normal(rng);
    f32_to_f16(row.data(), kv.v(0, 0, p), static_cast<int64_t>(row.size()));
  }
  Batch batch;
  if (prefill) {
    for (int64_t p = 0; p < context; ++p) batch.add(0, static_cast<int32_t>(p), 0, false);
  } else {
    batch.add(0, static_cast<int32_t>(context - 1), 0, true);
  }
  const int64_t n = batch.size();
  std::vector<float> q(static_cast<size_t>(n * s.n_head * s.head_dim));
  for (auto& v : q) v = normal(rng);
  std::vector<float> out(q.size()), scratch;
  AttentionShape shape;
  shape.n_head = s.n_head;
  shape.n_head_kv = s.n_head_kv;
  shape.head_dim_k = s.head_dim;
  shape.head_dim_v = s.head_dim;
  shape.scale = 1.0f / std::sqrt(static_cast<float>(s.head_dim));
  ThreadPool pool(bench_threads());
  for (auto _ : state) {
    attention(shape, batch, q.data(), kv, out.data(), pool, scratch);
    benchmark::DoNotOptimize(out.data());
  }
  // K and V rows read: each query token reads its prefix once per head.
  int64_t positions_read = 0;
  for (int64_t t = 0; t < n; ++t) positions_read += batch.positions[t] + 1;
  const int64_t bytes = positions_read * s.n_head * 2 * s.head_dim * 2;
  state.SetBytesProcessed(state.iterations() * bytes);
  state.SetLabel(std::to_string(pool.size()) + " thread(s)");
}

const int kRegistered = [] {
  const Shape shapes[] = {{"llama1b", 32, 4, 64}, {"gemma270m", 4, 1, 256}};
  for (const Shape& s : shapes) {
    for (int64_t context : {512, 4096}) {
      const std::string name = std::string("AttentionDecode/") + s.name + "/" + std::to_string(context);
      benchmark::RegisterBenchmark(name.c_str(), [=](benchmark::State& st) { run_attention(st, s, context, false); })
          ->Unit(benchmark::kMicrosecond)
          ->UseRealTime();
    }
    const std::string name = std::string("AttentionPrefill/") + s.name + "/512";
    benchmark::RegisterBenchmark(name.c_str(), [=](benchmark::State& st) { run_attention(st, s, 512, true); })
        ->Unit(benchmark::kMillisecond)
        ->UseRealTime();
  }
  return 0;
}();

}  // namespace
}  // namespace tessera
