// Attention kernel for x86-64 with AVX2 + FMA (+ F16C for float16 KV caches). Only the functions in the target region
// below use these instructions; the driver calls them after checking the CPU.
#include <math.h>

#include <cstdint>

#include "ops/sdpa_kernels.h"

#if defined(__x86_64__)
#include <immintrin.h>

#if defined(__clang__)
#pragma clang attribute push(__attribute__((target("avx2,fma,f16c"))), apply_to = function)
#else
#pragma GCC push_options
#pragma GCC target("avx2,fma,f16c")
#endif

namespace litegen::ops::internal {
namespace avx2 {
namespace {

constexpr float kNegInf = -__builtin_inff();

alignas(32) constexpr int32_t kTailMask[16] = {-1, -1, -1, -1, -1, -1, -1, -1,
                                               0,  0,  0,  0,  0,  0,  0,  0};

struct VecAvx2 {
  static constexpr int W = 8;
  static constexpr int kPvChunks = 2;
  static constexpr int kTileKeys = 2;
  using V = __m256;
  static V zero() { return _mm256_setzero_ps(); }
  static V set1(float x) { return _mm256_set1_ps(x); }
  static V load(const float* p) { return _mm256_loadu_ps(p); }
  static V loadn(const float* p, int n) {
    const __m256i mask =
        _mm256_loadu_si256(reinterpret_cast<const __m256i*>(kTailMask + 8 - n));
    return _mm256_maskload_ps(p, mask);
  }
  static V load(const uint16_t* p) {  // F16C
    return _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(p)));
  }
  static V loadn(const uint16_t* p, int n) {  // the tail of a row (D % 8 != 0) only
    alignas(16) uint16_t tmp[8] = {};
    for (int i = 0; i < n; ++i) tmp[i] = p[i];
    return load(tmp);
  }
  static void store(float* p, V v) { _mm256_storeu_ps(p, v); }
  static V fma(V a, V b, V c) { return _mm256_fmadd_ps(a, b, c); }
  static V mul(V a, V b) { return _mm256_mul_ps(a, b); }
  static V add(V a, V b) { return _mm256_add_ps(a, b); }
  static V sub(V a, V b) { return _mm256_sub_ps(a, b); }
  static V max(V a, V b) { return _mm256_max_ps(a, b); }
  static float hsum(V v) {
    __m128 x = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    x = _mm_add_ps(x, _mm_movehl_ps(x, x));
    x = _mm_add_ss(x, _mm_movehdup_ps(x));
    return _mm_cvtss_f32(x);
  }
  static float hmax(V v) {
    __m128 x = _mm_max_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    x = _mm_max_ps(x, _mm_movehl_ps(x, x));
    x = _mm_max_ss(x, _mm_movehdup_ps(x));
    return _mm_cvtss_f32(x);
  }
  static void hsum4(V a, V b, V c, V d, float* out, int stride) {
    const __m256 ab = _mm256_hadd_ps(a, b);
    const __m256 cd = _mm256_hadd_ps(c, d);
    const __m256 abcd = _mm256_hadd_ps(ab, cd);  // a b c d (low half) + a b c d (high half)
    const __m128 s = _mm_add_ps(_mm256_castps256_ps128(abcd), _mm256_extractf128_ps(abcd, 1));
    alignas(16) float tmp[4];
    _mm_store_ps(tmp, s);
    out[0] = tmp[0];
    out[stride] = tmp[1];
    out[2 * stride] = tmp[2];
    out[3 * stride] = tmp[3];
  }
  // acc: 4 rows x 2 keys, row-major -> out[r * stride + c].
  static void ReduceTile(const V* a, float* out, int stride) {
    const __m256 t0 = _mm256_hadd_ps(_mm256_hadd_ps(a[0], a[1]), _mm256_hadd_ps(a[2], a[3]));
    const __m256 t1 = _mm256_hadd_ps(_mm256_hadd_ps(a[4], a[5]), _mm256_hadd_ps(a[6], a[7]));
    // t0 = [a0 a1 a2 a3 | a0 a1 a2 a3] partial sums of the low / high 128-bit halves.
    const __m256 sums = _mm256_add_ps(_mm256_permute2f128_ps(t0, t1, 0x20),
                                      _mm256_permute2f128_ps(t0, t1, 0x31));
    const __m128 lo = _mm256_castps256_ps128(sums);  // rows 0, 1
    const __m128 hi = _mm256_extractf128_ps(sums, 1);  // rows 2, 3
    _mm_storel_pi(reinterpret_cast<__m64*>(out), lo);
    _mm_storeh_pi(reinterpret_cast<__m64*>(out + stride), lo);
    _mm_storel_pi(reinterpret_cast<__m64*>(out + 2 * stride), hi);
    _mm_storeh_pi(reinterpret_cast<__m64*>(out + 3 * stride), hi);
  }
  // Cephes-style expf: |relative error| < 2 ulp on [-87.3, 88.3]; 0 below, NaN kept.
  static V exp(V x) {
    const __m256 lo = _mm256_set1_ps(-87.33654475f);
    const __m256 hi = _mm256_set1_ps(88.3762626647949f);
    const __m256 xc = _mm256_min_ps(_mm256_max_ps(x, lo), hi);
    const __m256 fx =
        _mm256_round_ps(_mm256_mul_ps(xc, _mm256_set1_ps(1.44269504088896341f)),
                        _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
    __m256 r = _mm256_fnmadd_ps(fx, _mm256_set1_ps(0.693359375f), xc);
    r = _mm256_fnmadd_ps(fx, _mm256_set1_ps(-2.12194440e-4f), r);
    __m256 p = _mm256_set1_ps(1.9875691500e-4f);
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.3981999507e-3f));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(8.3334519073e-3f));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(4.1665795894e-2f));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.6666665459e-1f));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(5.0000001201e-1f));
    const __m256 y =
        _mm256_add_ps(_mm256_fmadd_ps(p, _mm256_mul_ps(r, r), r), _mm256_set1_ps(1.0f));
    const __m256i e = _mm256_slli_epi32(
        _mm256_add_epi32(_mm256_cvtps_epi32(fx), _mm256_set1_epi32(127)), 23);
    __m256 result = _mm256_mul_ps(y, _mm256_castsi256_ps(e));
    result = _mm256_andnot_ps(_mm256_cmp_ps(x, lo, _CMP_LT_OQ), result);  // -inf and tiny -> 0
    return _mm256_blendv_ps(result, x, _mm256_cmp_ps(x, x, _CMP_UNORD_Q));
  }
  static float exp1(float x) { return expf(x); }
  // Cephes-style tanhf: odd polynomial below |x| = 0.625, else 1 - 2 / (exp(2|x|) + 1).
  static V tanh(V x) {
    const __m256 sign = _mm256_set1_ps(-0.0f);
    const __m256 ax = _mm256_andnot_ps(sign, x);
    const __m256 z = _mm256_mul_ps(x, x);
    __m256 p = _mm256_set1_ps(-5.70498872745e-3f);
    p = _mm256_fmadd_ps(p, z, _mm256_set1_ps(2.06390887954e-2f));
    p = _mm256_fmadd_ps(p, z, _mm256_set1_ps(-5.37397155531e-2f));
    p = _mm256_fmadd_ps(p, z, _mm256_set1_ps(1.33314422036e-1f));
    p = _mm256_fmadd_ps(p, z, _mm256_set1_ps(-3.33332819422e-1f));
    const __m256 small = _mm256_fmadd_ps(_mm256_mul_ps(p, z), x, x);
    const __m256 e = exp(_mm256_min_ps(_mm256_add_ps(ax, ax), _mm256_set1_ps(88.0f)));
    const __m256 one = _mm256_set1_ps(1.0f);
    __m256 large = _mm256_sub_ps(one, _mm256_div_ps(_mm256_set1_ps(2.0f), _mm256_add_ps(e, one)));
    large = _mm256_or_ps(large, _mm256_and_ps(sign, x));
    const __m256 y =
        _mm256_blendv_ps(large, small, _mm256_cmp_ps(ax, _mm256_set1_ps(0.625f), _CMP_LT_OQ));
    return _mm256_blendv_ps(y, x, _mm256_cmp_ps(x, x, _CMP_UNORD_Q));
  }
};

using VT = VecAvx2;
#include "ops/sdpa_attend.inc"

}  // namespace
}  // namespace avx2
}  // namespace litegen::ops::internal

#if defined(__clang__)
#pragma clang attribute pop
#else
#pragma GCC pop_options
#endif

namespace litegen::ops::internal {
AttendFn AttendAvx2() { return &avx2::Attend; }
}  // namespace litegen::ops::internal

#else  // !__x86_64__

namespace litegen::ops::internal {
AttendFn AttendAvx2() { return nullptr; }
}  // namespace litegen::ops::internal

#endif
