// The per-token math around attention, fused: RMSNorm and rotary position embedding.
//
// Why fused: in a decode step each of these runs on one token's few thousand floats, so
// their cost is the per-op overhead, not the math. As builtin ops they were ~24 of the
// ~50 nodes of a layer (pow, mean, add, rsqrt, two muls per norm; slices, neg, concat,
// two muls and an add per rotated tensor); as LITEGEN_RMS_NORM and LITEGEN_ROPE they are
// 4 (docs/custom_ops.md).
#ifndef LITEGEN_CPP_OPS_NORM_ROPE_H_
#define LITEGEN_CPP_OPS_NORM_ROPE_H_

#include <cstdint>

namespace litegen::ops {

// out[r, i] = x[r, i] * (1 / sqrt(mean_i(x[r, i]^2) + eps)) * weight[i] for rows r of
// `dim` floats (torch's order of operations; the mean is summed in float32 lanes).
// out may alias x.
void RmsNorm(const float* x, int64_t rows, int64_t dim, const float* weight, float eps,
             float* out);

// Rotates the first `rot` dims of every row of x [outer, t, d] by position row t of
// cos / sin [t, rot] (half-split pairs: out[i] = x[i] cos[i] - x[i + rot/2] sin[i] and
// out[i + rot/2] = x[i + rot/2] cos[i + rot/2] + x[i] sin[i + rot/2]); dims from `rot`
// on are copied. rot is even and <= d. out must not alias x.
void Rope(const float* x, int64_t outer, int64_t t, int64_t d, const float* cos,
          const float* sin, int64_t rot, float* out);

}  // namespace litegen::ops

#endif  // LITEGEN_CPP_OPS_NORM_ROPE_H_
