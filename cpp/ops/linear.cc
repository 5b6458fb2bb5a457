#include "ops/linear.h"

#include <math.h>

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <string>

namespace litegen::ops {
namespace {

using internal::LinearFn;
using internal::LinearTask;

// From this many rows on, the AMX kernel (16-row tiles) beats the vector one. Measured
// (Sapphire Rapids, 2 threads, TinyLlama shapes, hot weights): the AMX call takes about as
// long for 1 to 8 rows (it streams the weights once: 8 rows int8 = 0.8-2.0 TOPS, int4-b32
// 0.4-0.5 TOPS) while a VNNI kernel's time grows with the rows (8 rows int8 = 8 x 64-MAC
// VPDPBUSD per 64 weight bytes, about AMX's time at one VPDPBUSD per cycle per core).
constexpr int64_t kAmxMinRows = 8;
// Below this many multiply-adds a call runs on the calling thread (waking the workers
// costs more than it saves).
constexpr int64_t kMinParallelWork = int64_t{1} << 17;
// Output channels per unit of work: every range a thread gets starts at a multiple.
constexpr int64_t kChannelBlock = 64;
// Calls with at most this many rows stream the weights (decode); more reuse them.
constexpr int64_t kMaxStreamingRows = 4;
// Their unit of work stealing: smaller, so the last piece one thread waits for at the end
// of each matmul is shorter (TinyLlama int8 decode, 2 threads: 64 / 32 / 16 channels gave
// 26.6 / 26.8 / 26.9 tok/s; 16 channels of K = 2048 are 32 KiB, ~2 us of one core's
// bandwidth).
constexpr int64_t kStreamingChannelBlock = 16;
constexpr int64_t kRowAlign = 64;

bool CpuHasAvx2() {
#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
  return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma") &&
         __builtin_cpu_supports("f16c");
#else
  return false;
#endif
}

bool CpuHasAvx512Vnni() {
#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
  return __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
         __builtin_cpu_supports("avx512vl") && __builtin_cpu_supports("avx512vnni") &&
         CpuHasAvx2();
#else
  return false;
#endif
}

LinearFn KernelFor(Isa isa) {
  switch (isa) {
    case Isa::kScalar: return internal::LinearScalar();
    case Isa::kAvx2: return CpuHasAvx2() ? internal::LinearAvx2() : nullptr;
    case Isa::kAvx512: return CpuHasAvx512Vnni() ? internal::LinearAvx512() : nullptr;
    case Isa::kNeon: return internal::LinearNeon();
    case Isa::kAuto: break;
  }
  return nullptr;
}

bool AmxDisabledByEnv() {
  const char* env = std::getenv("LITEGEN_AMX");
  return env != nullptr && std::strcmp(env, "0") == 0;
}

struct RunContext {
  LinearFn fn;
  LinearTask task;  // everything but the channel range and scratch
  int64_t n;
  int64_t channel_block;  // channels per work item
  uint8_t* scratch;
  WorkRanges* ranges;  // the channel blocks, when the call is split over threads
};

// Channel blocks [begin, end) on `thread`'s scratch.
void RunBlocks(const RunContext& c, int64_t begin, int64_t end, int thread) {
  LinearTask task = c.task;
  task.n_begin = begin * c.channel_block;
  task.n_end = std::min(end * c.channel_block, c.n);
  task.scratch = c.scratch + static_cast<size_t>(thread) * internal::kLinearScratchBytes;
  c.fn(task);
}

// One call per thread: claims blocks until none is left (see WorkRanges).
void RunClaimed(void* ctx, int64_t /*begin*/, int64_t /*end*/, int thread) {
  const auto& c = *static_cast<const RunContext*>(ctx);
  int64_t begin = 0, end = 0;
  while (c.ranges->Claim(thread, &begin, &end)) RunBlocks(c, begin, end, thread);
}

struct QuantizeContext {
  const float* x;
  int64_t k;
  uint8_t* xq;
  int64_t stride;
  float* scale;
  int32_t* zero;
};

void QuantizeRange(void* ctx, int64_t begin, int64_t end, int /*thread*/) {
  const auto& c = *static_cast<const QuantizeContext*>(ctx);
  for (int64_t m = begin; m < end; ++m) {
    QuantizeRow(c.x + m * c.k, c.k, c.xq + m * c.stride, c.scale + m, c.zero + m);
  }
}

}  // namespace

// Plain loops the compiler vectorizes for each target; every step is exact IEEE arithmetic
// (min, max, multiply, round to nearest even), so each clone gives identical bytes.
#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__)
__attribute__((target_clones("avx512f", "avx2", "default")))
#endif
void QuantizeRow(const float* x, int64_t k, uint8_t* xq, float* scale, int32_t* zero) {
  // 16 independent running min / max: one serial chain would cost a compare's latency per
  // element. The result does not depend on the order: min and max are exact, NaNs are
  // skipped either way (a false compare keeps the running value), and -0 never replaces +0.
  constexpr int kLanes = 16;
  float lo_lane[kLanes] = {};
  float hi_lane[kLanes] = {};
  int64_t i = 0;
#if defined(__GNUC__) && !defined(__clang__)
  // GCC keeps the scalar selects below scalar (no -ffinite-math-only); vector-extension
  // selects become each clone's min / max instructions. Clang vectorizes the plain loop.
  typedef float Lanes __attribute__((vector_size(kLanes * sizeof(float))));
  Lanes lo_v = {};
  Lanes hi_v = {};
  for (; i + kLanes <= k; i += kLanes) {
    Lanes v;
    std::memcpy(&v, x + i, sizeof(v));
    lo_v = v < lo_v ? v : lo_v;
    hi_v = v > hi_v ? v : hi_v;
  }
  std::memcpy(lo_lane, &lo_v, sizeof(lo_v));
  std::memcpy(hi_lane, &hi_v, sizeof(hi_v));
#else
  for (; i + kLanes <= k; i += kLanes) {
    for (int j = 0; j < kLanes; ++j) {
      const float v = x[i + j];
      lo_lane[j] = v < lo_lane[j] ? v : lo_lane[j];
      hi_lane[j] = v > hi_lane[j] ? v : hi_lane[j];
    }
  }
#endif
  float lo = 0.0f;
  float hi = 0.0f;
  for (int j = 0; j < kLanes; ++j) {
    lo = lo_lane[j] < lo ? lo_lane[j] : lo;
    hi = hi_lane[j] > hi ? hi_lane[j] : hi;
  }
  for (; i < k; ++i) {
    lo = x[i] < lo ? x[i] : lo;
    hi = x[i] > hi ? x[i] : hi;
  }
  if (!(hi > lo)) {  // all zero (or NaN): every byte is the zero point 0
    *scale = 1.0f;
    *zero = 0;
    std::memset(xq, 0, static_cast<size_t>(k));
    return;
  }
  const float inv = 255.0f / (hi - lo);
  *scale = (hi - lo) / 255.0f;
  const float z = std::min(std::max(rintf(-lo * inv), 0.0f), 255.0f);
  *zero = static_cast<int32_t>(z);
  for (int64_t i = 0; i < k; ++i) {
    const float q = rintf(x[i] * inv) + z;
    xq[i] = static_cast<uint8_t>(std::min(std::max(q, 0.0f), 255.0f));
  }
}

Status ValidateLinearWeights(const LinearWeights& w) {
  auto fail = [&](const std::string& why) {
    return Status(ErrorCode::kInput, "linear weight [" + std::to_string(w.n) + ", " +
                                         std::to_string(w.k) + "]: " + why);
  };
  if (w.n < 1 || w.k < 1) return fail("empty");
  if (w.k % 64 != 0) return fail("in_features must be a multiple of 64");
  if (w.data == nullptr || w.wsum == nullptr) return fail("missing data or row sums");
  if (w.format != WeightFormat::kInt8 && w.format != WeightFormat::kInt4 &&
      w.format != WeightFormat::kInt4Interleaved) {
    return fail("unknown weight format");
  }
  const bool per_channel = w.block == w.k && w.format != WeightFormat::kInt4Interleaved;
  if (per_channel) {
    if (w.channel_scales == nullptr) return fail("missing per-channel scales");
  } else {
    if (w.format == WeightFormat::kInt8) return fail("int8 weights are per channel only");
    if (w.block < 32 || w.block % 32 != 0 || w.k % w.block != 0) {
      return fail("block size " + std::to_string(w.block) +
                  " must be a multiple of 32 that divides in_features");
    }
    if (w.format == WeightFormat::kInt4 && w.block_scales == nullptr) {
      return fail("missing block scales");
    }
    if (w.format == WeightFormat::kInt4Interleaved &&
        (w.block_codes == nullptr || w.channel_scales == nullptr)) {
      return fail("missing block codes or channel scales");
    }
  }
  // 255 * 128 * k must fit int32 (per-channel sums run over the whole row).
  if (w.k > 32768) return fail("in_features above 32768 are not supported");
  return Status::Ok();
}

Linear::Linear(Isa isa, bool allow_amx) : isa_(ResolveIsa(isa)) {
  // AMX follows the requested set (not the kernel found for it), so it is used on an
  // AVX-512 CPU even in a build whose AVX-512 vector kernel is missing.
  const bool avx512_cpu = isa_ == Isa::kAvx512 && CpuHasAvx512Vnni();
  kernel_ = KernelFor(isa_);
  // A set this kernel lacks (e.g. AVX-512 without VNNI): the next best one.
  for (Isa fallback : {Isa::kAvx2, Isa::kNeon, Isa::kScalar}) {
    if (kernel_ != nullptr) break;
    isa_ = fallback;
    kernel_ = KernelFor(isa_);
  }
  if (allow_amx && avx512_cpu && !AmxDisabledByEnv()) amx_ = internal::LinearAmx();
}

Status Linear::Run(const LinearWeights& w, int64_t rows, const float* x, const float* bias,
                   float* y, ThreadPool* pool) {
  LITEGEN_RETURN_IF_ERROR(ValidateLinearWeights(w));
  if (rows < 0) return Status(ErrorCode::kInput, "negative row count");
  if (rows == 0) return Status::Ok();
  const int threads = pool != nullptr ? pool->num_threads() : 1;
  const bool parallel =
      threads > 1 && (always_parallel_ || rows * w.n * w.k >= kMinParallelWork);

  // Quantize the activations.
  const int64_t stride = (w.k + kRowAlign - 1) / kRowAlign * kRowAlign;
  const size_t need = static_cast<size_t>(rows * stride);
  if (xq_bytes_ < need) {
    LITEGEN_ASSIGN_OR_RETURN(xq_, AllocateAligned(need));
    xq_bytes_ = need;
  }
  if (x_scale_.size() < static_cast<size_t>(rows)) {
    x_scale_.resize(rows);
    x_zero_.resize(rows);
  }
  auto* xq = static_cast<uint8_t*>(xq_.get());
  QuantizeContext q{x, w.k, xq, stride, x_scale_.data(), x_zero_.data()};
  if (parallel && rows > 1) {
    pool->ParallelForRange(rows, &QuantizeRange, &q);
  } else {
    QuantizeRange(&q, 0, rows, 0);
  }

  if (scratch_threads_ < threads) {
    LITEGEN_ASSIGN_OR_RETURN(scratch_, AllocateAligned(threads * internal::kLinearScratchBytes));
    scratch_threads_ = threads;
  }
  RunContext c;
  c.fn = amx_ != nullptr && rows >= kAmxMinRows ? amx_ : kernel_;
  c.task.w = &w;
  c.task.rows = rows;
  c.task.xq = xq;
  c.task.xq_stride = stride;
  c.task.x_scale = x_scale_.data();
  c.task.x_zero = x_zero_.data();
  c.task.bias = bias;
  c.task.y = y;
  c.task.y_stride = w.n;
  c.n = w.n;
  c.scratch = static_cast<uint8_t*>(scratch_.get());
  c.ranges = &ranges_;
  c.channel_block = rows <= kMaxStreamingRows ? kStreamingChannelBlock : kChannelBlock;
  const int64_t blocks = (w.n + c.channel_block - 1) / c.channel_block;
  if (parallel && blocks > 1) {
    // One call per pool thread (ParallelForRange passes the thread's own index).
    ranges_.Reset(blocks, threads);
    if (rows <= kMaxStreamingRows) {  // decode: bandwidth-bound, worth prefetching
      // Posted before the job: a worker that finishes its part first prefetches at once.
      const size_t row_bytes = static_cast<size_t>(
          w.format == WeightFormat::kInt8 ? w.k : w.k / 2);
      if (last_read_ != nullptr) next_read_[last_read_] = Region{w.data, row_bytes * w.n};
      last_read_ = w.data;
      const auto next = next_read_.find(w.data);
      if (next != next_read_.end()) pool->HintNextJob(next->second.data, next->second.bytes);
    }
    pool->ParallelForRange(threads, &RunClaimed, &c);
  } else {
    RunBlocks(c, 0, blocks, 0);
  }
  return Status::Ok();
}

}  // namespace litegen::ops
