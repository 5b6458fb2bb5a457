// Matrix kernel for x86-64 with AVX-512 F/BW/VL and VNNI (plus F16C for fp16 block
// scales). Only the functions in the target region below use these instructions; the
// driver calls them after checking the CPU.
//
// Layout: every output is a dot product along K, so the kernel keeps K in the vector lanes
// (the weights are read as stored, [N][K], with no repacking) and vpdpbusd multiplies the
// uint8 activations by the int8 weights, four products per 32-bit lane. A tile of R rows x
// C output channels keeps R * C accumulators; each weight vector loaded serves all R rows
// and each activation vector all C channels. Lanes are summed once, at the end of the tile.
//
//  * Decode (1..4 rows): one tile of all rows per 4 channels, so the weights stream once.
//  * More rows: groups of 4 rows inside each 4-channel tile; the tile's weights (4 x K
//    bytes) stay in L1/L2 for the following groups, the activations come from L2.
//
// int4: a 64-byte load holds 128 weights, even k in the low nibbles and odd k in the high
// ones. `w << 4 & 0xF0` and `w & 0xF0` give 16 * w as int8 for both (exact, two
// instructions, no sign extension), so the activations are split once per call into even
// and odd halves (scratch) and the products come out 16 times too large: the int32 sums
// shift right by 4 (per channel) or the float total is scaled by 1/16 (blockwise), both
// exact. With lanes of 4 bytes, 32-bit lane i of a 128-weight chunk sums k in
// [8i, 8i + 8), so a block of 32 is 4 lanes: blockwise scales are applied per lane, except
// in decode with blocks of 32 (the default int4 recipe), where 4 chunks' sums are first
// reduced to one vector of 16 block sums so that one multiply-add applies 16 scales.
#include <cstdint>
#include <type_traits>

#include "ops/linear_kernels.h"

#if defined(__x86_64__)
#if defined(__GNUC__) && !defined(__clang__)
// GCC 12's AVX-512 headers trip -W(maybe-)uninitialized (_mm*_undefined_*) when inlined
// (GCC bug 105593).
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#pragma GCC diagnostic ignored "-Wuninitialized"
#endif
#include <immintrin.h>

#if defined(__clang__)
#pragma clang attribute push(                                                          \
    __attribute__((target("avx512f,avx512bw,avx512vl,avx512vnni,avx2,fma,f16c"))), \
    apply_to = function)
#else
#pragma GCC push_options
#pragma GCC target("avx512f,avx512bw,avx512vl,avx512vnni,avx2,fma,f16c")
#endif

