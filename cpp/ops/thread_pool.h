// A small fixed-size thread pool for litegen's custom kernels.
//
// LiteRT runs custom ops on the calling thread only (XNNPack's threads are not
// available to them), so heavy kernels (SDPA) bring their own parallelism.
//
//  * `ThreadPool(n)` runs work on n threads: the caller plus n - 1 workers started once.
//  * `ParallelFor(n, fn)` calls fn(i, thread) for every i in [0, n) with static chunking:
//    thread t gets the contiguous range [t * n / T, (t + 1) * n / T) where T = num_threads;
//    the caller is thread 0 and takes part (a single item runs on the caller). It returns
//    when every call has finished.
//    `thread` is in [0, num_threads()), so callers can keep per-thread scratch.
//  * No allocation per call: fn is passed by reference through a function pointer.
//  * Idle workers spin briefly (200 us, with pause instructions) for the next job, which
//    bridges the small XNNPack ops between two of our kernels, and then block on a
//    condition variable, so they do not keep the cores XNNPack's threads need for long.
//  * `HintNextJob(data, bytes)`: idle workers prefetch the start of their share of the
//    region the next job will stream (decode's next matmul), using memory bandwidth that
//    the workers would otherwise leave idle while the caller runs small ops.
//  * Calls from several threads are serialized (a mutex); calling ParallelFor from inside
//    fn deadlocks and is not allowed. fn must not throw.
//  * In a child process forked after the pool started (the workers do not survive a
//    fork), ParallelFor runs everything on the caller instead of waiting for them.
#ifndef LITEGEN_CPP_OPS_THREAD_POOL_H_
#define LITEGEN_CPP_OPS_THREAD_POOL_H_

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <mutex>
#include <thread>
#include <type_traits>
#include <vector>

namespace litegen::ops {

class ThreadPool {
 public:
  // num_threads < 1 is treated as 1 (everything runs on the caller). If the system refuses
  // to start a thread, the pool keeps the ones it has (see num_threads()).
  explicit ThreadPool(int num_threads);
  ~ThreadPool();
  ThreadPool(const ThreadPool&) = delete;
  ThreadPool& operator=(const ThreadPool&) = delete;

  int num_threads() const { return num_threads_; }

  // fn(int64_t i, int thread) for i in [0, n).
  template <typename F>
  void ParallelFor(int64_t n, F&& fn) {
    using Fn = std::remove_reference_t<F>;
    ParallelForRange(
        n,
        [](void* ctx, int64_t begin, int64_t end, int thread) {
          Fn& f = *static_cast<Fn*>(ctx);
          for (int64_t i = begin; i < end; ++i) f(i, thread);
        },
        const_cast<void*>(static_cast<const void*>(&fn)));
  }

  // The primitive: call(ctx, begin, end, thread) once per thread with a non-empty range.
  using RangeFn = void (*)(void* ctx, int64_t begin, int64_t end, int thread);
  void ParallelForRange(int64_t n, RangeFn call, void* ctx);

  // A hint that the next job will stream [data, data + bytes) split evenly over the
  // threads (as a static split would): while idle, worker t prefetches into its cache the
  // first bytes of its share [bytes * t / T, ...), at most idle_prefetch_bytes(). Why: in
  // decode the caller spends ~10% of a step in small ops between two matmuls, during which
  // the workers' share of the memory bandwidth is otherwise lost. Only a hint: a torn read
  // of a hint that changes meanwhile prefetches a wrong range, which costs only bandwidth.
  void HintNextJob(const void* data, size_t bytes);
  size_t idle_prefetch_bytes() const { return idle_prefetch_bytes_; }

 private:
  // Where a worker is in the current hint.
  struct HintProgress {
    uint64_t seq = 0;     // the hint being prefetched
    uint64_t done = 0;    // the last hint prefetched completely
    size_t offset = 0;    // bytes of `seq` already prefetched
  };
  template <typename Pred>
  void PrefetchHint(int thread, Pred has_work, HintProgress& progress);
  void WorkerLoop(int thread);
  void RunChunk(int thread);

  int num_threads_;
  std::vector<std::thread> workers_;
  const long owner_pid_;  // the process whose threads these are

  std::mutex run_mutex_;  // one ParallelFor at a time

  // The current job. Written by the caller before it publishes a new generation
  // (release) and read by workers after they observe it (acquire).
  RangeFn job_fn_ = nullptr;
  void* job_ctx_ = nullptr;
  int64_t job_n_ = 0;

  std::atomic<uint64_t> generation_{0};
  std::atomic<bool> stop_{false};
  std::mutex wake_mutex_;
  std::condition_variable wake_cv_;

  std::atomic<uint64_t> hint_seq_{0};
  std::atomic<const char*> hint_data_{nullptr};
  std::atomic<size_t> hint_bytes_{0};
  size_t idle_prefetch_bytes_;

  std::atomic<int> pending_{0};  // workers still running the current job
  std::mutex done_mutex_;
  std::condition_variable done_cv_;
};

}  // namespace litegen::ops

#endif  // LITEGEN_CPP_OPS_THREAD_POOL_H_
