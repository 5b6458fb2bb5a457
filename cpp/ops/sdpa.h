// Grouped-query causal scaled dot-product attention over a KV cache (the math of the
// LITEGEN_SDPA custom op, see docs/custom_ops.md), multithreaded and vectorized.
#ifndef LITEGEN_CPP_OPS_SDPA_H_
#define LITEGEN_CPP_OPS_SDPA_H_

#include <cstdint>
#include <string>
#include <vector>

#include "litert/host_tensor.h"
#include "litert/status.h"
#include "ops/thread_pool.h"

namespace litegen::ops {

// Instruction sets the attention kernel is written for. kAuto picks the best one this
// CPU supports (or the one named by the LITEGEN_ISA environment variable: scalar, avx2,
// avx512, neon, if available).
enum class Isa { kAuto, kScalar, kAvx2, kAvx512, kNeon };

const char* IsaName(Isa isa);
// Compiled into this binary and supported by this CPU (kAuto and kScalar always are).
bool IsaAvailable(Isa isa);
// The best available instruction set.
Isa BestIsa();
// Every available concrete instruction set, kScalar first.
std::vector<Isa> AvailableIsas();
// kAuto -> LITEGEN_ISA if set and available, else BestIsa(); others unchanged.
Isa ResolveIsa(Isa isa);

struct SdpaShape {
  int batch = 1;
  int q_heads = 1;   // Hq, a multiple of kv_heads
  int kv_heads = 1;  // Hkv
  int q_len = 1;     // T: queries (and positions)
  int kv_len = 1;    // S: rows of the k / v caches
  int head_dim = 1;  // D
};

struct SdpaParams {
  float scale = 1.0f;
  float logit_softcap = 0.0f;  // 0 = off
  int32_t sliding_window = 0;  // 0 = off
};

// Holds per-thread scratch memory (grown on demand, reused across calls): one object per
// kernel instance; not thread-safe.
class Sdpa {
 public:
  // An unavailable isa falls back to the best available one (see isa()).
  explicit Sdpa(Isa isa = Isa::kAuto);

  Isa isa() const { return isa_; }

  // q [B, Hq, T, D], k / v [B, Hkv, S, D], positions [T], out [B, Hq, T, D], all dense.
  // Reads k / v rows 0..max(positions) only. pool may be null (single thread).
  // Errors (kInput): inconsistent shapes, positions outside [0, S), bad parameters.
  Status Run(const SdpaShape& shape, const float* q, const float* k, const float* v,
             const int32_t* positions, const SdpaParams& params, float* out,
             ThreadPool* pool);
  // The same with float16 caches (IEEE half bits), widened to float32 as they are read.
  Status Run(const SdpaShape& shape, const float* q, const uint16_t* k, const uint16_t* v,
             const int32_t* positions, const SdpaParams& params, float* out,
             ThreadPool* pool);

  // Test hook: multithread regardless of the amount of work (normally small jobs run on
  // the calling thread, where waking the workers would cost more than it saves).
  void set_always_parallel(bool on) { always_parallel_ = on; }
  // Test hook: into how many ranges the last Run split each task's keys (1 = none).
  int64_t last_key_splits() const { return last_key_splits_; }

 private:
  struct Scratch {
    AlignedMemory memory;
    size_t floats = 0;
  };
  Status EnsureScratch(std::vector<Scratch>& scratch, size_t count, size_t floats);
  Status RunImpl(const SdpaShape& shape, const float* q, const void* k, const void* v,
                 bool kv_half, const int32_t* positions, const SdpaParams& params, float* out,
                 ThreadPool* pool);

  Isa isa_;
  bool always_parallel_ = false;
  int64_t last_key_splits_ = 1;
  std::vector<Scratch> thread_scratch_;
  std::vector<Scratch> partials_;  // [0] only: split-key partial results
};

// Validates a shape and parameters (positions are checked by Run).
Status ValidateSdpa(const SdpaShape& shape, const SdpaParams& params);

}  // namespace litegen::ops

#endif  // LITEGEN_CPP_OPS_SDPA_H_
