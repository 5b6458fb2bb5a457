// Attention kernel for x86-64 with AVX-512F. Only the functions in the target region
// below use these instructions; the driver calls them after checking the CPU.
#include <math.h>

#include <cstdint>

#include "ops/sdpa_kernels.h"

#if defined(__x86_64__)
#if defined(__GNUC__) && !defined(__clang__)
// GCC 12's AVX-512 headers trip -W(maybe-)uninitialized (_mm*_undefined_*) when inlined
// (GCC bug 105593).
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#pragma GCC diagnostic ignored "-Wuninitialized"
#endif
#include <immintrin.h>

#if defined(__clang__)
#pragma clang attribute push(__attribute__((target("avx512f,avx2,fma"))), apply_to = function)
#else
#pragma GCC push_options
#pragma GCC target("avx512f,avx2,fma")
#endif

namespace litegen::ops::internal {
namespace avx512 {
namespace {

constexpr float kNegInf = -__builtin_inff();

struct VecAvx512 {
  static constexpr int W = 16;
  static constexpr int kPvChunks = 4;
  static constexpr int kTileKeys = 4;
  using V = __m512;
  static V zero() { return _mm512_setzero_ps(); }
  static V set1(float x) { return _mm512_set1_ps(x); }
  static V load(const float* p) { return _mm512_loadu_ps(p); }
  static V loadn(const float* p, int n) {
    return _mm512_maskz_loadu_ps(static_cast<__mmask16>((1u << n) - 1u), p);
  }
  static V load(const uint16_t* p) {
    return _mm512_cvtph_ps(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(p)));
  }
  static V loadn(const uint16_t* p, int n) {  // the tail of a row (D % 16 != 0) only
    alignas(32) uint16_t tmp[16] = {};
    for (int i = 0; i < n; ++i) tmp[i] = p[i];
    return load(tmp);
  }
  static void store(float* p, V v) { _mm512_storeu_ps(p, v); }
  static V fma(V a, V b, V c) { return _mm512_fmadd_ps(a, b, c); }
  static V mul(V a, V b) { return _mm512_mul_ps(a, b); }
  static V add(V a, V b) { return _mm512_add_ps(a, b); }
  static V sub(V a, V b) { return _mm512_sub_ps(a, b); }
  static V max(V a, V b) { return _mm512_max_ps(a, b); }
  static __m256 Half(V v) {  // low + high 256-bit halves (AVX-512F only, no DQ)
    const __m256 hi = _mm256_castpd_ps(_mm512_extractf64x4_pd(_mm512_castps_pd(v), 1));
    return _mm256_add_ps(_mm512_castps512_ps256(v), hi);
  }
  static float hsum(V v) {
    const __m256 h = Half(v);
    __m128 x = _mm_add_ps(_mm256_castps256_ps128(h), _mm256_extractf128_ps(h, 1));
    x = _mm_add_ps(x, _mm_movehl_ps(x, x));
    x = _mm_add_ss(x, _mm_movehdup_ps(x));
    return _mm_cvtss_f32(x);
  }
  static float hmax(V v) {
    const __m256 hi = _mm256_castpd_ps(_mm512_extractf64x4_pd(_mm512_castps_pd(v), 1));
    const __m256 h = _mm256_max_ps(_mm512_castps512_ps256(v), hi);
    __m128 x = _mm_max_ps(_mm256_castps256_ps128(h), _mm256_extractf128_ps(h, 1));
    x = _mm_max_ps(x, _mm_movehl_ps(x, x));
    x = _mm_max_ss(x, _mm_movehdup_ps(x));
    return _mm_cvtss_f32(x);
  }
  static void hsum4(V a, V b, V c, V d, float* out, int stride) {
    const __m256 ab = _mm256_hadd_ps(Half(a), Half(b));
    const __m256 cd = _mm256_hadd_ps(Half(c), Half(d));
    const __m256 abcd = _mm256_hadd_ps(ab, cd);
    const __m128 s = _mm_add_ps(_mm256_castps256_ps128(abcd), _mm256_extractf128_ps(abcd, 1));
    alignas(16) float tmp[4];
    _mm_store_ps(tmp, s);
    out[0] = tmp[0];
    out[stride] = tmp[1];
    out[2 * stride] = tmp[2];
    out[3 * stride] = tmp[3];
  }
  // acc: 4 rows x 4 keys, row-major -> out[r * stride + c]: a transposing reduction tree.
  static void ReduceTile(const V* a, float* out, int stride) {
    __m512 s[8];
    for (int i = 0; i < 8; ++i) {  // per 128-bit lane: [x0+x2, y0+y2, x1+x3, y1+y3]
      s[i] = _mm512_add_ps(_mm512_unpacklo_ps(a[2 * i], a[2 * i + 1]),
                           _mm512_unpackhi_ps(a[2 * i], a[2 * i + 1]));
    }
    __m512 t[4];
    for (int i = 0; i < 4; ++i) {  // per lane: the lane sums of a[4i .. 4i+3]
      const __m512d x = _mm512_castps_pd(s[2 * i]), y = _mm512_castps_pd(s[2 * i + 1]);
      t[i] = _mm512_add_ps(_mm512_castpd_ps(_mm512_unpacklo_pd(x, y)),
                           _mm512_castpd_ps(_mm512_unpackhi_pd(x, y)));
    }
    const __m512 w0 = _mm512_add_ps(_mm512_shuffle_f32x4(t[0], t[1], _MM_SHUFFLE(1, 0, 1, 0)),
                                    _mm512_shuffle_f32x4(t[0], t[1], _MM_SHUFFLE(3, 2, 3, 2)));
    const __m512 w1 = _mm512_add_ps(_mm512_shuffle_f32x4(t[2], t[3], _MM_SHUFFLE(1, 0, 1, 0)),
                                    _mm512_shuffle_f32x4(t[2], t[3], _MM_SHUFFLE(3, 2, 3, 2)));
    // Lane m of the result: the totals of a[4m .. 4m+3] (row m).
    const __m512 r = _mm512_add_ps(_mm512_shuffle_f32x4(w0, w1, _MM_SHUFFLE(2, 0, 2, 0)),
                                   _mm512_shuffle_f32x4(w0, w1, _MM_SHUFFLE(3, 1, 3, 1)));
    alignas(64) float tmp[16];
    _mm512_store_ps(tmp, r);
    for (int m = 0; m < 4; ++m) _mm_storeu_ps(out + m * stride, _mm_load_ps(tmp + 4 * m));
  }
  // Cephes-style expf: |relative error| < 2 ulp on [-87.3, 88.3]; 0 below, NaN kept.
  static V exp(V x) {
    const __m512 lo = _mm512_set1_ps(-87.33654475f);
    const __m512 hi = _mm512_set1_ps(88.3762626647949f);
    const __m512 xc = _mm512_min_ps(_mm512_max_ps(x, lo), hi);
    const __m512 fx = _mm512_roundscale_ps(_mm512_mul_ps(xc, _mm512_set1_ps(1.44269504088896341f)),
                                           _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
    __m512 r = _mm512_fnmadd_ps(fx, _mm512_set1_ps(0.693359375f), xc);
    r = _mm512_fnmadd_ps(fx, _mm512_set1_ps(-2.12194440e-4f), r);
    __m512 p = _mm512_set1_ps(1.9875691500e-4f);
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.3981999507e-3f));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(8.3334519073e-3f));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(4.1665795894e-2f));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.6666665459e-1f));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(5.0000001201e-1f));
    const __m512 y =
        _mm512_add_ps(_mm512_fmadd_ps(p, _mm512_mul_ps(r, r), r), _mm512_set1_ps(1.0f));
    const __m512i e = _mm512_slli_epi32(
        _mm512_add_epi32(_mm512_cvtps_epi32(fx), _mm512_set1_epi32(127)), 23);
    __m512 result = _mm512_mul_ps(y, _mm512_castsi512_ps(e));
    result = _mm512_mask_mov_ps(result, _mm512_cmp_ps_mask(x, lo, _CMP_LT_OQ), _mm512_setzero_ps());
    return _mm512_mask_mov_ps(result, _mm512_cmp_ps_mask(x, x, _CMP_UNORD_Q), x);
  }
  static float exp1(float x) { return expf(x); }
  // Cephes-style tanhf: odd polynomial below |x| = 0.625, else 1 - 2 / (exp(2|x|) + 1).
  static V tanh(V x) {
    const __m512i sign = _mm512_set1_epi32(static_cast<int>(0x80000000u));
    const __m512 ax = _mm512_castsi512_ps(_mm512_andnot_si512(sign, _mm512_castps_si512(x)));
    const __m512 z = _mm512_mul_ps(x, x);
    __m512 p = _mm512_set1_ps(-5.70498872745e-3f);
    p = _mm512_fmadd_ps(p, z, _mm512_set1_ps(2.06390887954e-2f));
    p = _mm512_fmadd_ps(p, z, _mm512_set1_ps(-5.37397155531e-2f));
    p = _mm512_fmadd_ps(p, z, _mm512_set1_ps(1.33314422036e-1f));
    p = _mm512_fmadd_ps(p, z, _mm512_set1_ps(-3.33332819422e-1f));
    const __m512 small = _mm512_fmadd_ps(_mm512_mul_ps(p, z), x, x);
    const __m512 e = exp(_mm512_min_ps(_mm512_add_ps(ax, ax), _mm512_set1_ps(88.0f)));
    const __m512 one = _mm512_set1_ps(1.0f);
    const __m512 large_abs =
        _mm512_sub_ps(one, _mm512_div_ps(_mm512_set1_ps(2.0f), _mm512_add_ps(e, one)));
    const __m512 large = _mm512_castsi512_ps(_mm512_or_si512(
        _mm512_castps_si512(large_abs), _mm512_and_si512(sign, _mm512_castps_si512(x))));
    const __mmask16 is_small = _mm512_cmp_ps_mask(ax, _mm512_set1_ps(0.625f), _CMP_LT_OQ);
    const __m512 y = _mm512_mask_mov_ps(large, is_small, small);
    return _mm512_mask_mov_ps(y, _mm512_cmp_ps_mask(x, x, _CMP_UNORD_Q), x);
  }
};

using VT = VecAvx512;
#include "ops/sdpa_attend.inc"

}  // namespace
}  // namespace avx512
}  // namespace litegen::ops::internal

#if defined(__clang__)
#pragma clang attribute pop
#else
#pragma GCC pop_options
#endif

namespace litegen::ops::internal {
AttendFn AttendAvx512() { return &avx512::Attend; }
}  // namespace litegen::ops::internal

#else  // !__x86_64__

namespace litegen::ops::internal {
AttendFn AttendAvx512() { return nullptr; }
}  // namespace litegen::ops::internal

#endif
