// litegen_ops_bench: decode-time attention (LITEGEN_SDPA) for the TinyLlama shape
// (Hq 32, Hkv 4, D 64) at several context lengths, per instruction set and thread count,
// then causal prefill (T = context) with the best instruction set.
//
//   hot   the same layer's K/V back to back (K/V in L2, pool workers spinning)
//   cold  22 layers' K/V in rotation with a 300 us pause between calls, as in a real
//         decode step: K/V come from L3/DRAM and the pool workers are asleep
// Times are per call: the median and (hot) the minimum, which is what an otherwise idle
// machine gives. GB/s counts the K/V bytes the call must read (2 * Hkv * context * D * 4),
// at the minimum (hot) and median (cold) times.
// Build: cmake -DLITEGEN_BUILD_BENCH=ON ... && build/.../litegen_ops_bench [iterations]
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <random>
#include <thread>
#include <vector>

#include "ops/sdpa.h"
#include "ops/thread_pool.h"

namespace {

using litegen::ops::Isa;
using Clock = std::chrono::steady_clock;

constexpr int kQHeads = 32, kKvHeads = 4, kDim = 64, kMaxLen = 2048, kLayers = 22;

double MedianMicros(std::vector<double> samples) {
  std::sort(samples.begin(), samples.end());
  return samples[samples.size() / 2];
}

}  // namespace

int main(int argc, char** argv) {
  const int iterations = argc > 1 ? std::max(5, std::atoi(argv[1])) : 200;
  std::mt19937 rng(1);
  std::uniform_real_distribution<float> unit(-1.0f, 1.0f);
  const size_t cache_floats = size_t{kKvHeads} * kMaxLen * kDim;
  std::vector<std::vector<float>> k(kLayers, std::vector<float>(cache_floats));
  std::vector<std::vector<float>> v(kLayers, std::vector<float>(cache_floats));
  for (int l = 0; l < kLayers; ++l) {
    for (size_t i = 0; i < cache_floats; ++i) {
      k[l][i] = unit(rng);
      v[l][i] = unit(rng);
    }
  }
  std::vector<float> q(size_t{kQHeads} * kDim), out(q.size());
  for (float& x : q) x = unit(rng);

  std::vector<Isa> isas = {Isa::kScalar};
  for (Isa isa : litegen::ops::AvailableIsas()) {
    if (isa != Isa::kScalar) isas.push_back(isa);
  }
  std::printf("decode SDPA, Hq=%d Hkv=%d D=%d, %d iterations per row\n", kQHeads,
              kKvHeads, kDim, iterations);
  std::printf("%-8s %7s %7s %11s %11s %8s %11s %8s\n", "isa", "threads", "context",
              "hot min us", "hot med us", "GB/s", "cold med us", "GB/s");
  for (int context : {128, 512, 1024}) {
    const double kv_bytes = 2.0 * kKvHeads * context * kDim * sizeof(float);
    for (Isa isa : isas) {
      for (int threads : {1, 2}) {
        litegen::ops::ThreadPool pool(threads);
        litegen::ops::Sdpa sdpa(isa);
        litegen::ops::SdpaShape shape{1, kQHeads, kKvHeads, 1, kMaxLen, kDim};
        litegen::ops::SdpaParams params;
        params.scale = 0.125f;
        const int32_t pos = context - 1;
        auto call = [&](int layer) {
          const auto start = Clock::now();
          const litegen::Status status = sdpa.Run(shape, q.data(), k[layer].data(),
                                                  v[layer].data(), &pos, params, out.data(), &pool);
          const double us =
              std::chrono::duration<double, std::micro>(Clock::now() - start).count();
          if (!status.ok()) {
            std::fprintf(stderr, "%s\n", status.ToString().c_str());
            std::exit(1);
          }
          return us;
        };
        std::vector<double> hot, cold;
        for (int i = 0; i < 10; ++i) call(0);
        for (int i = 0; i < iterations; ++i) hot.push_back(call(0));
        for (int i = 0; i < iterations; ++i) {
          std::this_thread::sleep_for(std::chrono::microseconds(300));
          cold.push_back(call(1 + i % (kLayers - 1)));
        }
        const double hot_min = *std::min_element(hot.begin(), hot.end());
        const double hot_us = MedianMicros(hot), cold_us = MedianMicros(cold);
        std::printf("%-8s %7d %7d %11.1f %11.1f %8.1f %11.1f %8.1f\n",
                    litegen::ops::IsaName(isa), threads, context, hot_min, hot_us,
                    kv_bytes / hot_min / 1e3, cold_us, kv_bytes / cold_us / 1e3);
      }
    }
  }

  // Prefill: T = context new tokens attending causally (the best instruction set only).
  const Isa best = litegen::ops::BestIsa();
  std::printf("\nprefill SDPA (T = context, causal), %s, min / median per call\n",
              litegen::ops::IsaName(best));
  std::printf("%7s %7s %11s %11s %12s\n", "threads", "context", "min ms", "med ms",
              "GFLOP/s");
  for (int context : {128, 512}) {
    std::vector<float> qp(size_t{kQHeads} * context * kDim), outp(qp.size());
    for (float& x : qp) x = unit(rng);
    std::vector<int32_t> positions(context);
    for (int t = 0; t < context; ++t) positions[t] = t;
    // q.k and p.v over the causal triangle: 2 * 2 * Hq * T * (T + 1) / 2 * D flops.
    const double flops = 2.0 * kQHeads * context * (context + 1.0) * kDim;
    for (int threads : {1, 2}) {
      litegen::ops::ThreadPool pool(threads);
      litegen::ops::Sdpa sdpa(best);
      litegen::ops::SdpaShape shape{1, kQHeads, kKvHeads, context, kMaxLen, kDim};
      litegen::ops::SdpaParams params;
      params.scale = 0.125f;
      std::vector<double> times;
      const int reps = std::max(5, iterations / (context / 16));
      for (int i = 0; i < reps + 1; ++i) {
        const auto start = Clock::now();
        const litegen::Status status = sdpa.Run(shape, qp.data(), k[0].data(), v[0].data(),
                                                positions.data(), params, outp.data(), &pool);
        const double ms = std::chrono::duration<double, std::milli>(Clock::now() - start).count();
        if (!status.ok()) {
          std::fprintf(stderr, "%s\n", status.ToString().c_str());
          return 1;
        }
        if (i > 0) times.push_back(ms);  // the first call sizes the scratch
      }
      const double min_ms = *std::min_element(times.begin(), times.end());
      std::printf("%7d %7d %11.2f %11.2f %12.1f\n", threads, context, min_ms,
                  MedianMicros(times), flops / min_ms / 1e6);
    }
  }
  return 0;
}
