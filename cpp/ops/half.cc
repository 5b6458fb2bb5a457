#include "ops/half.h"

#include <cstring>

namespace litegen::ops {

float HalfToFloat(uint16_t h) {
  const uint32_t sign = static_cast<uint32_t>(h & 0x8000) << 16;
  const uint32_t exponent = (h >> 10) & 0x1F;
  uint32_t mantissa = h & 0x3FF;
  uint32_t bits;
  if (exponent == 0x1F) {
    bits = sign | 0x7F800000u | (mantissa << 13);  // inf / NaN
  } else if (exponent != 0) {
    bits = sign | ((exponent + 112) << 23) | (mantissa << 13);
  } else if (mantissa == 0) {
    bits = sign;  // +-0
  } else {
    // Subnormal half: normalize.
    int e = -1;
    do {
      ++e;
      mantissa <<= 1;
    } while ((mantissa & 0x400) == 0);
    bits = sign | (static_cast<uint32_t>(112 - e) << 23) | ((mantissa & 0x3FF) << 13);
  }
  float f;
  std::memcpy(&f, &bits, sizeof(f));
  return f;
}

uint16_t FloatToHalf(float f) {
  uint32_t x;
  std::memcpy(&x, &f, sizeof(x));
  const uint32_t sign = (x >> 16) & 0x8000;
  const uint32_t abs = x & 0x7FFFFFFFu;
  if (abs >= 0x7F800000u) {  // inf, or NaN (quiet, top payload bits kept)
    return static_cast<uint16_t>(sign | 0x7C00 |
                                 (abs > 0x7F800000u ? 0x200 | ((abs >> 13) & 0x3FF) : 0));
  }
  const uint32_t e = abs >> 23;  // biased float exponent
  const uint32_t mantissa = abs & 0x7FFFFF;
  uint32_t bits, rest, halfway;
  if (e >= 113) {  // a normal half (or overflow): drop 13 mantissa bits
    if (e >= 143) return static_cast<uint16_t>(sign | 0x7C00);
    bits = ((e - 112) << 10) | (mantissa >> 13);
    rest = mantissa & 0x1FFF;
    halfway = 0x1000;
  } else {  // a subnormal half: units of 2^-24
    if (e < 102) return static_cast<uint16_t>(sign);  // below half the smallest subnormal
    const uint32_t m = mantissa | 0x800000;           // value = m * 2^(e - 150)
    const uint32_t shift = 126 - e;                   // 14..24
    bits = m >> shift;
    rest = m & ((1u << shift) - 1);
    halfway = 1u << (shift - 1);
  }
  // Round half to even; a carry out of the mantissa correctly bumps the exponent (up to
  // inf for values in [65520, 65536)).
  if (rest > halfway || (rest == halfway && (bits & 1))) ++bits;
  return static_cast<uint16_t>(sign | bits);
}

}  // namespace litegen::ops