namespace litegen::ops::internal {
namespace avx512 {
namespace {

// Rows and channels of a full tile.
constexpr int kTileRows = 4;
constexpr int kTileChannels = 4;
// int4: weights per chunk (one 64-byte load) and the activation bytes per chunk (even
// half, then odd half).
constexpr int64_t kChunk = 128;

// The row and channel loops of a tile must unroll completely so that its accumulators live
// in registers (GCC 12 at -O3 otherwise keeps a 4 x 4 tile in memory).
#if defined(__clang__)
#define UNROLL _Pragma("unroll")
#else
#define UNROLL _Pragma("GCC unroll 16")
#endif
// Software prefetch distance along each weight row, in bytes. The hardware prefetchers
// alone leave decode at ~75% (int4) to ~95% (int8) of the plain read bandwidth of a file
// mapping here; these distances were the best of a sweep (litegen_ops_bench linear).
constexpr int64_t kPrefetchInt8 = 2048;
constexpr int64_t kPrefetchInt4 = 6144;

// Prefetches base + bytes; the address may lie past the end of the weights (prefetches
// never fault), so it is formed as an integer, not as a pointer past the array.
__attribute__((always_inline)) inline void Prefetch(const void* base, int64_t bytes) {
  _mm_prefetch(reinterpret_cast<const char*>(reinterpret_cast<uintptr_t>(base) +
                                             static_cast<uintptr_t>(bytes)),
               _MM_HINT_T0);
}

// acc += x (uint8) . w (int8), 4 products per 32-bit lane. In GCC, inline asm ties acc to
// one register: with the builtin, GCC 12 at -O3 copies every accumulator of a 4 x 4 tile
// each iteration (and spills one).
__attribute__((always_inline)) inline void Dot(__m512i& acc, __m512i x, __m512i w) {
#if defined(__GNUC__) && !defined(__clang__)
  asm("vpdpbusd %2, %1, %0" : "+v"(acc) : "v"(x), "v"(w));
#else
  acc = _mm512_dpbusd_epi32(acc, x, w);
#endif
}

// Lane i of the result: the sum of the 16 lanes of v[i].
__attribute__((always_inline)) inline __m128i Reduce4(__m512i a, __m512i b, __m512i c, __m512i d) {
  // Per 128-bit lane: [a0+a2, b0+b2, a1+a3, b1+b3], then [a, b, c, d].
  const __m512i ab = _mm512_add_epi32(_mm512_unpacklo_epi32(a, b), _mm512_unpackhi_epi32(a, b));
  const __m512i cd = _mm512_add_epi32(_mm512_unpacklo_epi32(c, d), _mm512_unpackhi_epi32(c, d));
  const __m512i abcd =
      _mm512_add_epi32(_mm512_unpacklo_epi64(ab, cd), _mm512_unpackhi_epi64(ab, cd));
  const __m256i h =
      _mm256_add_epi32(_mm512_castsi512_si256(abcd), _mm512_extracti64x4_epi64(abcd, 1));
  return _mm_add_epi32(_mm256_castsi256_si128(h), _mm256_extracti128_si256(h, 1));
}

__attribute__((always_inline)) inline __m128 Reduce4(__m512 a, __m512 b, __m512 c, __m512 d) {
  const __m512 ab = _mm512_add_ps(_mm512_unpacklo_ps(a, b), _mm512_unpackhi_ps(a, b));
  const __m512 cd = _mm512_add_ps(_mm512_unpacklo_ps(c, d), _mm512_unpackhi_ps(c, d));
  const __m512d abd = _mm512_castps_pd(ab), cdd = _mm512_castps_pd(cd);
  const __m512 abcd = _mm512_add_ps(_mm512_castpd_ps(_mm512_unpacklo_pd(abd, cdd)),
                                    _mm512_castpd_ps(_mm512_unpackhi_pd(abd, cdd)));
  const __m256 h = _mm256_add_ps(
      _mm512_castps512_ps256(abcd),
      _mm256_castpd_ps(_mm512_extractf64x4_pd(_mm512_castps_pd(abcd), 1)));
  return _mm_add_ps(_mm256_castps256_ps128(h), _mm256_extractf128_ps(h, 1));
}

// Sums of acc[r][0..C) into out[r][0..C).
template <int R, int C, typename V, typename S>
__attribute__((always_inline)) inline void ReduceTile(const V (&acc)[R][C], S (&out)[kTileRows][kTileChannels]) {
  UNROLL
  for (int r = 0; r < R; ++r) {
    if constexpr (C == 4) {
      if constexpr (std::is_floating_point_v<S>) {
        _mm_storeu_ps(out[r], Reduce4(acc[r][0], acc[r][1], acc[r][2], acc[r][3]));
      } else {
        _mm_storeu_si128(reinterpret_cast<__m128i*>(out[r]),
                         Reduce4(acc[r][0], acc[r][1], acc[r][2], acc[r][3]));
      }
    } else {
      UNROLL
      for (int c = 0; c < C; ++c) {
        if constexpr (std::is_floating_point_v<S>) {
          out[r][c] = _mm512_reduce_add_ps(acc[r][c]);
        } else {
          out[r][c] = _mm512_reduce_add_epi32(acc[r][c]);
        }
      }
    }
  }
}

// y = x_scale * (dot - x_zero * wsum) (+ bias): dot is sum_b scale[n][b] * acc[m][n][b].
inline void Store(const LinearTask& t, int64_t m, int64_t n, float dot) {
  float y = t.x_scale[m] * (dot - static_cast<float>(t.x_zero[m]) * t.w->wsum[n]);
  if (t.bias != nullptr) y += t.bias[n];
  t.y[m * t.y_stride + n] = y;
}

// ---- int8 --------------------------------------------------------------------------------

// Rows m0..m0+R-1 x channels n0..n0+C-1.
// noinline (here and for int4): a call per tile costs nothing next to its K loop, and GCC
// allocates each tile's registers on its own instead of inside one large caller.
template <int R, int C>
__attribute__((noinline)) void TileInt8(const LinearTask& t, int64_t m0, int64_t n0) {
  const int64_t k = t.w->k;
  const int8_t* w = static_cast<const int8_t*>(t.w->data) + n0 * k;
  const uint8_t* x = t.xq + m0 * t.xq_stride;
  const int64_t xs = t.xq_stride;
  __m512i acc[R][C];
  UNROLL
  for (int r = 0; r < R; ++r) {
    UNROLL
    for (int c = 0; c < C; ++c) acc[r][c] = _mm512_setzero_si512();
  }
  for (int64_t i = 0; i < k; i += 64) {
    __m512i wv[C];
    UNROLL
    for (int c = 0; c < C; ++c) Prefetch(w + c * k + i, kPrefetchInt8);
    UNROLL
    for (int c = 0; c < C; ++c) wv[c] = _mm512_loadu_si512(w + c * k + i);
    UNROLL
    for (int r = 0; r < R; ++r) {
      const __m512i xv = _mm512_load_si512(x + r * xs + i);
      UNROLL
      for (int c = 0; c < C; ++c) Dot(acc[r][c], xv, wv[c]);
    }
  }
  int32_t out[kTileRows][kTileChannels];
  ReduceTile<R, C>(acc, out);
  UNROLL
  for (int r = 0; r < R; ++r) {
    UNROLL
    for (int c = 0; c < C; ++c) {
      Store(t, m0 + r, n0 + c, t.w->channel_scales[n0 + c] * static_cast<float>(out[r][c]));
    }
  }
}

// ---- int4 --------------------------------------------------------------------------------

// How blockwise scales are applied.
enum class Int4Mode {
  kChannel,  // one float32 scale per channel: exact int32 sums over the whole row
  kBlocks,   // block a multiple of 128: int32 sums per block, one scale each
  kBlock32,  // block 32, one row: int32 sums per block, one scale vector per 4 chunks
  kLanes,    // other blocks (32, 64, 96, ...): a scale per 32-bit lane and chunk
};

// What the int4 tiles share: the split activations and, for kLanes, per chunk the lane ->
// block map.
struct Int4Context {
  const LinearTask* t;
  const uint8_t* x;      // split activations of the current rows (row r at x + r * xs)
  int64_t xs;            // bytes per split row: chunks * kChunk
  int64_t row0;          // task row of x's first row
  int64_t chunks;        // full 128-weight chunks per row
  bool tail;             // plus one chunk of 64 weights (k % 128 == 64)
  const uint8_t* lane_block;  // kLanes: [chunks + tail][16] block of each lane - first
  const int64_t* first_block;  // kLanes: [chunks + tail] first block of each chunk
};

// 16 * w for the even-k (low nibble) and odd-k (high nibble) weights of a chunk.
__attribute__((always_inline)) inline void Unpack(__m512i bytes, __m512i* lo, __m512i* hi) {
  const __m512i mask = _mm512_set1_epi8(static_cast<char>(0xF0));
  *lo = _mm512_and_si512(_mm512_slli_epi16(bytes, 4), mask);
  *hi = _mm512_and_si512(bytes, mask);
}

// The tail chunk holds 64 weights: 32 bytes, zeros above (as the split activations).
__attribute__((always_inline)) inline __m512i LoadChunk(const uint8_t* p, bool half) {
  return half ? _mm512_maskz_loadu_epi8(0xFFFFFFFFull, p) : _mm512_loadu_si512(p);
}

// The chunk loop (unpack C weight rows, dot them with R activation rows) is written out in
// each mode below on purpose: folded into one always_inline helper taking the accumulator
// array by reference, GCC 12 spilled the accumulators and int4 decode fell from 30 to
// 22.6 GB/s (measured with litegen_ops_bench linear).
template <int R, int C, Int4Mode kMode>
__attribute__((noinline)) void TileInt4(const Int4Context& g, int64_t m0, int64_t n0) {
  const LinearTask& t = *g.t;
  const LinearWeights& w = *t.w;
  const int64_t row_bytes = w.k / 2;
  const uint8_t* wp = static_cast<const uint8_t*>(w.data) + n0 * row_bytes;
  const uint8_t* x = g.x + (m0 - g.row0) * g.xs;
  const int64_t xs = g.xs;
  const int64_t all_chunks = g.chunks + (g.tail ? 1 : 0);

  if constexpr (kMode == Int4Mode::kChannel) {
    __m512i acc[R][C];
    UNROLL
    for (int r = 0; r < R; ++r) {
      UNROLL
      for (int c = 0; c < C; ++c) acc[r][c] = _mm512_setzero_si512();
    }
    for (int64_t ch = 0; ch < all_chunks; ++ch) {
      const bool half = ch == g.chunks;
      __m512i lo[C], hi[C];
      UNROLL
      for (int c = 0; c < C; ++c) {
        Prefetch(wp + c * row_bytes + ch * 64, kPrefetchInt4);
        Unpack(LoadChunk(wp + c * row_bytes + ch * 64, half), &lo[c], &hi[c]);
      }
      UNROLL
      for (int r = 0; r < R; ++r) {
        const __m512i xe = _mm512_load_si512(x + r * xs + ch * kChunk);
        const __m512i xo = _mm512_load_si512(x + r * xs + ch * kChunk + 64);
        UNROLL
        for (int c = 0; c < C; ++c) {
          Dot(acc[r][c], xe, lo[c]);
          Dot(acc[r][c], xo, hi[c]);
        }
      }
    }
    int32_t out[kTileRows][kTileChannels];
    ReduceTile<R, C>(acc, out);
    UNROLL
    for (int r = 0; r < R; ++r) {
      UNROLL
      for (int c = 0; c < C; ++c) {
        // The sums are 16 * the exact ones: the shift is exact.
        Store(t, m0 + r, n0 + c, w.channel_scales[n0 + c] * static_cast<float>(out[r][c] >> 4));
      }
    }
  } else {
    const int64_t blocks = w.k / w.block;
    const uint16_t* bs = w.block_scales + n0 * blocks;
    __m512 facc[R][C];
    UNROLL
    for (int r = 0; r < R; ++r) {
      UNROLL
      for (int c = 0; c < C; ++c) facc[r][c] = _mm512_setzero_ps();
    }
    if constexpr (kMode == Int4Mode::kBlocks) {
      const int64_t per_block = w.block / kChunk;
      for (int64_t b = 0; b < blocks; ++b) {
        __m512i acc[R][C];
        UNROLL
        for (int r = 0; r < R; ++r) {
          UNROLL
          for (int c = 0; c < C; ++c) acc[r][c] = _mm512_setzero_si512();
        }
        for (int64_t ch = b * per_block; ch < (b + 1) * per_block; ++ch) {
          __m512i lo[C], hi[C];
          UNROLL
          for (int c = 0; c < C; ++c) {
            Prefetch(wp + c * row_bytes + ch * 64, kPrefetchInt4);
            Unpack(_mm512_loadu_si512(wp + c * row_bytes + ch * 64), &lo[c], &hi[c]);
          }
          UNROLL
          for (int r = 0; r < R; ++r) {
            const __m512i xe = _mm512_load_si512(x + r * xs + ch * kChunk);
            const __m512i xo = _mm512_load_si512(x + r * xs + ch * kChunk + 64);
            UNROLL
            for (int c = 0; c < C; ++c) {
              Dot(acc[r][c], xe, lo[c]);
              Dot(acc[r][c], xo, hi[c]);
            }
          }
        }
        UNROLL
        for (int c = 0; c < C; ++c) {
          const __m512 s = _mm512_broadcastss_ps(
              _mm_cvtph_ps(_mm_cvtsi32_si128(bs[c * blocks + b])));
          UNROLL
          for (int r = 0; r < R; ++r) {
            facc[r][c] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(acc[r][c]), s, facc[r][c]);
          }
        }
      }
    } else if constexpr (kMode == Int4Mode::kBlock32) {
      static_assert(R == 1, "kBlock32 tiles hold one row (4 chunk sums per channel)");
      // Groups of 4 chunks (16 blocks): each chunk's integer sums go to their own vector,
      // the 4 vectors are reduced together into one vector of the 16 block sums (lane 4j + i
      // = block 4i + j of the group: the transpose the unpacks produce), and the fp16
      // scales, permuted to match, are applied with one multiply-add per group.
      const __m512i scale_order =
          _mm512_set_epi32(15, 11, 7, 3, 14, 10, 6, 2, 13, 9, 5, 1, 12, 8, 4, 0);
      // One group; the last (kFull false) may hold fewer chunks and the 64-weight tail.
      auto group = [&](int64_t g0, auto full) __attribute__((always_inline)) {
        constexpr bool kFull = decltype(full)::value;
        const int64_t in_group = kFull ? 4 : all_chunks - g0;
        __m512i d[C][4];
        UNROLL
        for (int i = 0; i < 4; ++i) {
          UNROLL
          for (int c = 0; c < C; ++c) d[c][i] = _mm512_setzero_si512();
          if (!kFull && i >= in_group) continue;
          const int64_t ch = g0 + i;
          const __m512i xe = _mm512_load_si512(x + ch * kChunk);
          const __m512i xo = _mm512_load_si512(x + ch * kChunk + 64);
          UNROLL
          for (int c = 0; c < C; ++c) {
            Prefetch(wp + c * row_bytes + ch * 64, kPrefetchInt4);
            __m512i lo, hi;
            Unpack(kFull ? _mm512_loadu_si512(wp + c * row_bytes + ch * 64)
                         : LoadChunk(wp + c * row_bytes + ch * 64, ch == g.chunks),
                   &lo, &hi);
            Dot(d[c][i], xe, lo);
            Dot(d[c][i], xo, hi);
          }
        }
        const int64_t first = g0 * 4;  // 4 blocks of 32 per chunk
        const __mmask16 valid = kFull || blocks - first >= 16
                                    ? static_cast<__mmask16>(0xFFFF)
                                    : static_cast<__mmask16>((1u << (blocks - first)) - 1u);
        UNROLL
        for (int c = 0; c < C; ++c) {
          Prefetch(bs + c * blocks + first, kPrefetchInt4 / 8);
          const __m512i ab = _mm512_add_epi32(_mm512_unpacklo_epi32(d[c][0], d[c][1]),
                                              _mm512_unpackhi_epi32(d[c][0], d[c][1]));
          const __m512i cd = _mm512_add_epi32(_mm512_unpacklo_epi32(d[c][2], d[c][3]),
                                              _mm512_unpackhi_epi32(d[c][2], d[c][3]));
          const __m512i sums = _mm512_add_epi32(_mm512_unpacklo_epi64(ab, cd),
                                                _mm512_unpackhi_epi64(ab, cd));
          const __m256i half_scales =
              kFull ? _mm256_loadu_si256(reinterpret_cast<const __m256i*>(bs + c * blocks + first))
                    : _mm256_maskz_loadu_epi16(valid, bs + c * blocks + first);
          const __m512 scales =
              _mm512_permutexvar_ps(scale_order, _mm512_cvtph_ps(half_scales));
          facc[0][c] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(sums), scales, facc[0][c]);
        }
      };
      int64_t g0 = 0;
      for (; g0 + 4 <= g.chunks; g0 += 4) group(g0, std::true_type{});
      if (g0 < all_chunks) group(g0, std::false_type{});
    } else {  // kLanes
      const __mmask8 four = 0x0F;
      for (int64_t ch = 0; ch < all_chunks; ++ch) {
        const bool half = ch == g.chunks;
        const int64_t first = g.first_block[ch];
        // Up to 4 blocks touch a chunk; none past the row's last (their lanes are zero).
        const __mmask8 valid =
            blocks - first >= 4 ? four : static_cast<__mmask8>((1u << (blocks - first)) - 1u);
        const __m512i lane_idx = _mm512_cvtepu8_epi32(
            _mm_load_si128(reinterpret_cast<const __m128i*>(g.lane_block + ch * 16)));
        __m512i lo[C], hi[C];
        __m512 s[C];
        UNROLL
        for (int c = 0; c < C; ++c) {
          Prefetch(wp + c * row_bytes + ch * 64, kPrefetchInt4);
        Unpack(LoadChunk(wp + c * row_bytes + ch * 64, half), &lo[c], &hi[c]);
          // The scales a prefetch distance ahead (8 weight bytes per scale byte at block 32).
          if ((ch & 3) == 0) Prefetch(bs + c * blocks + first, kPrefetchInt4 / 8);
          const __m128 four_scales =
              _mm_cvtph_ps(_mm_maskz_loadu_epi16(valid, bs + c * blocks + first));
          s[c] = _mm512_permutexvar_ps(lane_idx, _mm512_castps128_ps512(four_scales));
        }
        UNROLL
        for (int r = 0; r < R; ++r) {
          const __m512i xe = _mm512_load_si512(x + r * xs + ch * kChunk);
          const __m512i xo = _mm512_load_si512(x + r * xs + ch * kChunk + 64);
          UNROLL
          for (int c = 0; c < C; ++c) {
            __m512i d = _mm512_setzero_si512();
            Dot(d, xe, lo[c]);
            Dot(d, xo, hi[c]);
            facc[r][c] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(d), s[c], facc[r][c]);
          }
        }
      }
    }
    float out[kTileRows][kTileChannels];
    ReduceTile<R, C>(facc, out);
    UNROLL
    for (int r = 0; r < R; ++r) {
      UNROLL
      for (int c = 0; c < C; ++c) {
        // Every product was 16 times too large: scaling the total by 1/16 is exact.
        Store(t, m0 + r, n0 + c, out[r][c] * 0.0625f);
      }
    }
  }
}

