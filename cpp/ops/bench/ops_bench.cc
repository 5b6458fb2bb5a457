// litegen_ops_bench: micro-benchmarks of litegen's custom kernels.
//
//   litegen_ops_bench [sdpa] [iterations]    attention (LITEGEN_SDPA), below
//   litegen_ops_bench linear [tokens]        quantized linear (LITEGEN_FC), see LinearMain
//   litegen_ops_bench amx-prefill [filter]   LITEGEN_FC prefill on AMX, see below
//
// sdpa: decode-time attention for the TinyLlama shape
// (Hq 32, Hkv 4, D 64) at several context lengths, per instruction set and thread count,
// then causal prefill (T = context) with the best instruction set.
//
//   hot   the same layer's K/V back to back (K/V in L2, pool workers spinning)
//   cold  22 layers' K/V in rotation with a 300 us pause between calls, as in a real
//         decode step: K/V come from L3/DRAM and the pool workers are asleep
// Times are per call: the median and (hot) the minimum, which is what an otherwise idle
// machine gives. GB/s counts the K/V bytes the call must read (2 * Hkv * context * D * 4,
// or * 2 for float16 caches: column kv), at the minimum (hot) and median (cold) times.
// Build: cmake -DLITEGEN_BUILD_BENCH=ON ... && build/.../litegen_ops_bench [iterations]
//
//   litegen_ops_bench amx-prefill [int8|int4-b32|int4i-b32|int4|q/o|gate/up|down]: quantized linear
//   (LITEGEN_FC) prefill through the AMX kernel, TinyLlama shapes, 2 threads; GOPS =
//   2 M N K / time (activation quantization included), hot weights (same layer back to
//   back). The optional argument keeps one format or shape.
#include <fcntl.h>
#include <sys/mman.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "ops/linear.h"
#include "ops/half.h"
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
// channel, int4 with blocks of 32 (fp16 scales), interleaved int4 with blocks of 32 (8-bit
// codes under a channel scale) and int4 per channel.
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
  std::printf("%-9s %-8s %5s %5s %5s %9s %9s %8s\n", "format", "shape", "M", "N", "K", "min ms",
              "med ms", "GOPS");
  for (const char* format : {"int8", "int4-b32", "int4i-b32", "int4"}) {
    const bool int4 = std::strcmp(format, "int8") != 0;
    const bool interleaved = std::strcmp(format, "int4i-b32") == 0;
    const bool blockwise = interleaved || std::strcmp(format, "int4-b32") == 0;
    for (const Shape& s : shapes) {
      if (only != nullptr && std::strcmp(only, format) != 0 && std::strcmp(only, s.name) != 0) {
        continue;
      }
      LinearWeights w;
      w.format = interleaved ? WeightFormat::kInt4Interleaved
                 : int4      ? WeightFormat::kInt4
                             : WeightFormat::kInt8;
      w.n = s.n;
      w.k = s.k;
      w.block = blockwise ? 32 : s.k;
      std::vector<uint8_t> data(static_cast<size_t>(int4 ? s.n * s.k / 2 : s.n * s.k));
      for (auto& v : data) v = static_cast<uint8_t>(byte(rng));
      std::vector<float> scales(static_cast<size_t>(s.n), 0.01f), wsum(static_cast<size_t>(s.n));
      for (auto& v : wsum) v = normal(rng);
      std::vector<uint16_t> block_scales(static_cast<size_t>(s.n * (s.k / 32)), 0x211F);  // ~0.01
      // Interleaved: codes ~100 under a channel scale of 1e-4 (~0.01 again).
      std::vector<uint8_t> block_codes(static_cast<size_t>(s.n * (s.k / 32)));
      for (auto& c : block_codes) c = static_cast<uint8_t>(90 + byte(rng) % 21);
      std::vector<float> code_scales(static_cast<size_t>(s.n), 1e-4f);
      w.data = data.data();
      w.channel_scales = interleaved ? code_scales.data() : blockwise ? nullptr : scales.data();
      w.block_scales = blockwise && !interleaved ? block_scales.data() : nullptr;
      w.block_codes = interleaved ? block_codes.data() : nullptr;
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
        std::printf("%-9s %-8s %5lld %5lld %5lld %9.3f %9.3f %8.0f\n", format, s.name,
                    static_cast<long long>(m), static_cast<long long>(s.n),
                    static_cast<long long>(s.k), min_ms, MedianMicros(times),
                    ops / min_ms / 1e6);
      }
    }
  }
  return 0;
}

