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
//
//   litegen_ops_bench amx-prefill [int8|int4-b32|int4|q/o|gate/up|down]: quantized linear
//   (LITEGEN_FC) prefill through the AMX kernel, TinyLlama shapes, 2 threads; GOPS =
//   2 M N K / time (activation quantization included), hot weights (same layer back to
//   back). The optional argument keeps one format or shape.

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <random>
#include <thread>
#include <vector>

#include "ops/linear.h"
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

// Prefill through ops::Linear with AMX: M rows x TinyLlama's projection shapes, int8 per
// channel, int4 with blocks of 32 (fp16 scales) and int4 per channel.
int BenchLinearAmxPrefill(const char* only) {
  using litegen::ops::LinearWeights;
  using litegen::ops::WeightFormat;
  litegen::ops::ThreadPool pool(2);
  litegen::ops::Linear linear(Isa::kAvx512, /*allow_amx=*/true);
  if (!linear.uses_amx()) {
    std::printf("AMX kernel not usable on this machine\n");
    return 1;
  }
  std::mt19937 rng(3);
  std::uniform_int_distribution<int> byte(0, 255);
  std::normal_distribution<float> normal(0.0f, 1.0f);
  struct Shape {
    const char* name;
    int64_t n, k;
  };
  const Shape shapes[] = {{"q/o", 2048, 2048}, {"gate/up", 5632, 2048}, {"down", 2048, 5632}};
  std::printf("linear prefill via AMX, 2 threads: min / median ms per call, GOPS at the min\n");
  std::printf("%-8s %-8s %5s %5s %5s %9s %9s %8s\n", "format", "shape", "M", "N", "K", "min ms",
              "med ms", "GOPS");
  for (const char* format : {"int8", "int4-b32", "int4"}) {
    const bool int4 = std::strcmp(format, "int8") != 0;
    const bool blockwise = std::strcmp(format, "int4-b32") == 0;
    for (const Shape& s : shapes) {
      if (only != nullptr && std::strcmp(only, format) != 0 && std::strcmp(only, s.name) != 0) {
        continue;
      }
      LinearWeights w;
      w.format = int4 ? WeightFormat::kInt4 : WeightFormat::kInt8;
      w.n = s.n;
      w.k = s.k;
      w.block = blockwise ? 32 : s.k;
      std::vector<uint8_t> data(static_cast<size_t>(int4 ? s.n * s.k / 2 : s.n * s.k));
      for (auto& v : data) v = static_cast<uint8_t>(byte(rng));
      std::vector<float> scales(static_cast<size_t>(s.n), 0.01f), wsum(static_cast<size_t>(s.n));
      for (auto& v : wsum) v = normal(rng);
      std::vector<uint16_t> block_scales(static_cast<size_t>(s.n * (s.k / 32)), 0x211F);  // ~0.01
      w.data = data.data();
      w.channel_scales = blockwise ? nullptr : scales.data();
      w.block_scales = blockwise ? block_scales.data() : nullptr;
      w.wsum = wsum.data();
      for (int64_t m : {8, 32, 128, 512}) {
        std::vector<float> x(static_cast<size_t>(m * s.k)), y(static_cast<size_t>(m * s.n));
        for (auto& v : x) v = normal(rng);
        const double ops = 2.0 * m * s.n * s.k;
        std::vector<double> times;
        double total = 0;
        for (int i = 0; i < 200 && (i < 6 || total < 400.0); ++i) {
          const auto start = Clock::now();
          const litegen::Status status = linear.Run(w, m, x.data(), nullptr, y.data(), &pool);
          const double ms =
              std::chrono::duration<double, std::milli>(Clock::now() - start).count();
          if (!status.ok()) {
            std::fprintf(stderr, "%s\n", status.ToString().c_str());
            return 1;
          }
          if (i > 0) times.push_back(ms);  // the first call sizes the scratch
          total += ms;
        }
        const double min_ms = *std::min_element(times.begin(), times.end());
        std::printf("%-8s %-8s %5lld %5lld %5lld %9.3f %9.3f %8.0f\n", format, s.name,
                    static_cast<long long>(m), static_cast<long long>(s.n),
                    static_cast<long long>(s.k), min_ms, MedianMicros(times),
                    ops / min_ms / 1e6);
      }
    }
  }
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc > 1 && std::strcmp(argv[1], "amx-prefill") == 0) {
    return BenchLinearAmxPrefill(argc > 2 ? argv[2] : nullptr);  // optional: a format or shape
  }
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