// Splits rows of activations into chunks of [64 even-k bytes][64 odd-k bytes]; the tail
// chunk (64 weights) is [32 even, 32 zero][32 odd, 32 zero].
void SplitRows(const LinearTask& t, int64_t m_begin, int64_t m_end, int64_t chunks, bool tail,
               uint8_t* out, int64_t out_stride) {
  const __m512i low_bytes = _mm512_set1_epi16(0x00FF);
  // packus interleaves the 128-bit lanes of its two sources: put them back in order.
  const __m512i order = _mm512_set_epi64(7, 5, 3, 1, 6, 4, 2, 0);
  for (int64_t m = m_begin; m < m_end; ++m) {
    const uint8_t* x = t.xq + m * t.xq_stride;
    uint8_t* o = out + (m - m_begin) * out_stride;
    for (int64_t ch = 0; ch < chunks + (tail ? 1 : 0); ++ch) {
      const __m512i a = _mm512_load_si512(x + ch * kChunk);
      const __m512i b =
          ch < chunks ? _mm512_load_si512(x + ch * kChunk + 64) : _mm512_setzero_si512();
      const __m512i even = _mm512_packus_epi16(_mm512_and_si512(a, low_bytes),
                                               _mm512_and_si512(b, low_bytes));
      const __m512i odd = _mm512_packus_epi16(_mm512_srli_epi16(a, 8), _mm512_srli_epi16(b, 8));
      _mm512_store_si512(o + ch * kChunk, _mm512_permutexvar_epi64(order, even));
      _mm512_store_si512(o + ch * kChunk + 64, _mm512_permutexvar_epi64(order, odd));
    }
  }
}

