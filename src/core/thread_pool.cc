#include "core/thread_pool.h"

#include <sched.h>

#include <algorithm>

namespace tessera {

int default_thread_count() {
  cpu_set_t set;
  if (sched_getaffinity(0, sizeof(set), &set) == 0) return std::max(1, CPU_COUNT(&set));
  return std::max(1u, std::thread::hardware_concurrency());
}

ThreadPool::ThreadPool(int n_threads) : n_threads_(std::max(1, n_threads)) {
  for (int i = 1; i < n_threads_; ++i) workers_.emplace_back([this, i] { worker_loop(i); });
}

ThreadPool::~ThreadPool() {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    stop_ = true;
  }
  wake_.notify_all();
  for (auto& t : workers_) t.join();
}

void ThreadPool::worker_loop(int index) {
  uint64_t seen = 0;
  for (;;) {
    const std::function<void(int, int)>* job;
    {
      std::unique_lock<std::mutex> lock(mutex_);
      // Spin briefly before sleeping: kernels are issued back to back in the
      // forward pass, so the next job usually arrives within microseconds.
      lock.unlock();
      for (int spin = 0; spin < 20000; ++spin) {
        if (__atomic_load_n(&generation_, __ATOMIC_ACQUIRE) != seen) break;
        __builtin_ia32_pause();
      }
      lock.lock();
      wake_.wait(lock, [&] { return stop_ || generation_ != seen; });
      if (stop_) return;
      seen = generation_;
      job = job_;
    }
    (*job)(index, n_threads_);
    pending_.fetch_sub(1, std::memory_order_acq_rel);
  }
}

void ThreadPool::run(const std::function<void(int, int)>& fn) {
  if (n_threads_ == 1) {
    fn(0, 1);
    return;
  }
  pending_.store(n_threads_ - 1, std::memory_order_release);
  {
    std::lock_guard<std::mutex> lock(mutex_);
    job_ = &fn;
    __atomic_store_n(&generation_, generation_ + 1, __ATOMIC_RELEASE);
  }
  wake_.notify_all();
  fn(0, n_threads_);
  while (pending_.load(std::memory_order_acquire) != 0) __builtin_ia32_pause();
}

void ThreadPool::parallel_for(int64_t n, int64_t grain,
                              const std::function<void(int64_t, int64_t)>& fn) {
  if (n <= 0) return;
  grain = std::max<int64_t>(1, grain);
  const int64_t n_chunks = (n + grain - 1) / grain;
  const int threads = static_cast<int>(std::min<int64_t>(n_threads_, n_chunks));
  if (threads <= 1) {
    fn(0, n);
    return;
  }
  run([&](int t, int) {
    if (t >= threads) return;
    const int64_t chunk_begin = n_chunks * t / threads;
    const int64_t chunk_end = n_chunks * (t + 1) / threads;
    const int64_t begin = chunk_begin * grain;
    const int64_t end = std::min(n, chunk_end * grain);
    if (begin < end) fn(begin, end);
  });
}

}  // namespace tessera
