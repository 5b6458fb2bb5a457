// Memory-read bandwidth of this machine: several threads stream-read (and sum) disjoint
// slices of one buffer much larger than the last-level cache. The result bounds what a
// memory-bound step can reach: LLM decode reads every weight once per token, so
// tokens/s <= bandwidth / weight bytes.
#ifndef LITEGEN_CPP_BENCH_BANDWIDTH_H_
#define LITEGEN_CPP_BENCH_BANDWIDTH_H_

#include <cstddef>
#include <string>
#include <vector>

#include "litert/status.h"

namespace litegen::bench {

struct BandwidthOptions {
  size_t buffer_bytes = size_t{1} << 30;  // >> LLC, so reads come from DRAM
  int threads = 1;
  int repeat = 5;  // passes over the buffer; the best one is reported
};

struct BandwidthResult {
  size_t buffer_bytes = 0;
  int threads = 0;
  std::vector<double> pass_gb_per_s;  // every pass, in order (GB = 1e9 bytes)
  double best_gb_per_s = 0;
  bool huge_pages = false;  // the buffer was backed by 2 MiB pages (as a fresh model is)
};

// kInvalidArgument for a buffer under 1 MiB, threads < 1 or repeat < 1; kInternal when
// the buffer cannot be allocated.
Expected<BandwidthResult> MeasureReadBandwidth(const BandwidthOptions& options);

// One JSON object (schema "litegen.bench.bandwidth/2"): read_gb_per_s (the best pass),
// every pass, threads, buffer size and huge_pages.
std::string BandwidthJson(const BandwidthResult& result);

}  // namespace litegen::bench

#endif  // LITEGEN_CPP_BENCH_BANDWIDTH_H_