// ---- int4, interleaved blocks ----------------------------------------------------------------
//
// kInt4Interleaved (layout: linear_kernels.h): slice i of a group is one 64-byte load whose
// lane j holds 8 values of block j, so the products of a whole group land in per-block int32
// lanes and one multiply-add per group applies the 16 block codes. The activations are
// gathered once per call into the same order: per slice, [64 bytes for the low nibbles]
// [64 bytes for the high nibbles], lanes past a short group's last block zero.

struct InterleavedContext {
  const LinearTask* t;
  const uint8_t* x;  // gathered activations of the current rows (row r at x + r * xs)
  int64_t xs;        // bytes per gathered row: groups * slices * 128
  int64_t row0;      // task row of x's first row
  int64_t blocks;    // per weight row
  int64_t slices;    // per group: block / 8
  int64_t groups;    // full groups (16 blocks) per row
  int64_t tail;      // blocks in the last, short group (0: none)
};

void GatherInterleaved(const InterleavedContext& g, int64_t m_begin, int64_t m_end,
                       uint8_t* out) {
  const LinearTask& t = *g.t;
  const int64_t block = t.w->block;
  // 32-bit word of lane j, slice 0, low nibbles: j * block / 4.
  const __m512i lanes = _mm512_mullo_epi32(
      _mm512_set_epi32(15, 14, 13, 12, 11, 10, 9, 8, 7, 6, 5, 4, 3, 2, 1, 0),
      _mm512_set1_epi32(static_cast<int>(block / 4)));
  const int64_t all_groups = g.groups + (g.tail != 0 ? 1 : 0);
  for (int64_t m = m_begin; m < m_end; ++m) {
    const uint8_t* x = t.xq + m * t.xq_stride;
    uint8_t* o = out + (m - m_begin) * g.xs;
    for (int64_t gi = 0; gi < all_groups; ++gi) {
      const int64_t lanes_used = gi < g.groups ? 16 : g.tail;
      const __mmask16 mask = static_cast<__mmask16>((1u << lanes_used) - 1u);
      const uint8_t* base = x + gi * 16 * block;
      for (int64_t i = 0; i < g.slices; ++i) {
        const __m512i idx = _mm512_add_epi32(lanes, _mm512_set1_epi32(static_cast<int>(2 * i)));
        const __m512i lo =
            _mm512_mask_i32gather_epi32(_mm512_setzero_si512(), mask, idx, base, 4);
        const __m512i hi = _mm512_mask_i32gather_epi32(
            _mm512_setzero_si512(), mask, _mm512_add_epi32(idx, _mm512_set1_epi32(1)), base, 4);
        uint8_t* dst = o + (gi * g.slices + i) * 128;
        _mm512_store_si512(dst, lo);
        _mm512_store_si512(dst + 64, hi);
      }
    }
  }
}

