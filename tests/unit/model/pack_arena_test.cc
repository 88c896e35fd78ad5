// pack_weights places every packed matrix of a model in one arena (so huge
// pages cover the small matrices too): the copies must be exactly what
// pack_matrix makes of each matrix alone, at disjoint, aligned places.
#include <gtest/gtest.h>

#include <algorithm>
#include <cstring>
#include <utility>
#include <vector>

#include "gguf/gguf_file.h"
#include "kernels/packed.h"
#include "model/hparams_loader.h"
#include "model/weights.h"
#include "tiny_llama.h"

namespace tessera {
namespace {

TEST(PackArena, EveryPackedMatrixLiesInOneArenaAsPackMatrixWouldPackIt) {
  if (!repack_enabled()) GTEST_SKIP() << "no packed kernels on this CPU (or TESSERA_REPACK=0)";
  ThreadPool pool(2);
  for (GgmlType type : {GgmlType::Q8_0, GgmlType::Q4_K}) {
    const GgufFile file(tiny::write_tiny_llama("llama", 128, type));
    const HParams hp = read_hparams(file);
    ModelWeights w = bind_weights(file, hp);
    std::vector<PackedMatrix> owners = pack_weights(w, pool);
    ASSERT_EQ(owners.size(), 1u) << type_name(type);
    const uint8_t* arena = owners[0].data.get();
    const int64_t arena_bytes = owners[0].bytes;

    std::vector<const WeightMatrix*> packed;
    for (const LayerWeights& l : w.layers) {
      for (const WeightMatrix* m : {&l.wq, &l.wk, &l.wv, &l.wo, &l.w_gate, &l.w_up, &l.w_down}) packed.push_back(m);
    }
    if (w.output.packed != nullptr) packed.push_back(&w.output);
    std::vector<std::pair<int64_t, int64_t>> ranges;
    int64_t total = 0;
    for (const WeightMatrix* m : packed) {
      ASSERT_NE(m->packed, nullptr) << type_name(type);
      const int64_t offset = m->packed - arena, bytes = packed_matrix_bytes(*m->packed_kernel, *m);
      EXPECT_EQ(offset % 64, 0) << type_name(type);
      ASSERT_GE(offset, 0);
      ASSERT_LE(offset + bytes, arena_bytes);
      ranges.emplace_back(offset, offset + bytes);
      total += bytes;
      // The file's pages were released after packing; reading them again
      // faults them back in from the file, unchanged.
      const PackedMatrix alone = pack_matrix(*m->packed_kernel, *m, pool);
      ASSERT_EQ(alone.bytes, bytes);
      EXPECT_EQ(std::memcmp(alone.data.get(), m->packed, static_cast<size_t>(bytes)), 0) << type_name(type);
    }
    EXPECT_EQ(total, arena_bytes) << type_name(type);
    std::sort(ranges.begin(), ranges.end());
    for (size_t i = 1; i < ranges.size(); ++i) EXPECT_LE(ranges[i - 1].second, ranges[i].first);
  }
}

}  // namespace
}  // namespace tessera
