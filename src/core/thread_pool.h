// Persistent worker pool for data-parallel kernels. The calling thread takes
// part as a worker, so a pool of n threads starts n-1 extra threads.
//
// A job is a set of numbered tasks that participants claim one at a time from
// a shared counter, so a worker that is descheduled (a loaded machine, more
// threads than free cores) delays nothing: whoever is running takes the
// remaining tasks, the caller included. Calls return after every task has run.
// They do not allocate, so they may be called from the decode loop.
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

namespace tessera {

class ThreadPool {
 public:
  explicit ThreadPool(int n_threads);
  ~ThreadPool();
  ThreadPool(const ThreadPool&) = delete;
  ThreadPool& operator=(const ThreadPool&) = delete;

  int size() const { return n_threads_; }

  // Runs fn(index, n_threads) once for every index in [0, n_threads) and
  // waits for all of them. Indices run concurrently on different threads when
  // those are free; each index runs exactly once, but not necessarily on the
  // OS thread of the same number (so index-keyed scratch is safe,
  // thread_local state keyed by index is not). fn decides its own share.
  void run(const std::function<void(int, int)>& fn);

  // Splits [0, n) into contiguous chunks whose bounds are multiples of
  // `grain` (except the end) and runs fn(begin, end) on each, in parallel.
  //
  // Chunks come from one contiguous part per thread: each participant works
  // through its part from the front, a few chunks in a row (a decode matmul's
  // rows then stay one memory stream per thread), and one that runs out takes
  // the back half of what another part has left, which the others may split
  // again. So threads finish together even when one runs slower or starts
  // late, without cutting every job into many short streams.
  void parallel_for(int64_t n, int64_t grain, const std::function<void(int64_t, int64_t)>& fn);

 private:
  using TaskFn = void (*)(const void* context, int task);

  // Publishes a job of n_tasks tasks, takes part in it and waits for the end.
  void execute(TaskFn fn, const void* context, int n_tasks);
  // Claims and runs tasks of job `generation` until none are left.
  void work_on(uint32_t generation);
  void worker_loop();

  int n_threads_;
  std::vector<std::thread> workers_;

  // The current job; written by the caller only while no task is claimable.
  TaskFn task_fn_ = nullptr;
  const void* task_context_ = nullptr;
  // High 32 bits: job generation; low 32 bits: its task count. One word, so a
  // worker never pairs a job's tickets with another job's task count (a
  // separate count let a late worker claim index N of a finished N-task job
  // once the next, larger job had stored its count: a task ran twice and the
  // next job's completion count overshot, hanging its caller).
  std::atomic<uint64_t> job_{0};
  // High 32 bits: job generation; low 32 bits: next unclaimed task. Claiming
  // is a compare-and-swap on both, so a worker that wakes late cannot claim a
  // task of a job that has moved on.
  std::atomic<uint64_t> ticket_{0};
  std::atomic<int> tasks_done_{0};

  // Idle workers spin briefly, then sleep here.
  std::mutex mutex_;
  std::condition_variable wake_;
  std::atomic<int> sleepers_{0};
  std::atomic<bool> stop_{false};

  // parallel_for's parts, one per thread: the unclaimed grains [front, back)
  // of part i as front | back << 32. The part's participant claims at the
  // front, others at the back, each by compare-and-swap of the whole word, so
  // no grain is claimed twice. A cache line each: they are written often.
  struct alignas(64) Part {
    std::atomic<uint64_t> span{0};
  };
  std::unique_ptr<Part[]> parts_;
};

// Default thread count: the number of cores this process may run on.
int default_thread_count();

}  // namespace tessera
