// Portable attention kernel: plain C++ (the compiler may still auto-vectorize it for the
// baseline target). Also the reference the SIMD kernels are tested against.
#include <math.h>

#include <cstdint>

#include "ops/sdpa_kernels.h"

namespace litegen::ops::internal {
namespace scalar {
namespace {

constexpr float kNegInf = -__builtin_inff();

struct VecScalar {
  static constexpr int W = 1;
  static constexpr int kPvChunks = 4;
  static constexpr int kTileKeys = 1;
  using V = float;
  static V zero() { return 0.0f; }
  static V set1(float x) { return x; }
  static V load(const float* p) { return *p; }
  static V loadn(const float* p, int n) { return n > 0 ? *p : 0.0f; }
  // Half -> float, exact, without branches on the value's class: the 15 magnitude bits
  // moved to a float's exponent / mantissa positions are the value times 2^-112 (a
  // subnormal half lands on a float subnormal), so one exact multiply by 2^112 rebases
  // the exponent; infinities and NaNs first get the all-ones exponent. (4x faster than
  // the general ops::HalfToFloat, which the scalar kernel would call per element.)
  static V Widen(uint16_t h) {
    uint32_t bits = static_cast<uint32_t>(h & 0x7FFF) << 13;
    if ((h & 0x7C00) == 0x7C00) bits |= 0x7F800000u;
    float f;
    __builtin_memcpy(&f, &bits, sizeof(f));
    f *= 0x1p112f;
    __builtin_memcpy(&bits, &f, sizeof(f));
    bits |= static_cast<uint32_t>(h & 0x8000) << 16;
    __builtin_memcpy(&f, &bits, sizeof(f));
    return f;
  }
  static V load(const uint16_t* p) { return Widen(*p); }
  static V loadn(const uint16_t* p, int n) { return n > 0 ? Widen(*p) : 0.0f; }
  static void store(float* p, V v) { *p = v; }
  static V fma(V a, V b, V c) { return a * b + c; }
  static V mul(V a, V b) { return a * b; }
  static V add(V a, V b) { return a + b; }
  static V sub(V a, V b) { return a - b; }
  static V max(V a, V b) { return a > b ? a : b; }
  static float hsum(V v) { return v; }
  static float hmax(V v) { return v; }
  static void hsum4(V a, V b, V c, V d, float* out, int stride) {
    out[0] = a;
    out[stride] = b;
    out[2 * stride] = c;
    out[3 * stride] = d;
  }
  static void ReduceTile(const V* acc, float* out, int stride) {
    for (int r = 0; r < 4; ++r) out[r * stride] = acc[r];
  }
  static V exp(V x) { return expf(x); }
  static float exp1(float x) { return expf(x); }
  static V tanh(V x) { return tanhf(x); }
};

using VT = VecScalar;
#include "ops/sdpa_attend.inc"

}  // namespace
}  // namespace scalar

AttendFn AttendScalar() { return &scalar::Attend; }

}  // namespace litegen::ops::internal
