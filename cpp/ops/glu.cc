#include "ops/glu.h"

#include <algorithm>
#include <cmath>
#include <cstring>

namespace litegen::ops {
namespace {

// Everything below is inlined into each target clone of Glu, so it is vectorized for that
// clone's instruction set. Clones may differ in the last bit: GCC contracts a * b + c into
// FMA where the target has it (the avx512f clone), which only makes each step more exact.
#define LITEGEN_GLU_INLINE inline __attribute__((always_inline))

LITEGEN_GLU_INLINE uint32_t FloatBits(float v) {
  uint32_t bits;
  std::memcpy(&bits, &v, sizeof(bits));
  return bits;
}

LITEGEN_GLU_INLINE float BitsFloat(uint32_t bits) {
  float v;
  std::memcpy(&v, &bits, sizeof(v));
  return v;
}

// e^a within 1 ulp (Cephes expf): a = n ln2 + r with |r| <= ln2 / 2, e^r by a polynomial,
// 2^n through the exponent bits. It saturates through those bits too: below a = -87.7
// (n <= -127) the exponent field is 0 and the result 0; from a = 88.38 (n = 128) it is
// 255 and the result +inf, before the true overflow at 88.72 (callers only use e^a as
// 1 / (1 + e^a), below 5e-39 there).
// NaN gives 0 or +inf: every caller multiplies the result by its NaN input.
//
// The clamps are integer min / max on purpose: GCC turns a float select against a
// constant into a branch (threading the constant through the math) that it then cannot
// if-convert, and the loop stays scalar.
LITEGEN_GLU_INLINE float Exp(float a) {
  // |a| <= 89 keeps the shift trick below valid and n in [-128, 128]; NaN becomes +-89.
  const uint32_t a_bits = FloatBits(a);
  const uint32_t magnitude = std::min(a_bits & 0x7fffffffu, FloatBits(89.0f));
  const float c = BitsFloat(magnitude | (a_bits & 0x80000000u));
  // Adding 1.5 * 2^23 rounds c / ln2 to an integer n and leaves n in the low mantissa bits.
  constexpr float kRoundShift = 12582912.0f;
  const float shifted = c * 1.44269504088896341f + kRoundShift;
  const float n = shifted - kRoundShift;
  // ln2 split in two so that n * kLn2Hi is exact and r keeps its low bits.
  constexpr float kLn2Hi = 0.693359375f;
  constexpr float kLn2Lo = -2.12194440e-4f;
  const float r = (c - n * kLn2Hi) - n * kLn2Lo;
  float p = 1.9875691500e-4f;
  p = p * r + 1.3981999507e-3f;
  p = p * r + 8.3334519073e-3f;
  p = p * r + 4.1665795894e-2f;
  p = p * r + 1.6666665459e-1f;
  p = p * r + 5.0000001201e-1f;
  p = p * r * r + r + 1.0f;
  const int32_t n_int = static_cast<int32_t>(FloatBits(shifted) - FloatBits(kRoundShift));
  const int32_t exponent = std::min(std::max(n_int + 127, 0), 255);
  return p * BitsFloat(static_cast<uint32_t>(exponent) << 23);
}

LITEGEN_GLU_INLINE float Silu(float x) { return x / (1.0f + Exp(-x)); }

// 0.5 x (1 + erf(x / sqrt 2)) = x * 0.5 erfc(-x / sqrt 2), with erfc of |x| / sqrt 2 from
// Numerical Recipes' erfcc (relative error < 1.2e-7 for all arguments): going through erfc
// keeps the relative accuracy for negative x, where 1 + erf(z) would cancel.
LITEGEN_GLU_INLINE float Gelu(float x) {
  const float z = std::fabs(x) * 0.70710678118654752f;
  const float t = 1.0f / (1.0f + 0.5f * z);
  float p = 0.17087277f;
  p = p * t - 0.82215223f;
  p = p * t + 1.48851587f;
  p = p * t - 1.13520398f;
  p = p * t + 0.27886807f;
  p = p * t - 0.18628806f;
  p = p * t + 0.09678418f;
  p = p * t + 0.37409196f;
  p = p * t + 1.00002368f;
  const float half_erfc = 0.5f * t * Exp(p * t - 1.26551223f - z * z);
  // phi = half_erfc for x < 0, else 1 - half_erfc; selecting constants, not results, keeps
  // the subtraction out of a branch GCC would not if-convert.
  const float base = x < 0.0f ? 0.0f : 1.0f;
  const float sign = x < 0.0f ? 1.0f : -1.0f;
  return x * (base + sign * half_erfc);
}

// 0.5 x (1 + tanh(u)) = x / (1 + exp(-2u)): the same value without tanh's cancellation.
LITEGEN_GLU_INLINE float GeluTanh(float x) {
  constexpr float kTwoSqrtTwoOverPi = 1.5957691216057308f;
  const float two_u = kTwoSqrtTwoOverPi * x * (1.0f + 0.044715f * x * x);
  return x / (1.0f + Exp(-two_u));
}

// Keeps -0 and NaN, like torch.relu.
LITEGEN_GLU_INLINE float Relu(float x) { return x < 0.0f ? 0.0f : x; }

template <float (*kActivation)(float)>
LITEGEN_GLU_INLINE void GluRows(const float* __restrict x, int64_t rows, int64_t f,
                                float* __restrict y) {
  // Fixed-size chunks: a loop GCC vectorizes at -O2 too, whose cost model refuses loops
  // that need a scalar epilogue or alias checks (y does not alias x: __restrict).
  constexpr int kLanes = 16;
  for (int64_t row = 0; row < rows; ++row) {
    const float* gate = x + row * 2 * f;
    const float* up = gate + f;
    float* out = y + row * f;
    int64_t i = 0;
    for (; i + kLanes <= f; i += kLanes) {
      for (int j = 0; j < kLanes; ++j) out[i + j] = kActivation(gate[i + j]) * up[i + j];
    }
    for (; i < f; ++i) out[i] = kActivation(gate[i]) * up[i];
  }
}

#undef LITEGEN_GLU_INLINE

}  // namespace

#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__)
__attribute__((target_clones("avx512f", "avx2", "default")))
#endif
void Glu(const float* x, int64_t rows, int64_t f, GluActivation act, float* y) {
  switch (act) {
    case GluActivation::kSilu:
      GluRows<Silu>(x, rows, f, y);
      break;
    case GluActivation::kGelu:
      GluRows<Gelu>(x, rows, f, y);
      break;
    case GluActivation::kGeluTanh:
      GluRows<GeluTanh>(x, rows, f, y);
      break;
    case GluActivation::kRelu:
      GluRows<Relu>(x, rows, f, y);
      break;
  }
}

const char* GluActivationName(int32_t act) {
  switch (static_cast<GluActivation>(act)) {
    case GluActivation::kSilu:
      return "silu";
    case GluActivation::kGelu:
      return "gelu";
    case GluActivation::kGeluTanh:
      return "gelu_tanh";
    case GluActivation::kRelu:
      return "relu";
  }
  return nullptr;
}

}  // namespace litegen::ops
