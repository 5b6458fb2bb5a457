#include "bench/bandwidth.h"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <thread>

#include <sys/mman.h>

#include "bench/json_writer.h"

namespace litegen::bench {
namespace {

constexpr size_t kStep = 256;  // bytes per loop iteration: four 64-byte vectors

// 64 bytes of uint64 lanes (GCC/clang vector extension): one zmm add with AVX-512, two
// ymm with AVX2, four xmm otherwise - the widest loads each target allows.
typedef uint64_t Lanes __attribute__((vector_size(64)));

// Sums [begin, begin + bytes) as uint64 lanes (bytes a multiple of kStep, begin 64-byte
// aligned); the sum is returned so the reads cannot be optimized away. Four independent
// accumulators keep the loads in flight. (An earlier loop that copied each step into a
// scalar array read 18-20 GB/s where this one reads 27-30: a slow loop understates the
// bandwidth and flatters every "% of the bandwidth limit".)
#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__)
__attribute__((target_clones("avx512f", "avx2", "default")))
#endif
uint64_t SumSlice(const unsigned char* begin, size_t bytes) {
  Lanes a0 = {}, a1 = {}, a2 = {}, a3 = {};
  const auto* p = reinterpret_cast<const Lanes*>(begin);
  const size_t steps = bytes / kStep;
  for (size_t s = 0; s < steps; ++s) {
    a0 += p[4 * s];
    a1 += p[4 * s + 1];
    a2 += p[4 * s + 2];
    a3 += p[4 * s + 3];
  }
  const Lanes a = a0 + a1 + a2 + a3;
  uint64_t total = 0;
  for (int k = 0; k < 8; ++k) total += a[k];
  return total;
}

// The buffer the probe reads: anonymous memory asking for transparent huge pages, aligned
// to 2 MiB. Why: a freshly converted model's page cache is in 2 MiB pages, and the weights
// stream ~20% faster through them than through 4 KiB pages (here 29-30 vs 22-25 GB/s,
// the same loop), so a probe on small pages would set the limit too low. Where the system
// gives no huge pages the probe reads small ones (`huge_pages` says which it got).
class ProbeBuffer {
 public:
  static constexpr size_t kHugePage = size_t{2} << 20;

  ~ProbeBuffer() {
    if (mapping_ != nullptr) munmap(mapping_, mapping_bytes_);
  }
  Status Map(size_t bytes) {
    mapping_bytes_ = bytes + kHugePage;  // room to align the start
    void* p = mmap(nullptr, mapping_bytes_, PROT_READ | PROT_WRITE,
                   MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED) {
      return Status(ErrorCode::kInternal,
                    "cannot map the " + std::to_string(bytes) + "-byte bandwidth buffer");
    }
    mapping_ = p;
    const uintptr_t aligned =
        (reinterpret_cast<uintptr_t>(p) + kHugePage - 1) & ~uintptr_t{kHugePage - 1};
    data_ = reinterpret_cast<unsigned char*>(aligned);
#if defined(MADV_HUGEPAGE)
    madvise(data_, bytes, MADV_HUGEPAGE);  // a hint: failure leaves small pages
#endif
    return Status::Ok();
  }
  unsigned char* data() const { return data_; }

  // Whether the kernel backs the buffer with huge pages (after it was touched): the
  // AnonHugePages of this mapping in /proc/self/smaps covers at least half of it.
  bool HugePages(size_t bytes) const {
    FILE* f = std::fopen("/proc/self/smaps", "r");
    if (f == nullptr) return false;
    const auto start = reinterpret_cast<uintptr_t>(mapping_);
    char line[256];
    bool inside = false;
    size_t huge_kb = 0;
    while (std::fgets(line, sizeof line, f) != nullptr) {
      unsigned long lo = 0, hi = 0;
      if (std::sscanf(line, "%lx-%lx ", &lo, &hi) == 2) {
        inside = lo <= start && start < hi;
      } else if (inside && std::strncmp(line, "AnonHugePages:", 14) == 0) {
        huge_kb += std::strtoul(line + 14, nullptr, 10);
      }
    }
    std::fclose(f);
    return huge_kb * 1024 >= bytes / 2;
  }

