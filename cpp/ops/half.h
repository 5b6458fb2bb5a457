// IEEE 754 binary16 ("half") <-> float32 conversions, portable C++ (the KV-cache update
// and the scalar kernels; the SIMD kernels use the hardware conversions, which give the
// same results).
#ifndef LITEGEN_CPP_OPS_HALF_H_
#define LITEGEN_CPP_OPS_HALF_H_

#include <cstdint>

namespace litegen::ops {

// Exact (every half is a float): subnormals, infinities and NaNs (payload kept) included.
float HalfToFloat(uint16_t h);

// Round to nearest, ties to even (what F16C / NEON conversions do by default): values of
// magnitude >= 65520 become +-inf, NaN stays a (quiet) NaN, tiny values go subnormal / 0.
uint16_t FloatToHalf(float f);

}  // namespace litegen::ops

#endif  // LITEGEN_CPP_OPS_HALF_H_