int SdpaMain(int iterations) {
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
  // The same caches in float16 (what the fast form exports by default).
  std::vector<std::vector<uint16_t>> kh(kLayers, std::vector<uint16_t>(cache_floats));
  std::vector<std::vector<uint16_t>> vh(kLayers, std::vector<uint16_t>(cache_floats));
  for (int l = 0; l < kLayers; ++l) {
    for (size_t i = 0; i < cache_floats; ++i) {
      kh[l][i] = litegen::ops::FloatToHalf(k[l][i]);
      vh[l][i] = litegen::ops::FloatToHalf(v[l][i]);
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
  std::printf("%-8s %4s %7s %7s %11s %11s %8s %11s %8s\n", "isa", "kv", "threads", "context",
              "hot min us", "hot med us", "GB/s", "cold med us", "GB/s");
  for (int context : {32, 64, 128, 256, 512, 1024}) {
    for (Isa isa : isas) {
      for (int threads : {1, 2}) {
        for (bool half : {false, true}) {
          const double kv_bytes =
              2.0 * kKvHeads * context * kDim * (half ? sizeof(uint16_t) : sizeof(float));
          litegen::ops::ThreadPool pool(threads);
          litegen::ops::Sdpa sdpa(isa);
          litegen::ops::SdpaShape shape{1, kQHeads, kKvHeads, 1, kMaxLen, kDim};
          litegen::ops::SdpaParams params;
          params.scale = 0.125f;
          const int32_t pos = context - 1;
          auto call = [&](int layer) {
            const auto start = Clock::now();
            const litegen::Status status =
                half ? sdpa.Run(shape, q.data(), kh[layer].data(), vh[layer].data(), &pos, params,
                                out.data(), &pool)
                     : sdpa.Run(shape, q.data(), k[layer].data(), v[layer].data(), &pos, params,
                                out.data(), &pool);
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
          std::printf("%-8s %4s %7d %7d %11.1f %11.1f %8.1f %11.1f %8.1f\n",
                      litegen::ops::IsaName(isa), half ? "f16" : "f32", threads, context, hot_min,
                      hot_us, kv_bytes / hot_min / 1e3, cold_us, kv_bytes / cold_us / 1e3);
        }
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

// ---- linear (LITEGEN_FC) -------------------------------------------------------------------
//
// decode   TinyLlama-1.1B's 22 layers x 7 projections (q 2048x2048, k/v 256x2048,
//          o 2048x2048, gate/up 5632x2048, down 2048x5632; N x K), 1, 2 or 4 rows per call,
//          every layer's weights distinct (~1 GB int8, above the 480 MB L3) and read from a
//          file mapping, as the model file is at run time. Time per token (all 154 calls);
//          GB/s counts the weight, scale and row-sum bytes a token reads, at the median
//          (and best) token. "plain read" sums the same mapping with the same pool: the
//          ceiling a kernel can approach.
// prefill  128 rows through one projection (weights in cache): GOPS = 2 * M * N * K / s.
// One ThreadPool(2); the instruction set is the best one (LITEGEN_ISA=... overrides),
// without AMX (LITEGEN_AMX=1 in the environment lets AMX take the prefill rows).

struct Shape {
  int64_t n, k;
};
constexpr Shape kProjections[] = {{2048, 2048}, {256, 2048}, {256, 2048}, {2048, 2048},
                                  {5632, 2048}, {5632, 2048}, {2048, 5632}};

struct WeightFormatCase {
  const char* name;
  litegen::ops::WeightFormat format;
  int64_t block;  // 0: per channel
};

size_t Align64(size_t bytes) { return (bytes + 63) / 64 * 64; }

bool Coded(const WeightFormatCase& f) {
  return f.format == litegen::ops::WeightFormat::kInt4Interleaved;
}

// Bytes of one projection's weights, its scales (or block codes, then channel scales) and
// row sums (each 64-byte aligned).
size_t ScaleBytes(const WeightFormatCase& f, Shape s) {
  if (f.block == 0) return static_cast<size_t>(s.n) * 4;
  const size_t per_block = Coded(f) ? 1 : 2;
  return static_cast<size_t>(s.n * (s.k / f.block)) * per_block;
}
size_t ProjectionBytes(const WeightFormatCase& f, Shape s) {
  const size_t data = static_cast<size_t>(f.format == litegen::ops::WeightFormat::kInt8
                                              ? s.n * s.k : s.n * s.k / 2);
  const size_t rows = Align64(static_cast<size_t>(s.n) * 4);
  return Align64(data) + Align64(ScaleBytes(f, s)) + (Coded(f) ? 2 : 1) * rows;
}

// A read-only private mapping of an unlinked temporary file holding every layer's weights
// (random bytes, scales ~1/256, row sums 0), like the model file at run time.
struct WeightFile {
  void* base = nullptr;
  size_t bytes = 0;
  std::vector<litegen::ops::LinearWeights> w;  // [layer * 7 + projection]
  ~WeightFile() {
    if (base != nullptr) munmap(base, bytes);
  }
};

bool MakeWeightFile(const WeightFormatCase& f, WeightFile* out) {
  size_t total = 0;
  for (const Shape& s : kProjections) total += ProjectionBytes(f, s);
  total *= kLayers;
  const char* dir = std::getenv("TMPDIR");
  std::string path = std::string(dir != nullptr ? dir : "/tmp") + "/litegen_fc_XXXXXX";
  const int fd = mkstemp(path.data());
  if (fd < 0) return false;
  unlink(path.c_str());
  bool ok = ftruncate(fd, static_cast<off_t>(total)) == 0;
  void* rw = ok ? mmap(nullptr, total, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0) : MAP_FAILED;
  ok = rw != MAP_FAILED;
  if (ok) {
    auto* bytes = static_cast<uint8_t*>(rw);
    uint64_t state = 0x9E3779B97F4A7C15ull;
    for (size_t i = 0; i + 8 <= total; i += 8) {  // xorshift64: fast and not compressible
      state ^= state << 13;
      state ^= state >> 7;
      state ^= state << 17;
      std::memcpy(bytes + i, &state, 8);
    }
    size_t offset = 0;
    for (int l = 0; l < kLayers; ++l) {
      for (const Shape& s : kProjections) {
        const size_t data = static_cast<size_t>(
            f.format == litegen::ops::WeightFormat::kInt8 ? s.n * s.k : s.n * s.k / 2);
        uint8_t* scales = bytes + offset + Align64(data);
        const size_t scale_bytes = ScaleBytes(f, s);
        uint8_t* rows = scales + Align64(scale_bytes);
        const float channel_scale = Coded(f) ? 1.0f / 32768 : 1.0f / 256;
        if (f.block == 0 || Coded(f)) {
          float* per_channel = reinterpret_cast<float*>(f.block == 0 ? scales : rows);
          for (int64_t i = 0; i < s.n; ++i) per_channel[i] = channel_scale;
        }
        if (Coded(f)) {
          std::memset(scales, 128, scale_bytes);  // 128 / 32768 = 1/256
          rows += Align64(static_cast<size_t>(s.n) * 4);
        } else if (f.block != 0) {
          for (size_t i = 0; i < scale_bytes; i += 2) {
            const uint16_t v = 0x1C00;  // 1/256 in fp16
            std::memcpy(scales + i, &v, 2);
          }
        }
        std::memset(rows, 0, static_cast<size_t>(s.n) * 4);
        offset += ProjectionBytes(f, s);
      }
    }
    munmap(rw, total);
    out->base = mmap(nullptr, total, PROT_READ, MAP_PRIVATE | MAP_POPULATE, fd, 0);
    ok = out->base != MAP_FAILED;
    if (!ok) out->base = nullptr;
  }
  close(fd);
  if (!ok) return false;
  out->bytes = total;
  const auto* bytes = static_cast<const uint8_t*>(out->base);
  size_t offset = 0;
  for (int l = 0; l < kLayers; ++l) {
    for (const Shape& s : kProjections) {
      litegen::ops::LinearWeights w;
      w.format = f.format;
      w.n = s.n;
      w.k = s.k;
      w.block = f.block == 0 ? s.k : f.block;
      const size_t data = static_cast<size_t>(
          f.format == litegen::ops::WeightFormat::kInt8 ? s.n * s.k : s.n * s.k / 2);
      const uint8_t* scales = bytes + offset + Align64(data);
      const uint8_t* rows = scales + Align64(ScaleBytes(f, s));
      w.data = bytes + offset;
      if (f.block == 0) {
        w.channel_scales = reinterpret_cast<const float*>(scales);
      } else if (Coded(f)) {
        w.block_codes = scales;
        w.channel_scales = reinterpret_cast<const float*>(rows);
        rows += Align64(static_cast<size_t>(s.n) * 4);
      } else {
        w.block_scales = reinterpret_cast<const uint16_t*>(scales);
      }
      w.wsum = reinterpret_cast<const float*>(rows);
      out->w.push_back(w);
      offset += ProjectionBytes(f, s);
    }
  }
  return true;
}

// Sums 4 streams [p + j * stride, + bytes) as uint64 words, 64 bytes of each per step
// (bytes a multiple of 64): the plain read loop. Four streams per thread, as the kernels
// read 4 weight rows at a time (one stream per thread reads slower here).
#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__)
__attribute__((target_clones("avx512f", "avx2", "default")))
#endif
uint64_t SumStreams(const uint8_t* p, size_t stride, size_t bytes) {
  uint64_t acc[32] = {};
  for (size_t s = 0; s + 64 <= bytes; s += 64) {
    for (int j = 0; j < 4; ++j) {
      uint64_t words[8];
      std::memcpy(words, p + j * stride + s, 64);
      for (int i = 0; i < 8; ++i) acc[j * 8 + i] += words[i];
    }
  }
  uint64_t total = 0;
  for (uint64_t a : acc) total += a;
  return total;
}

struct SumContext {
  const uint8_t* p;
  size_t slice;  // bytes per item: 4 streams of slice / 4
  uint64_t sums[64];
};

void SumRange(void* ctx, int64_t begin, int64_t end, int thread) {
  auto& c = *static_cast<SumContext*>(ctx);
  uint64_t s = 0;
  for (int64_t i = begin; i < end; ++i) {
    s += SumStreams(c.p + i * c.slice, c.slice / 4, c.slice / 4);
  }
  c.sums[thread] += s;
}

double Median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v[v.size() / 2];
}

int LinearMain(int tokens) {
  using litegen::ops::WeightFormat;
  const int kThreads = 2;
  litegen::ops::ThreadPool pool(kThreads);
  litegen::ops::Linear probe(Isa::kAuto, false);
  std::printf("linear (LITEGEN_FC), isa %s, %d threads, TinyLlama-1.1B projections\n",
              litegen::ops::IsaName(probe.isa()), kThreads);
  std::mt19937 rng(1);
  std::normal_distribution<float> normal(0.0f, 1.0f);
  constexpr int kMaxRows = 128;
  std::vector<float> x(size_t{kMaxRows} * 5632), y(size_t{kMaxRows} * 5632);
  for (float& v : x) v = normal(rng);
  const WeightFormatCase formats[] = {{"int8", WeightFormat::kInt8, 0},
                                      {"int4", WeightFormat::kInt4, 0},
                                      {"int4-b32", WeightFormat::kInt4, 32},
                                      {"int4i-b32", WeightFormat::kInt4Interleaved, 32}};
  auto fail = [](const litegen::Status& s) {
    std::fprintf(stderr, "%s\n", s.ToString().c_str());
    std::exit(1);
  };

  std::printf("\ndecode: %d tokens (+2 warm-up) x 22 layers x 7 projections, median (best)\n",
              tokens);
  std::printf("%-9s %9s %6s %11s %15s %15s\n", "format", "MB/token", "rows", "ms/token",
              "GB/s", "plain read GB/s");
  for (const WeightFormatCase& f : formats) {
    WeightFile file;
    if (!MakeWeightFile(f, &file)) {
      std::fprintf(stderr, "cannot create the weight file\n");
      return 1;
    }
    // Plain read of the same mapping (1 MB slices split between the threads).
    SumContext sc{};
    sc.p = static_cast<const uint8_t*>(file.base);
    sc.slice = size_t{1} << 20;
    const int64_t slices = static_cast<int64_t>(file.bytes / sc.slice);
    std::vector<double> read_gbs;
    for (int i = 0; i < tokens + 2; ++i) {
      const auto start = Clock::now();
      pool.ParallelForRange(slices, &SumRange, &sc);
      const double s = std::chrono::duration<double>(Clock::now() - start).count();
      if (i >= 2) read_gbs.push_back(static_cast<double>(slices) * sc.slice / s / 1e9);
    }
    const double read_med = Median(read_gbs);
    const double read_best = *std::max_element(read_gbs.begin(), read_gbs.end());
    // rows 0: one row, but layer 0's weights for every layer (hot: from L2/L3), the
    // kernel's speed without the memory bound.
    for (int rows : {1, 2, 4, 0}) {
      litegen::ops::Linear linear(Isa::kAuto, false);
      std::vector<double> ms;
      for (int i = 0; i < tokens + 2; ++i) {
        const auto start = Clock::now();
        for (size_t j = 0; j < file.w.size(); ++j) {
          const auto& w = file.w[rows == 0 ? j % 7 : j];
          const litegen::Status st =
              linear.Run(w, std::max(rows, 1), x.data(), nullptr, y.data(), &pool);
          if (!st.ok()) fail(st);
        }
        const double t = std::chrono::duration<double, std::milli>(Clock::now() - start).count();
        if (i >= 2) ms.push_back(t);
      }
      const double med = Median(ms), best = *std::min_element(ms.begin(), ms.end());
      char gbs[32], plain[32];
      std::snprintf(gbs, sizeof(gbs), "%.1f (%.1f)", file.bytes / med / 1e6,
                    file.bytes / best / 1e6);
      std::snprintf(plain, sizeof(plain), "%.1f (%.1f)", read_med, read_best);
      std::printf("%-9s %9.1f %6s %11.2f %15s %15s\n", f.name, file.bytes / 1e6,
                  rows == 0 ? "1 hot" : std::to_string(rows).c_str(), med, gbs,
                  rows == 1 ? plain : "");
    }
  }

  std::printf("\nprefill: %d rows, one projection (weights in cache), median (best)\n",
              kMaxRows);
  std::printf("%-9s %6s %6s %10s %15s\n", "format", "N", "K", "ms", "GOPS");
  for (const WeightFormatCase& f : formats) {
    WeightFile file;
    if (!MakeWeightFile(f, &file)) return 1;
    const char* amx_env = std::getenv("LITEGEN_AMX");
    const bool allow_amx = amx_env != nullptr && std::strcmp(amx_env, "1") == 0;
    litegen::ops::Linear linear(Isa::kAuto, allow_amx);
    for (int p : {0, 4, 6}) {  // q (2048x2048), gate (5632x2048), down (2048x5632)
      const auto& w = file.w[p];
      std::vector<double> ms;
      const int reps = std::max(5, tokens);
      for (int i = 0; i < reps + 1; ++i) {
        const auto start = Clock::now();
        const litegen::Status st = linear.Run(w, kMaxRows, x.data(), nullptr, y.data(), &pool);
        if (!st.ok()) fail(st);
        const double t = std::chrono::duration<double, std::milli>(Clock::now() - start).count();
        if (i > 0) ms.push_back(t);
      }
      const double ops = 2.0 * kMaxRows * w.n * w.k;
      const double med = Median(ms), best = *std::min_element(ms.begin(), ms.end());
      char gops[32];
      std::snprintf(gops, sizeof(gops), "%.0f (%.0f)", ops / med / 1e6, ops / best / 1e6);
      std::printf("%-9s %6lld %6lld %10.3f %15s%s\n", f.name, static_cast<long long>(w.n),
                  static_cast<long long>(w.k), med, gops, linear.uses_amx() ? " amx" : "");
    }
  }
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  int arg = 1;
  std::string mode = "sdpa";
  if (argc > 1 && (std::strcmp(argv[1], "linear") == 0 || std::strcmp(argv[1], "sdpa") == 0)) {
    mode = argv[1];
    arg = 2;
  }
  if (argc > 1 && std::strcmp(argv[1], "amx-prefill") == 0) {
    return BenchLinearAmxPrefill(argc > 2 ? argv[2] : nullptr);  // optional: a format or shape
  }
  if (mode == "linear") return LinearMain(argc > arg ? std::max(3, std::atoi(argv[arg])) : 20);
  return SdpaMain(argc > arg ? std::max(5, std::atoi(argv[arg])) : 200);
}
