// How close a decode's matmuls come to the read bandwidth when the machine's
// bandwidth moves under them (docs/performance.md, twelfth session): two
// threads run one token through a 1.1B-shaped sequence of packed matrices (22
// layers of q+k+v 2560x2048, o 2048x2048, gate+up 11264x2048, down 2048x5632;
// 545-560 MB, far beyond the caches), and read_spans reads the same bytes
// right before and after each pass; the ratio is the pass's GB/s over the
// better adjacent read, median of nine. It leaves out what a real decode step
// adds between the matmuls (norms, RoPE, attention), so it isolates the
// kernels, the activation preparation and the pool.
//
// clang-format off
//   g++ -O2 -std=c++20 -mavx2 -mfma -mf16c -mbmi2 -Isrc -Itests/unit bench/probes/matmul_sequence.cc \
//       build/libtessera_eval.a build/libtessera_kernels.a build/libtessera_quant.a build/libtessera_gguf.a \
//       build/libtessera_core.a -lfmt -lpthread -o /tmp/matmul_sequence && /tmp/matmul_sequence q4_0|q4_k
// clang-format on
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <random>
#include <string>
#include <vector>

#include "eval/roofline.h"
#include "kernels/matmul.h"
#include "kernels/packed.h"
#include "kernels/test_weights.h"
using namespace tessera;
int main(int argc, char** argv) {
  const std::string name = argc > 1 ? argv[1] : "q4_0";
  const GgmlType type = name == "q4_0" ? GgmlType::Q4_0 : GgmlType::Q4_K;
  ThreadPool pool(2);
  std::mt19937 rng(1);
  struct Shape {
    int64_t rows, cols;
  };
  const Shape shapes[] = {{2560, 2048}, {2048, 2048}, {11264, 2048}, {2048, 5632}};
  std::vector<WeightMatrix> ws;
  std::vector<PackedMatrix> owners;
  for (int l = 0; l < 22; ++l)
    for (const Shape& s : shapes) {
      std::vector<uint8_t> raw = testing::random_weights(type, s.rows, s.cols, rng);
      WeightMatrix w{type, s.rows, s.cols, raw.data(), row_bytes(type, s.cols)};
      const PackedKernel* k = find_packed_kernel(type);
      owners.push_back(pack_matrix(*k, w, pool));
      w.packed = owners.back().data.get();
      w.packed_kernel = k;
      w.data = nullptr;
      ws.push_back(w);
    }
  std::vector<std::span<const uint8_t>> spans;
  double total = 0;
  for (auto& w : ws) {
    spans.push_back(matrix_read_span(w));
    total += spans.back().size();
  }
  std::vector<float> x = testing::random_floats(11264, rng), y(11264);
  std::vector<double> mm, rd;
  for (int round = 0; round < 9; ++round) {
    rd.push_back(read_spans(spans, pool).gbps());
    const auto t0 = std::chrono::steady_clock::now();
    for (int rep = 0; rep < 3; ++rep)
      for (auto& w : ws) matmul(w, x.data(), 1, y.data(), pool);
    const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    mm.push_back(total * 3 / s / 1e9);
    rd.push_back(read_spans(spans, pool).gbps());
  }
  std::vector<double> ratio;
  for (size_t i = 0; i < mm.size(); ++i)
    ratio.push_back(mm[i] / std::max(rd[2 * i], rd[2 * i + 1]));
  std::sort(ratio.begin(), ratio.end());
  std::printf(
      "%s sequence (%.0f MB): ratio to adjacent best read: median %.3f (min %.3f max %.3f); last "
      "matmul %.1f read %.1f\n",
      name.c_str(), total / 1e6, ratio[4], ratio[0], ratio[8], mm.back(), rd.back());
}