// Rows m0..m0+R-1 x channels n0..n0+C-1 (R <= 2: 2 x 4 tiles keep 8 int32 and 8 float
// accumulators, 8 unpacked weight vectors and the activations in the 32 registers).
template <int R, int C>
__attribute__((noinline)) void TileInterleaved(const InterleavedContext& g, int64_t m0,
                                               int64_t n0) {
  const LinearTask& t = *g.t;
  const LinearWeights& w = *t.w;
  const int64_t row_bytes = w.k / 2;
  const int64_t group_bytes = 8 * w.block;
  const uint8_t* wp = static_cast<const uint8_t*>(w.data) + n0 * row_bytes;
  const uint8_t* codes = w.block_codes + n0 * g.blocks;
  const uint8_t* x = g.x + (m0 - g.row0) * g.xs;
  const int64_t xs = g.xs;
  // Codes a prefetch distance ahead: block / 2 weight bytes per code byte.
  const int64_t code_ahead = kPrefetchInt4 * 2 / w.block;
  __m512 facc[R][C];
  UNROLL
  for (int r = 0; r < R; ++r) {
    UNROLL
    for (int c = 0; c < C; ++c) facc[r][c] = _mm512_setzero_ps();
  }
  // One group; kFull: 16 lanes (64-byte slices), else the short last group.
  auto group = [&](int64_t gi, auto full) __attribute__((always_inline)) {
    constexpr bool kFull = decltype(full)::value;
    const int64_t lanes = kFull ? 16 : g.tail;
    const uint64_t slice_mask = kFull ? ~uint64_t{0} : (uint64_t{1} << (4 * lanes)) - 1u;
    const int64_t slice_bytes = 4 * lanes;
    const uint8_t* gw = wp + gi * group_bytes;
    const uint8_t* gx = x + gi * g.slices * 128;
    __m512i acc[R][C];
    UNROLL
    for (int r = 0; r < R; ++r) {
      UNROLL
      for (int c = 0; c < C; ++c) acc[r][c] = _mm512_setzero_si512();
    }
    for (int64_t i = 0; i < g.slices; ++i) {
      __m512i lo[C], hi[C];
      UNROLL
      for (int c = 0; c < C; ++c) {
        const uint8_t* p = gw + c * row_bytes + i * slice_bytes;
        Prefetch(p, kPrefetchInt4);
        Unpack(kFull ? _mm512_loadu_si512(p) : _mm512_maskz_loadu_epi8(slice_mask, p), &lo[c],
               &hi[c]);
      }
      UNROLL
      for (int r = 0; r < R; ++r) {
        const __m512i xl = _mm512_load_si512(gx + r * xs + i * 128);
        const __m512i xh = _mm512_load_si512(gx + r * xs + i * 128 + 64);
        UNROLL
        for (int c = 0; c < C; ++c) {
          Dot(acc[r][c], xl, lo[c]);
          Dot(acc[r][c], xh, hi[c]);
        }
      }
    }
    const __mmask16 code_mask = static_cast<__mmask16>((1u << lanes) - 1u);
    UNROLL
    for (int c = 0; c < C; ++c) {
      const uint8_t* cp = codes + c * g.blocks + gi * 16;
      Prefetch(cp, code_ahead);
      const __m512 s = _mm512_cvtepi32_ps(_mm512_cvtepu8_epi32(
          kFull ? _mm_loadu_si128(reinterpret_cast<const __m128i*>(cp))
                : _mm_maskz_loadu_epi8(code_mask, cp)));
      UNROLL
      for (int r = 0; r < R; ++r) {
        facc[r][c] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(acc[r][c]), s, facc[r][c]);
      }
    }
  };
  for (int64_t gi = 0; gi < g.groups; ++gi) group(gi, std::true_type{});
  if (g.tail != 0) group(g.groups, std::false_type{});
  float out[kTileRows][kTileChannels];
  ReduceTile<R, C>(facc, out);
  UNROLL
  for (int r = 0; r < R; ++r) {
    UNROLL
    for (int c = 0; c < C; ++c) {
      // Products were 16 times too large (Unpack): the 1/16 is exact.
      Store(t, m0 + r, n0 + c, out[r][c] * (w.channel_scales[n0 + c] * 0.0625f));
    }
  }
}

