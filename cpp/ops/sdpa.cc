#include "ops/sdpa.h"

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <limits>

#include "ops/sdpa_kernels.h"

namespace litegen::ops {
namespace {

using internal::AttendFn;
using internal::AttentionTask;
using internal::kStrideAlign;

// Query rows per task: all query heads of a group times enough query positions to reach
// about this many rows (prefill), so each key / value row is reused from L1 that often.
constexpr int kTargetRows = 32;
// Below this many multiply-adds (q.k and p.v together) a call runs on the calling thread:
// a few us of work for the vector kernels. In decode the pool's workers are still spinning
// from the projection just before (LITEGEN_FC), so splitting pays from about 32 keys on
// (litegen_ops_bench sdpa, hot rows: 11.6 -> 6.8 us at 128 keys, 23.2 -> 12.5 at 256).
constexpr int64_t kMinParallelWork = int64_t{1} << 17;
constexpr int64_t kMinParallelWorkScalar = int64_t{1} << 15;  // ~8x slower per key
// A split of the key range (decode with few kv heads) covers at least this many keys.
constexpr int kMinKeysPerSplit = 64;

bool CpuHasAvx2() {
#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
  // F16C: the kernel widens float16 KV caches with it (every AVX2 CPU has it).
  return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma") &&
         __builtin_cpu_supports("f16c");
#else
  return false;
#endif
}

bool CpuHasAvx512() {
#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
  return __builtin_cpu_supports("avx512f") && CpuHasAvx2();
#else
  return false;
#endif
}

AttendFn KernelFor(Isa isa) {
  switch (isa) {
    case Isa::kScalar: return internal::AttendScalar();
    case Isa::kAvx2: return CpuHasAvx2() ? internal::AttendAvx2() : nullptr;
    case Isa::kAvx512: return CpuHasAvx512() ? internal::AttendAvx512() : nullptr;
    case Isa::kNeon: return internal::AttendNeon();
    case Isa::kAuto: break;
  }
  return nullptr;
}

int RoundUp(int x, int m) { return (x + m - 1) / m * m; }

}  // namespace

const char* IsaName(Isa isa) {
  switch (isa) {
    case Isa::kAuto: return "auto";
    case Isa::kScalar: return "scalar";
    case Isa::kAvx2: return "avx2";
    case Isa::kAvx512: return "avx512";
    case Isa::kNeon: return "neon";
  }
  return "unknown";
}

bool IsaAvailable(Isa isa) { return isa == Isa::kAuto || KernelFor(isa) != nullptr; }

Isa BestIsa() {
  for (Isa isa : {Isa::kAvx512, Isa::kAvx2, Isa::kNeon}) {
    if (IsaAvailable(isa)) return isa;
  }
  return Isa::kScalar;
}

std::vector<Isa> AvailableIsas() {
  std::vector<Isa> out;
  for (Isa isa : {Isa::kScalar, Isa::kAvx2, Isa::kAvx512, Isa::kNeon}) {
    if (IsaAvailable(isa)) out.push_back(isa);
  }
  return out;
}

Isa ResolveIsa(Isa isa) {
  if (isa != Isa::kAuto) return IsaAvailable(isa) ? isa : BestIsa();
  if (const char* name = std::getenv("LITEGEN_ISA")) {
    for (Isa candidate : AvailableIsas()) {
      if (std::strcmp(name, IsaName(candidate)) == 0) return candidate;
    }
  }
  return BestIsa();
}

Status ValidateSdpa(const SdpaShape& s, const SdpaParams& p) {
  auto fail = [](const std::string& message) {
    return Status(ErrorCode::kInput, "sdpa: " + message);
  };
  if (s.batch < 1 || s.q_heads < 1 || s.kv_heads < 1 || s.q_len < 0 || s.kv_len < 1 ||
      s.head_dim < 1) {
    return fail("dimensions must be positive (B=" + std::to_string(s.batch) +
                ", Hq=" + std::to_string(s.q_heads) + ", Hkv=" + std::to_string(s.kv_heads) +
                ", T=" + std::to_string(s.q_len) + ", S=" + std::to_string(s.kv_len) +
                ", D=" + std::to_string(s.head_dim) + ")");
  }
  if (s.q_heads % s.kv_heads != 0) {
    return fail("query heads (" + std::to_string(s.q_heads) +
                ") must be a multiple of kv heads (" + std::to_string(s.kv_heads) + ")");
  }
  if (s.head_dim > (1 << 16) || s.q_heads / s.kv_heads > (1 << 16)) {
    return fail("head_dim and heads per group must be at most 65536");
  }
  if (!std::isfinite(p.scale)) return fail("scale must be finite");
  if (!(p.logit_softcap >= 0.0f) || !std::isfinite(p.logit_softcap)) {
    return fail("logit_softcap must be finite and >= 0, got " + std::to_string(p.logit_softcap));
  }
  if (p.sliding_window < 0) {
    return fail("sliding_window must be >= 0, got " + std::to_string(p.sliding_window));
  }
  return Status::Ok();
}

Sdpa::Sdpa(Isa isa) : isa_(ResolveIsa(isa)) {}

Status Sdpa::EnsureScratch(std::vector<Scratch>& scratch, size_t count, size_t floats) {
  if (scratch.size() < count) scratch.resize(count);
  for (size_t i = 0; i < count; ++i) {
    if (scratch[i].floats >= floats) continue;
    LITEGEN_ASSIGN_OR_RETURN(scratch[i].memory, AllocateAligned(floats * sizeof(float)));
    scratch[i].floats = floats;
  }
  return Status::Ok();
}

Status Sdpa::Run(const SdpaShape& shape, const float* q, const float* k, const float* v,
                 const int32_t* positions, const SdpaParams& params, float* out,
                 ThreadPool* pool) {
  return RunImpl(shape, q, k, v, /*kv_half=*/false, positions, params, out, pool);
}

Status Sdpa::Run(const SdpaShape& shape, const float* q, const uint16_t* k, const uint16_t* v,
                 const int32_t* positions, const SdpaParams& params, float* out,
                 ThreadPool* pool) {
  return RunImpl(shape, q, k, v, /*kv_half=*/true, positions, params, out, pool);
}

Status Sdpa::RunImpl(const SdpaShape& shape, const float* q, const void* k, const void* v,
                     bool kv_half, const int32_t* positions, const SdpaParams& params,
                     float* out, ThreadPool* pool) {
  LITEGEN_RETURN_IF_ERROR(ValidateSdpa(shape, params));
  const int B = shape.batch, Hq = shape.q_heads, Hkv = shape.kv_heads, T = shape.q_len,
            S = shape.kv_len, D = shape.head_dim;
  if (T == 0) return Status::Ok();
  int32_t max_pos = 0;
  for (int t = 0; t < T; ++t) {
    if (positions[t] < 0 || positions[t] >= S) {
      return Status(ErrorCode::kInput, "sdpa: input_pos[" + std::to_string(t) + "] = " +
                                           std::to_string(positions[t]) + " is outside [0, " +
                                           std::to_string(S) + ") (the cache length)");
    }
    max_pos = std::max(max_pos, positions[t]);
  }
  const AttendFn attend = KernelFor(isa_);
  if (attend == nullptr) return Status(ErrorCode::kInternal, "sdpa: no kernel");

  const int group = Hq / Hkv;
  const int dp = RoundUp(D, kStrideAlign);
  const int key_block = std::clamp((4096 / D) / kStrideAlign * kStrideAlign, kStrideAlign, 256);
  const int q_block = T == 1 ? 1 : std::max(1, std::min(T, kTargetRows / group));
  const int num_q_blocks = (T + q_block - 1) / q_block;
  const int max_rows = group * q_block;
  const int64_t visible = int64_t{max_pos} + 1;
  const int64_t base_units = int64_t{B} * Hkv * num_q_blocks;

  const int threads = pool != nullptr ? pool->num_threads() : 1;
  // Keys a query row reads at most (the window, if any, bounds it).
  const int64_t span = params.sliding_window > 0
                           ? std::min<int64_t>(visible, int64_t{params.sliding_window})
                           : visible;
  const int64_t work = 2 * int64_t{B} * Hq * T * span * D;
  const int64_t min_work = isa_ == Isa::kScalar ? kMinParallelWorkScalar : kMinParallelWork;
  const bool parallel = threads > 1 && (always_parallel_ || work >= min_work);
  int64_t splits = 1;
  if (parallel && base_units % threads != 0 && base_units < 4 * threads) {
    // Few (batch, kv head) tasks for the threads (decode): also split the keys.
    splits = (4 * threads + base_units - 1) / base_units;
    splits = std::max<int64_t>(1, std::min<int64_t>(splits, span / kMinKeysPerSplit));
  }
  const int64_t units = base_units * splits;
  last_key_splits_ = splits;

  // Per-thread scratch: q rows, scores, acc (rows x dp / key_block) + max, sum, lo, hi.
  const size_t rows_floats = static_cast<size_t>(max_rows);
  const size_t scratch_floats =
      rows_floats * (2 * static_cast<size_t>(dp) + key_block) + 4 * rows_floats;
  if (scratch_floats > (size_t{1} << 28)) {  // also keeps the kernels' int indices safe
    return Status(ErrorCode::kUnsupported,
                  "sdpa: " + std::to_string(group) + " query heads per kv head with head_dim " +
                      std::to_string(D) + " need more scratch memory than supported");
  }
  LITEGEN_RETURN_IF_ERROR(
      EnsureScratch(thread_scratch_, parallel ? threads : 1, scratch_floats));
  const size_t partial_floats = rows_floats * (dp + 2);
  if (splits > 1) {
    LITEGEN_RETURN_IF_ERROR(EnsureScratch(partials_, 1, partial_floats * units));
  }
  float* partials = splits > 1 ? static_cast<float*>(partials_[0].memory.get()) : nullptr;

  const float scale = params.scale;
  const int32_t window = params.sliding_window;
  const float softcap = params.logit_softcap;
  // Bytes per (batch, kv head) of the caches.
  const int64_t kv_head_bytes =
      int64_t{S} * D * static_cast<int64_t>(kv_half ? sizeof(uint16_t) : sizeof(float));

  auto run_unit = [&](int64_t u, int thread) {
    const int64_t split = u % splits;
    const int64_t base = u / splits;
    const int qi = static_cast<int>(base % num_q_blocks);
    const int64_t bh = base / num_q_blocks;  // b * Hkv + kv head
    const int kvh = static_cast<int>(bh % Hkv);
    const int b = static_cast<int>(bh / Hkv);
    // Zig-zag order (0, n-1, 1, n-2, ...) so contiguous chunks of units carry similar
    // causal work.
    const int qb = (qi % 2 == 0) ? qi / 2 : num_q_blocks - 1 - qi / 2;
    const int t0 = qb * q_block;
    const int tn = std::min(q_block, T - t0);
    const int rows = group * tn;

    float* mem = static_cast<float*>(thread_scratch_[thread].memory.get());
    float* qs = mem;
    float* acc = qs + rows_floats * dp;
    float* scores = acc + rows_floats * dp;
    float* row_max = scores + rows_floats * key_block;
    float* row_sum = row_max + rows_floats;
    int32_t* lo = reinterpret_cast<int32_t*>(row_sum + rows_floats);
    int32_t* hi = lo + rows_floats;

    int32_t key_min = std::numeric_limits<int32_t>::max(), key_max = -1;
    for (int g = 0; g < group; ++g) {
      const int h = kvh * group + g;
      for (int tt = 0; tt < tn; ++tt) {
        const int r = g * tn + tt;
        const float* src = q + ((int64_t{b} * Hq + h) * T + t0 + tt) * D;
        float* dst = qs + static_cast<int64_t>(r) * dp;
        for (int x = 0; x < D; ++x) dst[x] = src[x] * scale;
        for (int x = D; x < dp; ++x) dst[x] = 0.0f;
        const int32_t pos = positions[t0 + tt];
        hi[r] = pos;
        lo[r] = window > 0 ? std::max<int32_t>(0, pos - window + 1) : 0;
        key_min = std::min(key_min, lo[r]);
        key_max = std::max(key_max, pos);
      }
    }
    int64_t begin = key_min, end = int64_t{key_max} + 1;
    if (splits > 1) {
      const int64_t len = end - begin;
      end = begin + len * (split + 1) / splits;
      begin = begin + len * split / splits;
    }

    AttentionTask task;
    task.k = static_cast<const char*>(k) + bh * kv_head_bytes;
    task.v = static_cast<const char*>(v) + bh * kv_head_bytes;
    task.kv_half = kv_half;
    task.head_dim = D;
    task.rows = rows;
    task.q = qs;
    task.q_stride = dp;
    task.lo = lo;
    task.hi = hi;
    task.key_begin = static_cast<int>(begin);
    task.key_end = static_cast<int>(end);
    task.key_block = key_block;
    task.softcap = softcap;
    task.scores = scores;
    task.acc = acc;
    task.max = row_max;
    task.sum = row_sum;
    attend(task);

    if (splits == 1) {
      for (int g = 0; g < group; ++g) {
        const int h = kvh * group + g;
        for (int tt = 0; tt < tn; ++tt) {
          const int r = g * tn + tt;
          float* dst = out + ((int64_t{b} * Hq + h) * T + t0 + tt) * D;
          const float* a = acc + static_cast<int64_t>(r) * dp;
          const float inv = 1.0f / row_sum[r];  // sum > 0: a row sees its own position
          for (int x = 0; x < D; ++x) dst[x] = a[x] * inv;
        }
      }
    } else {
      float* part = partials + u * partial_floats;
      std::memcpy(part, acc, sizeof(float) * rows * dp);
      std::memcpy(part + rows_floats * dp, row_max, sizeof(float) * rows);
      std::memcpy(part + rows_floats * dp + rows_floats, row_sum, sizeof(float) * rows);
    }
  };

  if (parallel) {
    pool->ParallelFor(units, run_unit);
  } else {
    for (int64_t u = 0; u < units; ++u) run_unit(u, 0);
  }

  if (splits > 1) {
    // Merge the key splits of each task: rescale each split's sum and accumulator to the
    // common maximum.
    for (int64_t base = 0; base < base_units; ++base) {
      const int qb = [&] {
        const int qi = static_cast<int>(base % num_q_blocks);
        return (qi % 2 == 0) ? qi / 2 : num_q_blocks - 1 - qi / 2;
      }();
      const int64_t bh = base / num_q_blocks;
      const int kvh = static_cast<int>(bh % Hkv);
      const int b = static_cast<int>(bh / Hkv);
      const int t0 = qb * q_block;
      const int tn = std::min(q_block, T - t0);
      const float* first = partials + base * splits * partial_floats;
      for (int g = 0; g < group; ++g) {
        const int h = kvh * group + g;
        for (int tt = 0; tt < tn; ++tt) {
          const int r = g * tn + tt;
          float m = -std::numeric_limits<float>::infinity();
          for (int64_t s = 0; s < splits; ++s) {
            m = std::max(m, first[s * partial_floats + rows_floats * dp + r]);
          }
          float* dst = out + ((int64_t{b} * Hq + h) * T + t0 + tt) * D;
          for (int x = 0; x < D; ++x) dst[x] = 0.0f;
          float l = 0.0f;
          for (int64_t s = 0; s < splits; ++s) {
            const float* part = first + s * partial_floats;
            const float sm = part[rows_floats * dp + r];
            if (sm == -std::numeric_limits<float>::infinity()) continue;  // saw no keys
            const float w = std::exp(sm - m);
            l += w * part[rows_floats * dp + rows_floats + r];
            const float* a = part + static_cast<int64_t>(r) * dp;
            for (int x = 0; x < D; ++x) dst[x] += w * a[x];
          }
          const float inv = 1.0f / l;
          for (int x = 0; x < D; ++x) dst[x] *= inv;
        }
      }
    }
  }
  return Status::Ok();
}

}  // namespace litegen::ops
