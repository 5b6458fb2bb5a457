// Work split over threads that balances itself: each thread owns a contiguous range of
// items (the static split) and takes it from the front in shrinking pieces; a thread whose
// range is empty steals single items from the back of another's.
//
// Why: decode's matmuls stream weights at memory bandwidth, and on a shared machine one
// core often gets less of it for a while (the other hyperthread, a noisy neighbour); with
// a fixed split the other thread then waits, which cost ~8% of decode. Contiguous ranges
// keep each thread's weight stream (and its software prefetch) sequential; only the last
// few items move between threads.
//
// Each range is one 64-bit atomic word (begin << 32 | end), so an owner's claim at the
// front and a thief's at the back can never overlap: every item is claimed exactly once.
#ifndef LITEGEN_CPP_OPS_WORK_RANGES_H_
#define LITEGEN_CPP_OPS_WORK_RANGES_H_

#include <atomic>
#include <cstdint>
#include <memory>

namespace litegen::ops {

class WorkRanges {
 public:
  // Splits [0, items) evenly over `threads` ranges (items < 2^31, threads >= 1).
  void Reset(int64_t items, int threads) {
    if (threads > capacity_) {
      slots_ = std::make_unique<Slot[]>(static_cast<size_t>(threads));
      capacity_ = threads;
    }
    threads_ = threads;
    for (int t = 0; t < threads; ++t) {
      const uint64_t begin = static_cast<uint64_t>(items * t / threads);
      const uint64_t end = static_cast<uint64_t>(items * (t + 1) / threads);
      slots_[t].range.store(begin << 32 | end, std::memory_order_relaxed);
    }
  }

  // The next items for `thread` (< the count given to Reset): half of what is left of its
  // own range (at least one), else one item from the back of another thread's range.
  // False when nothing is left.
  bool Claim(int thread, int64_t* begin, int64_t* end) {
    if (TakeFront(slots_[thread].range, begin, end)) return true;
    for (int i = 1; i < threads_; ++i) {
      if (TakeBack(slots_[(thread + i) % threads_].range, begin, end)) return true;
    }
    return false;
  }

 private:
  struct alignas(64) Slot {  // one cache line each: owners do not share lines
    std::atomic<uint64_t> range{0};
  };

  static bool TakeFront(std::atomic<uint64_t>& range, int64_t* begin, int64_t* end) {
    uint64_t r = range.load(std::memory_order_relaxed);
    for (;;) {
      const uint64_t b = r >> 32, e = r & 0xFFFFFFFFu;
      if (b >= e) return false;
      const uint64_t take = (e - b + 1) / 2;
      if (range.compare_exchange_weak(r, (b + take) << 32 | e, std::memory_order_relaxed)) {
        *begin = static_cast<int64_t>(b);
        *end = static_cast<int64_t>(b + take);
        return true;
      }
    }
  }

  static bool TakeBack(std::atomic<uint64_t>& range, int64_t* begin, int64_t* end) {
    uint64_t r = range.load(std::memory_order_relaxed);
    for (;;) {
      const uint64_t b = r >> 32, e = r & 0xFFFFFFFFu;
      if (b >= e) return false;
      if (range.compare_exchange_weak(r, b << 32 | (e - 1), std::memory_order_relaxed)) {
        *begin = static_cast<int64_t>(e - 1);
        *end = static_cast<int64_t>(e);
        return true;
      }
    }
  }

  std::unique_ptr<Slot[]> slots_;
  int capacity_ = 0;
  int threads_ = 0;
};

}  // namespace litegen::ops

#endif  // LITEGEN_CPP_OPS_WORK_RANGES_H_