void RunInterleaved(const LinearTask& t) {
  const LinearWeights& w = *t.w;
  InterleavedContext g;
  g.t = &t;
  g.blocks = w.k / w.block;
  g.slices = w.block / 8;
  g.groups = g.blocks / 16;
  g.tail = g.blocks % 16;
  g.xs = (g.groups + (g.tail != 0 ? 1 : 0)) * g.slices * 128;
  // As many rows per pass as the scratch holds (at least one: a gathered row of k <= 32768
  // is at most 16 * k bytes, when one block is the whole row).
  const int64_t pass_rows = static_cast<int64_t>(kLinearScratchBytes) / g.xs;
  for (int64_t m = 0; m < t.rows; m += pass_rows) {
    const int64_t m_end = m + pass_rows < t.rows ? m + pass_rows : t.rows;
    GatherInterleaved(g, m, m_end, t.scratch);
    g.x = t.scratch;
    g.row0 = m;
    auto rows = [&](auto channels, int64_t n0) {
      constexpr int kC = decltype(channels)::value;
      int64_t r = m;
      for (; r + 2 <= m_end; r += 2) TileInterleaved<2, kC>(g, r, n0);
      if (r < m_end) TileInterleaved<1, kC>(g, r, n0);
    };
    int64_t n = t.n_begin;
    for (; n + kTileChannels <= t.n_end; n += kTileChannels) {
      rows(std::integral_constant<int, kTileChannels>{}, n);
    }
    for (; n < t.n_end; ++n) rows(std::integral_constant<int, 1>{}, n);
  }
}

