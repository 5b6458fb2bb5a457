// litegen's built-in custom kernels, ready to pass to CompileOptions::custom_ops:
//   LITEGEN_KV_CACHE_UPDATE (v1)  in-place KV-cache write         (ops/kv_cache.h)
//   LITEGEN_SDPA (v1)             grouped-query causal attention  (ops/sdpa.h)
//   LITEGEN_FC (v1)               quantized-weight matmul         (ops/linear.h)
//   LITEGEN_RMS_NORM (v1)         RMSNorm                         (ops/norm_rope.h)
//   LITEGEN_ROPE (v1)             rotary position embedding       (ops/norm_rope.h)
//   LITEGEN_GLU (v1)              gated activation (SwiGLU, GeGLU) (ops/glu.h)
// The contract (inputs, outputs, semantics) is docs/custom_ops.md.
#ifndef LITEGEN_CPP_OPS_BUILTIN_OPS_H_
#define LITEGEN_CPP_OPS_BUILTIN_OPS_H_

#include <memory>
#include <vector>

#include "litert/custom_op.h"
#include "ops/sdpa.h"

namespace litegen::ops {

inline constexpr char kKvCacheUpdateOpName[] = "LITEGEN_KV_CACHE_UPDATE";
inline constexpr char kSdpaOpName[] = "LITEGEN_SDPA";
inline constexpr char kFcOpName[] = "LITEGEN_FC";
inline constexpr char kRmsNormOpName[] = "LITEGEN_RMS_NORM";
inline constexpr char kRopeOpName[] = "LITEGEN_ROPE";
inline constexpr char kGluOpName[] = "LITEGEN_GLU";
inline constexpr int kBuiltinOpVersion = 1;

// The kernels. Each compiled model gets its own instances (shared by all nodes of the op in
// every signature). SDPA and FC run on a thread pool of num_threads threads (the caller
// plus num_threads - 1 workers, started at the first run), normally the compiled model's
// num_threads; BuiltinCustomOps gives both one shared pool, the Make* functions a pool per
// kernel. KV-cache writes are memcpy-bound and run on the caller. `isa` forces an
// instruction set (tests, benchmarks); kAuto picks the best one for this CPU. RMSNorm,
// RoPE and GLU are per-token vector loops on the caller.
std::unique_ptr<CustomOp> MakeKvCacheUpdateOp();
std::unique_ptr<CustomOp> MakeSdpaOp(int num_threads, Isa isa = Isa::kAuto);
std::unique_ptr<CustomOp> MakeFcOp(int num_threads, Isa isa = Isa::kAuto);
std::unique_ptr<CustomOp> MakeRmsNormOp();
std::unique_ptr<CustomOp> MakeRopeOp();
std::unique_ptr<CustomOp> MakeGluOp();

// Registrations of every built-in kernel.
std::vector<CustomOpRegistration> BuiltinCustomOps(int num_threads, Isa isa = Isa::kAuto);

}  // namespace litegen::ops

namespace litegen {
using ops::BuiltinCustomOps;
}  // namespace litegen

#endif  // LITEGEN_CPP_OPS_BUILTIN_OPS_H_
