// Attention kernel for arm64 with NEON (part of the AArch64 baseline: no run-time check).
#include <math.h>

#include <cstdint>

#include "ops/sdpa_kernels.h"

#if defined(__aarch64__)
#include <arm_neon.h>

namespace litegen::ops::internal {
namespace neon {
namespace {

constexpr float kNegInf = -__builtin_inff();

struct VecNeon {
  static constexpr int W = 4;
  static constexpr int kPvChunks = 4;
  static constexpr int kTileKeys = 4;
  using V = float32x4_t;
  static V zero() { return vdupq_n_f32(0.0f); }
  static V set1(float x) { return vdupq_n_f32(x); }
  static V load(const float* p) { return vld1q_f32(p); }
  static V loadn(const float* p, int n) {
    float tmp[4] = {0.0f, 0.0f, 0.0f, 0.0f};
    for (int i = 0; i < n; ++i) tmp[i] = p[i];
    return vld1q_f32(tmp);
  }
  static V load(const uint16_t* p) { return vcvt_f32_f16(vreinterpret_f16_u16(vld1_u16(p))); }
  static V loadn(const uint16_t* p, int n) {  // the tail of a row (D % 4 != 0) only
    uint16_t tmp[4] = {0, 0, 0, 0};
    for (int i = 0; i < n; ++i) tmp[i] = p[i];
    return load(tmp);
  }
  static void store(float* p, V v) { vst1q_f32(p, v); }
  static V fma(V a, V b, V c) { return vfmaq_f32(c, a, b); }
  static V mul(V a, V b) { return vmulq_f32(a, b); }
  static V add(V a, V b) { return vaddq_f32(a, b); }
  static V sub(V a, V b) { return vsubq_f32(a, b); }
  static V max(V a, V b) { return vmaxq_f32(a, b); }
  static float hsum(V v) { return vaddvq_f32(v); }
  static float hmax(V v) { return vmaxvq_f32(v); }
  static void hsum4(V a, V b, V c, V d, float* out, int stride) {
    const float32x4_t s = vpaddq_f32(vpaddq_f32(a, b), vpaddq_f32(c, d));
    out[0] = vgetq_lane_f32(s, 0);
    out[stride] = vgetq_lane_f32(s, 1);
    out[2 * stride] = vgetq_lane_f32(s, 2);
    out[3 * stride] = vgetq_lane_f32(s, 3);
  }
  // acc: 4 rows x 4 keys, row-major -> out[r * stride + c].
  static void ReduceTile(const V* a, float* out, int stride) {
    for (int r = 0; r < 4; ++r) {
      const float32x4_t* x = a + 4 * r;
      vst1q_f32(out + r * stride, vpaddq_f32(vpaddq_f32(x[0], x[1]), vpaddq_f32(x[2], x[3])));
    }
  }
  // Cephes-style expf: |relative error| < 2 ulp on [-87.3, 88.3]; 0 below, NaN kept.
  static V exp(V x) {
    const float32x4_t lo = vdupq_n_f32(-87.33654475f);
    const float32x4_t hi = vdupq_n_f32(88.3762626647949f);
    const float32x4_t xc = vminq_f32(vmaxq_f32(x, lo), hi);
    const float32x4_t fx = vrndnq_f32(vmulq_f32(xc, vdupq_n_f32(1.44269504088896341f)));
    float32x4_t r = vfmsq_f32(xc, fx, vdupq_n_f32(0.693359375f));
    r = vfmsq_f32(r, fx, vdupq_n_f32(-2.12194440e-4f));
    float32x4_t p = vdupq_n_f32(1.9875691500e-4f);
    p = vfmaq_f32(vdupq_n_f32(1.3981999507e-3f), p, r);
    p = vfmaq_f32(vdupq_n_f32(8.3334519073e-3f), p, r);
    p = vfmaq_f32(vdupq_n_f32(4.1665795894e-2f), p, r);
    p = vfmaq_f32(vdupq_n_f32(1.6666665459e-1f), p, r);
    p = vfmaq_f32(vdupq_n_f32(5.0000001201e-1f), p, r);
    const float32x4_t y = vaddq_f32(vfmaq_f32(r, p, vmulq_f32(r, r)), vdupq_n_f32(1.0f));
    const int32x4_t e = vshlq_n_s32(vaddq_s32(vcvtq_s32_f32(fx), vdupq_n_s32(127)), 23);
    float32x4_t result = vmulq_f32(y, vreinterpretq_f32_s32(e));
    result = vbslq_f32(vcltq_f32(x, lo), vdupq_n_f32(0.0f), result);
    return vbslq_f32(vceqq_f32(x, x), result, x);  // NaN lanes keep x
  }
  static float exp1(float x) { return expf(x); }
  // Cephes-style tanhf: odd polynomial below |x| = 0.625, else 1 - 2 / (exp(2|x|) + 1).
  static V tanh(V x) {
    const float32x4_t ax = vabsq_f32(x);
    const float32x4_t z = vmulq_f32(x, x);
    float32x4_t p = vdupq_n_f32(-5.70498872745e-3f);
    p = vfmaq_f32(vdupq_n_f32(2.06390887954e-2f), p, z);
    p = vfmaq_f32(vdupq_n_f32(-5.37397155531e-2f), p, z);
    p = vfmaq_f32(vdupq_n_f32(1.33314422036e-1f), p, z);
    p = vfmaq_f32(vdupq_n_f32(-3.33332819422e-1f), p, z);
    const float32x4_t small = vfmaq_f32(x, vmulq_f32(p, z), x);
    const float32x4_t e = exp(vminq_f32(vaddq_f32(ax, ax), vdupq_n_f32(88.0f)));
    const float32x4_t one = vdupq_n_f32(1.0f);
    const float32x4_t large_abs = vsubq_f32(one, vdivq_f32(vdupq_n_f32(2.0f), vaddq_f32(e, one)));
    const uint32x4_t sign = vdupq_n_u32(0x80000000u);
    const float32x4_t large = vreinterpretq_f32_u32(
        vorrq_u32(vreinterpretq_u32_f32(large_abs), vandq_u32(sign, vreinterpretq_u32_f32(x))));
    const float32x4_t y = vbslq_f32(vcltq_f32(ax, vdupq_n_f32(0.625f)), small, large);
    return vbslq_f32(vceqq_f32(x, x), y, x);
  }
};

using VT = VecNeon;
#include "ops/sdpa_attend.inc"

}  // namespace
}  // namespace neon

AttendFn AttendNeon() { return &neon::Attend; }

}  // namespace litegen::ops::internal

#else  // !__aarch64__

namespace litegen::ops::internal {
AttendFn AttendNeon() { return nullptr; }
}  // namespace litegen::ops::internal

#endif