// ---- tiling --------------------------------------------------------------------------------

// Every row for channels [n0, n0 + C): groups of up to 4 rows; after the first group the
// tile's weights come from cache.
template <typename Tile>
inline void Rows(int64_t m_begin, int64_t m_end, int64_t n0, Tile&& tile) {
  int64_t m = m_begin;
  for (; m + kTileRows <= m_end; m += kTileRows) tile(std::integral_constant<int, 4>{}, m, n0);
  switch (m_end - m) {
    case 3: tile(std::integral_constant<int, 3>{}, m, n0); break;
    case 2: tile(std::integral_constant<int, 2>{}, m, n0); break;
    case 1: tile(std::integral_constant<int, 1>{}, m, n0); break;
    default: break;
  }
}

void RunInt8(const LinearTask& t) {
  int64_t n = t.n_begin;
  for (; n + kTileChannels <= t.n_end; n += kTileChannels) {
    Rows(0, t.rows, n, [&](auto r, int64_t m, int64_t n0) {
      TileInt8<decltype(r)::value, kTileChannels>(t, m, n0);
    });
  }
  for (; n < t.n_end; ++n) {
    Rows(0, t.rows, n, [&](auto r, int64_t m, int64_t n0) {
      TileInt8<decltype(r)::value, 1>(t, m, n0);
    });
  }
}

