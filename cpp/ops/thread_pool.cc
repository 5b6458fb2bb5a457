#include "ops/thread_pool.h"

#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <exception>

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#endif

namespace litegen::ops {
namespace {

// How long an idle worker polls for the next job before it blocks, and how long the
// caller polls for the workers to finish before it blocks. Between two of our matmuls in a
// decode step XNNPack runs a few small ops (tens of microseconds); a worker that slept
// through them costs a futex wake-up per matmul (measured: 200 us instead of 20 us of
// polling made TinyLlama decode 6% faster; 1 ms gained nothing more).
constexpr auto kWorkerSpin = std::chrono::microseconds(200);
constexpr auto kCallerSpin = std::chrono::microseconds(200);

inline void CpuRelax() {
#if defined(__x86_64__) || defined(__i386__)
  _mm_pause();
#elif defined(__aarch64__)
  asm volatile("yield" ::: "memory");
#endif
}

// Polls `done()` until it holds or `budget` has passed; true if it holds.
template <typename Pred>
bool SpinUntil(Pred done, std::chrono::microseconds budget) {
  const auto start = std::chrono::steady_clock::now();
  for (int i = 0;; ++i) {
    if (done()) return true;
    CpuRelax();
    if ((i & 63) == 63 && std::chrono::steady_clock::now() - start > budget) return done();
  }
}

// How much of its next share an idle worker prefetches (see HintNextJob): half of a
// core's L2, so the lines are still there when the job starts (TinyLlama int8 decode,
// 2 MiB L2: 0 / 512 / 1024 / 1536 KiB gave medians of 25.8 / 26.1 / 26.5 / 26.1 tok/s).
// LITEGEN_IDLE_PREFETCH_KB overrides it (0: off).
size_t IdlePrefetchBytes() {
  if (const char* env = std::getenv("LITEGEN_IDLE_PREFETCH_KB")) {
    return static_cast<size_t>(std::max(0LL, std::atoll(env))) << 10;
  }
#if defined(_SC_LEVEL2_CACHE_SIZE)
  const long l2 = sysconf(_SC_LEVEL2_CACHE_SIZE);
  if (l2 > 0) return static_cast<size_t>(l2) / 2;
#endif
  return size_t{256} << 10;  // the L2 size is unknown (e.g. many arm64 systems)
}

}  // namespace

ThreadPool::ThreadPool(int num_threads)
    : num_threads_(num_threads < 1 ? 1 : num_threads),
      owner_pid_(static_cast<long>(getpid())),
      idle_prefetch_bytes_(IdlePrefetchBytes()) {
  const int wanted = num_threads_;
  try {
    workers_.reserve(wanted - 1);
    for (int t = 1; t < wanted; ++t) workers_.emplace_back([this, t] { WorkerLoop(t); });
  } catch (const std::exception&) {
    // No more threads (std::system_error) or memory: run with the workers we have. They
    // only read num_threads_ inside jobs, which start after this constructor returns.
  }
  num_threads_ = static_cast<int>(workers_.size()) + 1;
}

ThreadPool::~ThreadPool() {
  if (static_cast<long>(getpid()) != owner_pid_) {
    // A forked child: the workers do not exist here; there is nothing to join.
    for (std::thread& worker : workers_) worker.detach();
    return;
  }
  {
    std::lock_guard<std::mutex> lock(wake_mutex_);
    stop_.store(true, std::memory_order_release);
  }
  wake_cv_.notify_all();
  for (std::thread& worker : workers_) worker.join();
}

void ThreadPool::RunChunk(int thread) {
  const int64_t n = job_n_;
  const int64_t begin = n * thread / num_threads_;
  const int64_t end = n * (thread + 1) / num_threads_;
  if (begin < end) job_fn_(job_ctx_, begin, end, thread);
}

void ThreadPool::ParallelForRange(int64_t n, RangeFn call, void* ctx) {
  if (n <= 0) return;
  if (num_threads_ == 1 || n == 1) {
    call(ctx, 0, n, 0);
    return;
  }
  if (static_cast<long>(getpid()) != owner_pid_) {  // forked: the workers are gone
    for (int t = 0; t < num_threads_; ++t) {
      const int64_t begin = n * t / num_threads_, end = n * (t + 1) / num_threads_;
      if (begin < end) call(ctx, begin, end, t);
    }
    return;
  }
  std::lock_guard<std::mutex> run_lock(run_mutex_);
  job_fn_ = call;
  job_ctx_ = ctx;
  job_n_ = n;
  pending_.store(num_threads_ - 1, std::memory_order_relaxed);
  {
    // Publishing under the mutex pairs with the workers' wait predicate: a worker that
    // is about to block either sees the new generation or gets the notification.
    std::lock_guard<std::mutex> lock(wake_mutex_);
    generation_.fetch_add(1, std::memory_order_release);
  }
  wake_cv_.notify_all();

  RunChunk(0);

  auto finished = [this] { return pending_.load(std::memory_order_acquire) == 0; };
  if (!SpinUntil(finished, kCallerSpin)) {
    std::unique_lock<std::mutex> lock(done_mutex_);
    done_cv_.wait(lock, finished);
  }
}

void ThreadPool::HintNextJob(const void* data, size_t bytes) {
  if (num_threads_ == 1 || idle_prefetch_bytes_ == 0) return;
  hint_data_.store(static_cast<const char*>(data), std::memory_order_relaxed);
  hint_bytes_.store(bytes, std::memory_order_relaxed);
  hint_seq_.fetch_add(1, std::memory_order_release);
}

template <typename Pred>
void ThreadPool::PrefetchHint(int thread, Pred has_work, HintProgress& progress) {
  const uint64_t seq = hint_seq_.load(std::memory_order_acquire);
  if (seq == progress.done) return;
  if (seq != progress.seq) {
    progress.seq = seq;
    progress.offset = 0;
  }
  const char* data = hint_data_.load(std::memory_order_relaxed);
  const size_t bytes = hint_bytes_.load(std::memory_order_relaxed);
  const size_t begin = bytes / num_threads_ * thread;
  const size_t end = std::min(bytes / num_threads_ * (thread + 1), begin + idle_prefetch_bytes_);
  constexpr size_t kLine = 64, kSlice = 4096;  // a new job is noticed within a slice
  for (size_t at = begin + progress.offset; at < end; at += kLine) {
#if defined(__GNUC__) || defined(__clang__)
    __builtin_prefetch(data + at, 0, 2);
#endif
    if ((at + kLine - begin) % kSlice == 0 && has_work()) {
      progress.offset = at + kLine - begin;
      return;
    }
  }
  progress.done = seq;
}

void ThreadPool::WorkerLoop(int thread) {
  uint64_t seen = 0;
  HintProgress hint;
  for (;;) {
    auto has_work = [&] {
      return generation_.load(std::memory_order_acquire) != seen ||
             stop_.load(std::memory_order_acquire);
    };
    PrefetchHint(thread, has_work, hint);
    if (!SpinUntil(has_work, kWorkerSpin)) {
      std::unique_lock<std::mutex> lock(wake_mutex_);
      wake_cv_.wait(lock, has_work);
    }
    if (stop_.load(std::memory_order_acquire)) return;
    seen = generation_.load(std::memory_order_acquire);
    RunChunk(thread);
    if (pending_.fetch_sub(1, std::memory_order_acq_rel) == 1) {
      // Taking the mutex orders this notification after the caller's predicate check.
      std::lock_guard<std::mutex> lock(done_mutex_);
      done_cv_.notify_one();
    }
  }
}

}  // namespace litegen::ops
