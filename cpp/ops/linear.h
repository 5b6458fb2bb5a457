// Quantized-weight matrix multiplication: the math of the LITEGEN_FC custom op (see
// docs/custom_ops.md), multithreaded and vectorized.
//
// y[M, N] = x[M, K] @ dequant(W)[N, K]^T (+ bias), with W int8 per channel or int4 (per
// channel or blockwise) read in place from the model file, and x quantized per row to
// asymmetric uint8 (dynamic range, like XNNPack's qd8 and TFLite's hybrid kernels).
// One row (decode) is a matrix-vector product that streams the weights once at memory
// bandwidth; many rows (prefill) reuse each weight block for all of them.
#ifndef LITEGEN_CPP_OPS_LINEAR_H_
#define LITEGEN_CPP_OPS_LINEAR_H_

#include <cstdint>
#include <unordered_map>
#include <vector>

#include "litert/host_tensor.h"
#include "litert/status.h"
#include "ops/linear_kernels.h"
#include "ops/sdpa.h"  // Isa
#include "ops/thread_pool.h"
#include "ops/work_ranges.h"

namespace litegen::ops {

using internal::LinearWeights;
using internal::WeightFormat;

// Quantizes one row of k floats: lo = min(0, min x), hi = max(0, max x); if hi == lo the
// row is all zero (scale 1, zero point 0); else scale = (hi - lo) / 255,
// inv = 255 / (hi - lo), zero = clamp(nearbyint(-lo * inv), 0, 255) and
// xq[i] = clamp(nearbyint(x[i] * inv) + zero, 0, 255) (round half to even).
void QuantizeRow(const float* x, int64_t k, uint8_t* xq, float* scale, int32_t* zero);

// Checks a weight description: sizes, block, scale and wsum pointers (kInput errors).
Status ValidateLinearWeights(const LinearWeights& w);

// Holds per-thread scratch memory (grown on demand, reused across calls): one object per
// kernel instance; not thread-safe.
class Linear {
 public:
  // An unavailable isa falls back to the best available one (see isa()). With kAvx512 (or
  // kAuto on such a CPU) calls with many rows use AMX tiles when the CPU and the OS allow
  // it, unless allow_amx is false (or LITEGEN_AMX=0 is set).
  explicit Linear(Isa isa = Isa::kAuto, bool allow_amx = true);

  Isa isa() const { return isa_; }
  // Whether calls with many rows use the AMX kernel.
  bool uses_amx() const { return amx_ != nullptr; }

  // x: rows x w.k floats (dense), y: rows x w.n floats, bias [w.n] or null. pool may be null
  // (single thread). Errors (kInput): invalid weights.
  Status Run(const LinearWeights& w, int64_t rows, const float* x, const float* bias, float* y,
             ThreadPool* pool);

  // Test hook: multithread regardless of the amount of work.
  void set_always_parallel(bool on) { always_parallel_ = on; }

 private:
  Isa isa_;
  internal::LinearFn kernel_ = nullptr;  // the vector (or scalar) kernel
  internal::LinearFn amx_ = nullptr;     // for rows >= kAmxMinRows, when usable
  bool always_parallel_ = false;
  AlignedMemory xq_;  // quantized activations
  size_t xq_bytes_ = 0;
  std::vector<float> x_scale_;
  std::vector<int32_t> x_zero_;
  AlignedMemory scratch_;  // kLinearScratchBytes per thread
  int scratch_threads_ = 0;
  WorkRanges ranges_;  // the channel blocks of a call split over threads
  // Decode runs the same matmuls in the same order at every step: for each weight, the one
  // that came next last time, which the pool's idle workers prefetch (HintNextJob).
  struct Region {
    const void* data = nullptr;
    size_t bytes = 0;
  };
  std::unordered_map<const void*, Region> next_read_;
  const void* last_read_ = nullptr;
};

}  // namespace litegen::ops

#endif  // LITEGEN_CPP_OPS_LINEAR_H_
