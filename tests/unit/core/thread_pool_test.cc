#include "core/thread_pool.h"

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <thread>
#include <vector>

namespace tessera {
namespace {

TEST(ThreadPool, ParallelForCoversEveryIndexOnceWithGrainAlignedChunks) {
  for (int threads : {1, 2, 3, 8}) {
    ThreadPool pool(threads);
    for (int64_t n : {1, 5, 64, 1000, 4099}) {
      for (int64_t grain : {1, 4, 7}) {
        std::vector<std::atomic<int>> hits(static_cast<size_t>(n));
        pool.parallel_for(n, grain, [&](int64_t b, int64_t e) {
          EXPECT_EQ(b % grain, 0);
          EXPECT_TRUE(e == n || e % grain == 0);
          for (int64_t i = b; i < e; ++i) hits[i].fetch_add(1);
        });
        for (int64_t i = 0; i < n; ++i) ASSERT_EQ(hits[i].load(), 1) << threads << " " << n << " " << grain;
      }
    }
  }
}

// A participant stalled inside one chunk (a descheduled thread) holds only
// that chunk: the others take the rest of its part. (With whole tasks per
// thread the stalled one would keep a quarter of the range to itself and this
// test would time out.)
TEST(ThreadPool, ParallelForLetsOthersTakeAStalledParticipantsRest) {
  for (int threads : {2, 3}) {
    ThreadPool pool(threads);
    const int64_t n = 4096;
    std::atomic<int64_t> done{0};
    std::atomic<bool> timed_out{false};
    pool.parallel_for(n, 1, [&](int64_t b, int64_t e) {
      if (b <= n / 2 && n / 2 < e) {
        // The chunk at the start of the second part waits for everything else.
        const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
        while (done.load() != n - (e - b)) {
          if (std::chrono::steady_clock::now() > deadline) {
            timed_out = true;
            break;
          }
          std::this_thread::yield();
        }
        EXPECT_LT(e - b, n / 8) << "a chunk of a part is a small share of it";
      }
      done.fetch_add(e - b);
    });
    EXPECT_FALSE(timed_out.load()) << threads << " threads: the rest of the stalled part was not taken";
    EXPECT_EQ(done.load(), n);
  }
}

TEST(ThreadPool, RunCallsEveryIndexExactlyOnce) {
  ThreadPool pool(4);
  for (int rep = 0; rep < 200; ++rep) {
    std::vector<std::atomic<int>> hits(4);
    pool.run([&](int index, int n) {
      EXPECT_EQ(n, 4);
      hits[index].fetch_add(1);
    });
    for (auto& h : hits) ASSERT_EQ(h.load(), 1);
  }
}

// More threads than cores, with workers that sleep between jobs: jobs still
// complete, back to back, without losing or repeating work.
TEST(ThreadPool, ManyShortJobsWithSleepingWorkers) {
  ThreadPool pool(6);
  std::atomic<int64_t> total{0};
  for (int job = 0; job < 2000; ++job) {
    if (job % 500 == 0) std::this_thread::sleep_for(std::chrono::milliseconds(20));  // workers go to sleep
    pool.parallel_for(100, 1, [&](int64_t b, int64_t e) { total.fetch_add(e - b); });
  }
  EXPECT_EQ(total.load(), 2000 * 100);
}

TEST(ThreadPool, DestroysCleanlyWhileIdle) {
  for (int i = 0; i < 20; ++i) {
    ThreadPool pool(3);
    pool.run([](int, int) {});
  }
}

}  // namespace
}  // namespace tessera

namespace tessera {
namespace {

// Consecutive jobs of different task counts (as a serving engine's batches
// vary): a worker finishing job g must never claim an index of g that only
// exists in job g+1's task count, which would run a task twice or miscount
// the next job's completions (hanging its caller).
TEST(ThreadPool, JobsOfChangingSizesRunEachTaskOnce) {
  for (int threads : {2, 3}) {
    ThreadPool pool(threads);
    for (int job = 0; job < 50000; ++job) {
      const int64_t n = (job % 2 == 0) ? 2 : 4 * threads;  // grain 1: n tasks
      std::atomic<int> hits[16] = {};
      pool.parallel_for(n, 1, [&](int64_t b, int64_t e) {
        for (int64_t i = b; i < e; ++i) hits[i].fetch_add(1, std::memory_order_relaxed);
      });
      for (int64_t i = 0; i < n; ++i) ASSERT_EQ(hits[i].load(), 1) << "job " << job << " index " << i;
    }
  }
}

}  // namespace
}  // namespace tessera