template <Int4Mode kMode>
void RunInt4Rows(const Int4Context& g, int64_t m_begin, int64_t m_end) {
  const LinearTask& t = *g.t;
  int64_t n = t.n_begin;
  // kBlock32 tiles hold one row; groups of rows take the per-lane scales.
  auto mode_for = [](auto r) {
    return kMode == Int4Mode::kBlock32 && decltype(r)::value > 1 ? Int4Mode::kLanes : kMode;
  };
  for (; n + kTileChannels <= t.n_end; n += kTileChannels) {
    Rows(m_begin, m_end, n, [&](auto r, int64_t m, int64_t n0) {
      TileInt4<decltype(r)::value, kTileChannels, mode_for(r)>(g, m, n0);
    });
  }
  for (; n < t.n_end; ++n) {
    Rows(m_begin, m_end, n, [&](auto r, int64_t m, int64_t n0) {
      TileInt4<decltype(r)::value, 1, mode_for(r)>(g, m, n0);
    });
  }
}

void RunInt4(const LinearTask& t) {
  const LinearWeights& w = *t.w;
  Int4Context g;
  g.t = &t;
  g.chunks = w.k / kChunk;
  g.tail = w.k % kChunk != 0;
  const int64_t all_chunks = g.chunks + (g.tail ? 1 : 0);
  g.xs = all_chunks * kChunk;
  Int4Mode mode = Int4Mode::kChannel;
  // k <= 32768: at most 256 chunks.
  alignas(64) uint8_t lane_block[256 * 16];
  int64_t first_block[256];
  if (w.block != w.k) {
    mode = w.block % kChunk == 0 ? Int4Mode::kBlocks
           : w.block == 32        ? Int4Mode::kBlock32
                                  : Int4Mode::kLanes;
    for (int64_t ch = 0; ch < all_chunks; ++ch) {
      first_block[ch] = ch * kChunk / w.block;
      for (int i = 0; i < 16; ++i) {
        lane_block[ch * 16 + i] =
            static_cast<uint8_t>((ch * kChunk + 8 * i) / w.block - first_block[ch]);
      }
    }
  }
  g.lane_block = lane_block;
  g.first_block = first_block;
  // As many rows per pass as the scratch holds (at least 16: k <= 32768).
  const int64_t pass_rows = static_cast<int64_t>(kLinearScratchBytes) / g.xs;
  for (int64_t m = 0; m < t.rows; m += pass_rows) {
    const int64_t m_end = m + pass_rows < t.rows ? m + pass_rows : t.rows;
    SplitRows(t, m, m_end, g.chunks, g.tail, t.scratch, g.xs);
    g.x = t.scratch;
    g.row0 = m;
    switch (mode) {
      case Int4Mode::kChannel: RunInt4Rows<Int4Mode::kChannel>(g, m, m_end); break;
      case Int4Mode::kBlocks: RunInt4Rows<Int4Mode::kBlocks>(g, m, m_end); break;
      case Int4Mode::kBlock32: RunInt4Rows<Int4Mode::kBlock32>(g, m, m_end); break;
      case Int4Mode::kLanes: RunInt4Rows<Int4Mode::kLanes>(g, m, m_end); break;
    }
  }
}

void Run(const LinearTask& t) {
  switch (t.w->format) {
    case WeightFormat::kInt8: RunInt8(t); break;
    case WeightFormat::kInt4: RunInt4(t); break;
    case WeightFormat::kInt4Interleaved: RunInterleaved(t); break;
  }
}

}  // namespace
}  // namespace avx512
}  // namespace litegen::ops::internal

#undef UNROLL

#if defined(__clang__)
#pragma clang attribute pop
#else
#pragma GCC pop_options
#endif

namespace litegen::ops::internal {
LinearFn LinearAvx512() { return &avx512::Run; }
}  // namespace litegen::ops::internal

#else  // !__x86_64__

namespace litegen::ops::internal {
LinearFn LinearAvx512() { return nullptr; }
}  // namespace litegen::ops::internal

#endif
