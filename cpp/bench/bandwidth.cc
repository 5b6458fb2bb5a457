#include "bench/bandwidth.h"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <cstring>
#include <string>
#include <thread>

#include "bench/json_writer.h"
#include "litert/host_tensor.h"

namespace litegen::bench {
namespace {

constexpr size_t kWords = 32;  // uint64 accumulators: 256 bytes per step
constexpr size_t kStep = kWords * sizeof(uint64_t);

// Sums [begin, begin + bytes) as uint64 words (bytes a multiple of kStep, begin 64-byte
// aligned); the sum is returned so the reads cannot be optimized away. Plain scalar code
// with many independent accumulators: the compiler vectorizes it for each target below,
// so one thread reads as fast as the widest loads allow (a slow loop would understate
// the bandwidth and flatter every "% of the bandwidth limit").
#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__)
__attribute__((target_clones("avx512f", "avx2", "default")))
#endif
uint64_t SumSlice(const unsigned char* begin, size_t bytes) {
  uint64_t acc[kWords] = {};
  const size_t steps = bytes / kStep;
  for (size_t s = 0; s < steps; ++s) {
    uint64_t words[kWords];
    std::memcpy(words, begin + s * kStep, kStep);  // aliasing-safe; compiled to loads
    for (size_t w = 0; w < kWords; ++w) acc[w] += words[w];
  }
  uint64_t total = 0;
  for (uint64_t a : acc) total += a;
  return total;
}

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
  auto memory = AllocateAligned(total);
  if (!memory.ok()) {
    return Status(ErrorCode::kInternal, "cannot allocate the " + std::to_string(total) +
                                            "-byte bandwidth buffer: " +
                                            memory.status().ToString());
  }
  auto* data = static_cast<unsigned char*>(memory.value().get());
  // Touch every page first (non-zero, so no page can stay a shared zero page).
  std::memset(data, 1, total);

  BandwidthResult result;
  result.buffer_bytes = total;
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
  w.Key("schema").String("litegen.bench.bandwidth/1");
  w.Key("threads").Integer(result.threads);
  w.Key("buffer_bytes").Integer(static_cast<int64_t>(result.buffer_bytes));
  w.Key("read_gb_per_s").Number(result.best_gb_per_s);
  w.Key("passes_gb_per_s").BeginArray();
  for (double v : result.pass_gb_per_s) w.Number(v);
  w.EndArray();
  w.EndObject();
  return w.str();
}

}  // namespace litegen::bench