 private:
  void* mapping_ = nullptr;
  size_t mapping_bytes_ = 0;
  unsigned char* data_ = nullptr;
};

}  // namespace

Expected<BandwidthResult> MeasureReadBandwidth(const BandwidthOptions& options) {
  if (options.buffer_bytes < (size_t{1} << 20)) {
    return Status(ErrorCode::kInvalidArgument,
                  "bandwidth buffer must be >= 1 MiB, got " + std::to_string(options.buffer_bytes) +
                      " bytes");
  }
  if (options.threads < 1 || options.repeat < 1) {
    return Status(ErrorCode::kInvalidArgument,
                  "bandwidth needs threads >= 1 and repeat >= 1, got " +
                      std::to_string(options.threads) + " and " + std::to_string(options.repeat));
  }
  const size_t threads = static_cast<size_t>(options.threads);
  // Equal slices, each a whole number of steps.
  const size_t slice = options.buffer_bytes / threads / kStep * kStep;
  if (slice == 0) return Status(ErrorCode::kInvalidArgument, "bandwidth buffer too small for the threads");
  const size_t total = slice * threads;
  ProbeBuffer buffer;
  LITEGEN_RETURN_IF_ERROR(buffer.Map(total));
  unsigned char* data = buffer.data();
  // Touch every page first (non-zero, so no page can stay a shared zero page).
  std::memset(data, 1, total);

  BandwidthResult result;
  result.buffer_bytes = total;
  result.huge_pages = buffer.HugePages(total);
  result.threads = options.threads;
  std::vector<uint64_t> sums(threads, 0);
  for (int pass = 0; pass < options.repeat; ++pass) {
    std::atomic<size_t> ready{0};
    std::atomic<bool> go{false};
    std::vector<std::thread> workers;
    workers.reserve(threads);
    for (size_t t = 0; t < threads; ++t) {
      workers.emplace_back([&, t] {
        ready.fetch_add(1);
        while (!go.load(std::memory_order_acquire)) std::this_thread::yield();
        sums[t] += SumSlice(data + t * slice, slice);
      });
    }
    // Start the clock once every thread exists, so thread creation is not timed.
    while (ready.load() < threads) std::this_thread::yield();
    const auto start = std::chrono::steady_clock::now();
    go.store(true, std::memory_order_release);
    for (std::thread& w : workers) w.join();
    const double seconds =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    result.pass_gb_per_s.push_back(seconds > 0 ? static_cast<double>(total) / seconds / 1e9 : 0);
  }
  result.best_gb_per_s =
      *std::max_element(result.pass_gb_per_s.begin(), result.pass_gb_per_s.end());
  // Every byte is 1, so each thread's lane sums are known: a wrong sum means a broken
  // read loop (which would make the number meaningless), so report it.
  const uint64_t expected_per_pass = slice / sizeof(uint64_t) * 0x0101010101010101ull;
  for (uint64_t s : sums) {
    if (s != expected_per_pass * static_cast<uint64_t>(options.repeat)) {
      return Status(ErrorCode::kInternal, "bandwidth read loop summed the wrong value");
    }
  }
  return result;
}

std::string BandwidthJson(const BandwidthResult& result) {
  JsonWriter w;
  w.BeginObject();
  w.Key("schema").String("litegen.bench.bandwidth/2");
  w.Key("threads").Integer(result.threads);
  w.Key("buffer_bytes").Integer(static_cast<int64_t>(result.buffer_bytes));
  w.Key("huge_pages").Bool(result.huge_pages);
  w.Key("read_gb_per_s").Number(result.best_gb_per_s);
  w.Key("passes_gb_per_s").BeginArray();
  for (double v : result.pass_gb_per_s) w.Number(v);
  w.EndArray();
  w.EndObject();
  return w.str();
}

}  // namespace litegen::bench
