// Matrix kernel for x86-64 with AVX2 + FMA + F16C. Only the functions in the target region
// below use these instructions; the driver calls them after checking the CPU.
//
// Exactness: _mm256_maddubs_epi16 (u8 x s8, pairs summed with int16 saturation) would
// saturate for int8 weights (2 * 255 * 128 > 32767), so int8 weights and activations are
// widened to int16 and multiplied with _mm256_madd_epi16 (pairs summed into int32, exact).
// int4 weights are at most 8 in magnitude, so maddubs is exact for them (2 * 255 * 8).
//
// Work order: the task's channels are cut into chunks whose weights stay in L2 (decode,
// up to 4 rows: one chunk, so the weights stream once); for each chunk, each group of up to
// 4 rows is repacked into scratch (int8: widened to int16; int4: even / odd elements
// split to match the nibble layout; interleaved int4: permuted to the weights' lane order)
// and every tile of R rows x C channels runs over all of k, so each weight load serves R
// rows and each activation load C channels.
#include <cstdint>
#include <cstring>

#include "ops/linear_kernels.h"

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

constexpr int kMaxRows = 4;
// Tiles read their C weight rows as C interleaved streams of k bytes (or k / 2), too short
// for the hardware prefetcher to ramp up (decode from DRAM: 17 GB/s without, 23 with), so
// each tile prefetches the rows of the tile kAheadTiles later. Prefetches past the end of
// the weights are harmless (they never fault).
constexpr int kAheadTiles = 2;

// Prefetches line `offset` of the C rows starting C * kAheadTiles rows after row 0 of w.
template <int C>
inline void PrefetchAhead(const void* w, int64_t row_bytes, int64_t offset) {
  // Integer arithmetic: the address may lie past the weights' end.
  const uintptr_t p = reinterpret_cast<uintptr_t>(w) +
                      static_cast<uintptr_t>(C * kAheadTiles * row_bytes + offset);
  for (int c = 0; c < C; ++c) {
    _mm_prefetch(reinterpret_cast<const char*>(p + static_cast<uintptr_t>(c * row_bytes)),
                 _MM_HINT_T0);
  }
}

// Weight bytes per chunk of channels when many rows reuse them (kept in L2).
constexpr int64_t kChunkBytes = int64_t{96} << 10;

int32_t Hsum(__m256i v) {
  __m128i s = _mm_add_epi32(_mm256_castsi256_si128(v), _mm256_extracti128_si256(v, 1));
  s = _mm_add_epi32(s, _mm_shuffle_epi32(s, 0x4E));
  s = _mm_add_epi32(s, _mm_shuffle_epi32(s, 0xB1));
  return _mm_cvtsi128_si32(s);
}

float HsumPs(__m256 v) {
  __m128 x = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
  x = _mm_add_ps(x, _mm_movehl_ps(x, x));
  x = _mm_add_ss(x, _mm_movehdup_ps(x));
  return _mm_cvtss_f32(x);
}

// ---- int8, per channel ----------------------------------------------------------------

// acc[r][c] = sum_k x16[r][k] * w[c][k]; x16 rows k int16 apart, weight rows k bytes apart.
template <int R, int C>
void TileInt8(const int8_t* w, int64_t k, const int16_t* x16, int32_t* out) {
  __m256i acc[R][C];
  for (int r = 0; r < R; ++r) {
    for (int c = 0; c < C; ++c) acc[r][c] = _mm256_setzero_si256();
  }
  for (int64_t i = 0; i < k; i += 16) {
    if ((i & 63) == 0) PrefetchAhead<C>(w, k, i);
    __m256i wv[C];
    for (int c = 0; c < C; ++c) {
      wv[c] = _mm256_cvtepi8_epi16(
          _mm_loadu_si128(reinterpret_cast<const __m128i*>(w + c * k + i)));
    }
    for (int r = 0; r < R; ++r) {
      const __m256i xv = _mm256_load_si256(reinterpret_cast<const __m256i*>(x16 + r * k + i));
      for (int c = 0; c < C; ++c) {
        acc[r][c] = _mm256_add_epi32(acc[r][c], _mm256_madd_epi16(xv, wv[c]));
      }
    }
  }
  for (int r = 0; r < R; ++r) {
    for (int c = 0; c < C; ++c) out[r * C + c] = Hsum(acc[r][c]);
  }
}

// ---- int4 -------------------------------------------------------------------------------

// The 32 bytes at p hold 64 elements; lo gets the even ones (low nibbles), hi the odd ones,
// each sign-extended to int8 by a table lookup (byte j of lo/hi comes from byte j of p).
struct Int4Decoder {
  // An explicit constructor, so that it is compiled in this target region.
  Int4Decoder()
      : lut(_mm256_setr_epi8(0, 1, 2, 3, 4, 5, 6, 7, -8, -7, -6, -5, -4, -3, -2, -1, 0, 1, 2,
                             3, 4, 5, 6, 7, -8, -7, -6, -5, -4, -3, -2, -1)),
        mask(_mm256_set1_epi8(0x0F)) {}
  void Decode(const uint8_t* p, __m256i* lo, __m256i* hi) const {
    DecodeBytes(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(p)), lo, hi);
  }
  void DecodeBytes(__m256i b, __m256i* lo, __m256i* hi) const {
    *lo = _mm256_shuffle_epi8(lut, _mm256_and_si256(b, mask));
    *hi = _mm256_shuffle_epi8(lut, _mm256_and_si256(_mm256_srli_epi16(b, 4), mask));
  }
  __m256i lut;
  __m256i mask;
};

// int32 lanes: lanes 0-3 sum the unit's first 32 elements, lanes 4-7 the last 32.
inline __m256i DotUnit(const uint8_t* xd, __m256i lo, __m256i hi, __m256i ones) {
  const __m256i xe = _mm256_load_si256(reinterpret_cast<const __m256i*>(xd));
  const __m256i xo = _mm256_load_si256(reinterpret_cast<const __m256i*>(xd + 32));
  // Each maddubs pair is at most 2 * 255 * 8, so the int16 sum of two cannot saturate.
  const __m256i p = _mm256_add_epi16(_mm256_maddubs_epi16(xe, lo), _mm256_maddubs_epi16(xo, hi));
  return _mm256_madd_epi16(p, ones);
}

// Per channel: acc[r][c] = sum_k x[r][k] * w[c][k]. xd: rows k bytes apart in the split
// layout (see SplitRow); weight rows k / 2 bytes apart.
template <int R, int C>
void TileInt4(const uint8_t* w, int64_t k, const uint8_t* xd, int32_t* out) {
  const Int4Decoder dec;
  const __m256i ones = _mm256_set1_epi16(1);
  __m256i acc[R][C];
  for (int r = 0; r < R; ++r) {
    for (int c = 0; c < C; ++c) acc[r][c] = _mm256_setzero_si256();
  }
  const int64_t row_bytes = k / 2;
  for (int64_t i = 0; i < k; i += 64) {
    if ((i & 127) == 0) PrefetchAhead<C>(w, row_bytes, i / 2);
    __m256i lo[C], hi[C];
    for (int c = 0; c < C; ++c) dec.Decode(w + c * row_bytes + i / 2, &lo[c], &hi[c]);
    for (int r = 0; r < R; ++r) {
      for (int c = 0; c < C; ++c) {
        acc[r][c] = _mm256_add_epi32(acc[r][c], DotUnit(xd + r * k + i, lo[c], hi[c], ones));
      }
    }
  }
  for (int r = 0; r < R; ++r) {
    for (int c = 0; c < C; ++c) out[r * C + c] = Hsum(acc[r][c]);
  }
}

// Blockwise: out[r][c] = sum_b scale[c][b] * acc_b. Integer sums run over one block (or,
// for blocks that are an odd multiple of 32, over one 64-element unit whose halves may
// belong to different blocks: the float scale vector then differs between the halves).
template <int R, int C>
void TileInt4Blocks(const uint8_t* w, int64_t k, int64_t block, const uint16_t* scales,
                    const uint8_t* xd, float* out) {
  const Int4Decoder dec;
  const __m256i ones = _mm256_set1_epi16(1);
  const __m256i halves = _mm256_setr_epi32(0, 0, 0, 0, 1, 1, 1, 1);
  const int64_t units_per_flush = block % 64 == 0 ? block / 64 : 1;
  const int64_t blocks = k / block;
  const int64_t row_bytes = k / 2;
  __m256 facc[R][C];
  __m256i acc[R][C];
  for (int r = 0; r < R; ++r) {
    for (int c = 0; c < C; ++c) {
      facc[r][c] = _mm256_setzero_ps();
      acc[r][c] = _mm256_setzero_si256();
    }
  }
  int64_t left = units_per_flush;
  for (int64_t i = 0; i < k; i += 64) {
    if ((i & 127) == 0) PrefetchAhead<C>(w, row_bytes, i / 2);
    __m256i lo[C], hi[C];
    for (int c = 0; c < C; ++c) dec.Decode(w + c * row_bytes + i / 2, &lo[c], &hi[c]);
    for (int r = 0; r < R; ++r) {
      for (int c = 0; c < C; ++c) {
        acc[r][c] = _mm256_add_epi32(acc[r][c], DotUnit(xd + r * k + i, lo[c], hi[c], ones));
      }
    }
    if (--left == 0) {
      left = units_per_flush;
      const int64_t b0 = i / block;
      const int64_t b1 = (i + 32) / block;
      for (int c = 0; c < C; ++c) {
        const uint32_t pair = uint32_t{scales[c * blocks + b0]} |
                              (uint32_t{scales[c * blocks + b1]} << 16);
        const __m128 f = _mm_cvtph_ps(_mm_cvtsi32_si128(static_cast<int>(pair)));
        const __m256 s = _mm256_permutevar8x32_ps(_mm256_castps128_ps256(f), halves);
        for (int r = 0; r < R; ++r) {
          facc[r][c] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(acc[r][c]), s, facc[r][c]);
          acc[r][c] = _mm256_setzero_si256();
        }
      }
    }
  }
  for (int r = 0; r < R; ++r) {
    for (int c = 0; c < C; ++c) out[r * C + c] = HsumPs(facc[r][c]);
  }
}

// ---- int4, interleaved (kInt4Interleaved) ----------------------------------------------
//
// A full slice is 64 bytes, 16 lanes of 4; one 32-byte half holds lanes 0-7 or 8-15. With
// the activations in the same order (PermuteRow), maddubs + madd leave in int32 lane j of
// half h a sum over block 16g + 8h + j alone: after the group's slices the lanes are exact
// block sums, and one convert + FMA against the group's codes (as floats) scales 8 blocks
// at once, with no horizontal sum until the end of the row. A short last group
// (L < 16 lanes) has slices of 4L bytes: its halves load only their live lanes.

// One half (8 lanes) of group g for a tile: facc[r][c] += codes[c] * (the lanes' exact
// block sums), lane by lane. w: the tile's weight rows (row_bytes apart) at the group's
// first byte plus 32h; x: the permuted rows (x_stride apart) at the group plus 32h;
// codes: the tile's block codes (rows `blocks` apart) at block 16g + 8h; slice_bytes = 4L.
// kPartial: only `live` < 8 lanes, loaded under `mask`; the others get zero weights and
// zero codes. prefetch: issue the tile's prefetches, for the group at prefetch_offset of
// prefetch_base (in the group's first half).
template <int R, int C, bool kPartial>
inline void InterleavedHalf(const Int4Decoder& dec, const uint8_t* w, int64_t row_bytes,
                            const uint8_t* x, int64_t x_stride, int64_t slice_bytes,
                            int64_t slices, __m256i mask, const uint8_t* codes,
                            int64_t blocks, int live, const uint8_t* prefetch_base,
                            int64_t prefetch_offset, bool prefetch, __m256 (&facc)[R][C]) {
  const __m256i ones = _mm256_set1_epi16(1);
  __m256i acc[R][C];
  for (int r = 0; r < R; ++r) {
    for (int c = 0; c < C; ++c) acc[r][c] = _mm256_setzero_si256();
  }
  // Blocks are a multiple of 32 elements, so slices come in fours. Four slices add 16
  // products of at most 255 * 8 in magnitude per int16 lane (|sum| <= 32640): exact, so
  // one madd into int32 serves four slices.
  for (int64_t i = 0; i < slices; i += 4) {
    __m256i p[R][C];
    for (int r = 0; r < R; ++r) {
      for (int c = 0; c < C; ++c) p[r][c] = _mm256_setzero_si256();
    }
    for (int s = 0; s < 4; ++s) {
      const int64_t w_off = (i + s) * slice_bytes;
      if (prefetch) PrefetchAhead<C>(prefetch_base, row_bytes, prefetch_offset + w_off);
      __m256i lo[C], hi[C];
      for (int c = 0; c < C; ++c) {
        const uint8_t* wp = w + c * row_bytes + w_off;
        if (kPartial) {  // masked lanes are neither read nor faulted on
          dec.DecodeBytes(_mm256_maskload_epi32(reinterpret_cast<const int*>(wp), mask),
                          &lo[c], &hi[c]);
        } else {
          dec.Decode(wp, &lo[c], &hi[c]);
        }
      }
      for (int r = 0; r < R; ++r) {
        // Low-nibble activations, then 4L bytes further the high-nibble ones.
        const uint8_t* xs = x + r * x_stride + 2 * w_off;
        const __m256i xl = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(xs));
        const __m256i xh =
            _mm256_loadu_si256(reinterpret_cast<const __m256i*>(xs + slice_bytes));
        for (int c = 0; c < C; ++c) {
          p[r][c] = _mm256_add_epi16(
              p[r][c], _mm256_add_epi16(_mm256_maddubs_epi16(xl, lo[c]),
                                        _mm256_maddubs_epi16(xh, hi[c])));
        }
      }
    }
    for (int r = 0; r < R; ++r) {
      for (int c = 0; c < C; ++c) {
        acc[r][c] = _mm256_add_epi32(acc[r][c], _mm256_madd_epi16(p[r][c], ones));
      }
    }
  }
  for (int c = 0; c < C; ++c) {
    __m128i bytes;
    if (kPartial) {  // the codes past the row's last block are not ours to read
      uint64_t v = 0;
      std::memcpy(&v, codes + c * blocks, static_cast<size_t>(live));
      bytes = _mm_cvtsi64_si128(static_cast<long long>(v));
    } else {
      bytes = _mm_loadl_epi64(reinterpret_cast<const __m128i*>(codes + c * blocks));
    }
    const __m256 scale = _mm256_cvtepi32_ps(_mm256_cvtepu8_epi32(bytes));
    for (int r = 0; r < R; ++r) {
      facc[r][c] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(acc[r][c]), scale, facc[r][c]);
    }
  }
}

// out[r][c] = sum_b codes[c][b] * acc_b (the channel scale is applied by the caller).
// w: weight rows k / 2 bytes apart; codes: rows k / block apart; xp: rows permuted by
// PermuteRow, x_stride apart. A group is read half by half (lanes 0-7 of every slice, then
// 8-15): both halves at once would need twice the accumulators, and measured slower.
template <int R, int C>
void TileInterleaved(const uint8_t* w, int64_t k, int64_t block, const uint8_t* codes,
                     const uint8_t* xp, int64_t x_stride, float* out) {
  const Int4Decoder dec;
  const int64_t blocks = k / block;
  const int64_t slices = block / 8;
  const int64_t row_bytes = k / 2;
  __m256 facc[R][C];
  for (int r = 0; r < R; ++r) {
    for (int c = 0; c < C; ++c) facc[r][c] = _mm256_setzero_ps();
  }
  int64_t g = 0;
  for (; 16 * (g + 1) <= blocks; ++g) {  // full groups: 64-byte slices
    const int64_t w_group = 8 * block * g;  // weight bytes before the group (x: twice that)
    for (int h = 0; h < 2; ++h) {
      InterleavedHalf<R, C, false>(dec, w + w_group + 32 * h, row_bytes,
                                   xp + 2 * w_group + 32 * h, x_stride, 64, slices,
                                   _mm256_setzero_si256(), codes + 16 * g + 8 * h, blocks, 8,
                                   w, w_group, h == 0, facc);
    }
  }
  if (16 * g < blocks) {  // the short last group: L < 16 lanes, slices of 4L bytes
    const int64_t lanes = blocks - 16 * g;
    const int64_t w_group = 8 * block * g;
    for (int h = 0; 8 * h < lanes; ++h) {
      const int live = static_cast<int>(lanes - 8 * h < 8 ? lanes - 8 * h : 8);
      const __m256i mask = _mm256_cmpgt_epi32(_mm256_set1_epi32(live),
                                              _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
      InterleavedHalf<R, C, true>(dec, w + w_group + 32 * h, row_bytes,
                                  xp + 2 * w_group + 32 * h, x_stride, 4 * lanes, slices, mask,
                                  codes + 16 * g + 8 * h, blocks, live, w, w_group, h == 0,
                                  facc);
    }
  }
  for (int r = 0; r < R; ++r) {
    for (int c = 0; c < C; ++c) out[r * C + c] = HsumPs(facc[r][c]);
  }
}

// ---- activation repacking ---------------------------------------------------------------

void WidenRow(const uint8_t* x, int64_t k, int16_t* out) {
  for (int64_t i = 0; i < k; i += 16) {
    const __m128i v = _mm_load_si128(reinterpret_cast<const __m128i*>(x + i));
    _mm256_store_si256(reinterpret_cast<__m256i*>(out + i), _mm256_cvtepu8_epi16(v));
  }
}

// Per 64 elements: 32 bytes of the even elements, then 32 of the odd ones, in the byte
// order of the packed weights' low / high nibbles.
void SplitRow(const uint8_t* x, int64_t k, uint8_t* out) {
  const __m256i evens_first = _mm256_setr_epi8(0, 2, 4, 6, 8, 10, 12, 14, 1, 3, 5, 7, 9, 11,
                                               13, 15, 0, 2, 4, 6, 8, 10, 12, 14, 1, 3, 5,
                                               7, 9, 11, 13, 15);
  for (int64_t i = 0; i < k; i += 64) {
    // a: [evens 0-14, odds 1-15 | evens 16-30, odds 17-31] -> [evens 0-30 | odds 1-31].
    __m256i a = _mm256_load_si256(reinterpret_cast<const __m256i*>(x + i));
    __m256i b = _mm256_load_si256(reinterpret_cast<const __m256i*>(x + i + 32));
    a = _mm256_permute4x64_epi64(_mm256_shuffle_epi8(a, evens_first), 0xD8);
    b = _mm256_permute4x64_epi64(_mm256_shuffle_epi8(b, evens_first), 0xD8);
    _mm256_store_si256(reinterpret_cast<__m256i*>(out + i), _mm256_permute2x128_si256(a, b, 0x20));
    _mm256_store_si256(reinterpret_cast<__m256i*>(out + i + 32),
                       _mm256_permute2x128_si256(a, b, 0x31));
  }
}

// Interleaved int4: the row in the weights' order (see linear_kernels.h). Group g
// (at byte 16 * B * g, as many bytes as elements) has per slice i, at 8L * i, 4L bytes for
// the low nibbles (lane j: elements 8i .. 8i + 3 of block 16g + j), then 4L for the high
// ones (8i + 4 .. 8i + 7). In 32-bit words that is a strided gather: word 2i (low) and
// 2i + 1 (high) of each block. Done once per row, so tiles read it with plain loads.
// Writes k + kPermutePad bytes: the pad (zero) is read, times zero weights, by the short
// last group's 32-byte loads.
constexpr int64_t kPermutePad = 64;
void PermuteRow(const uint8_t* x, int64_t k, int64_t block, uint8_t* out) {
  const int64_t blocks = k / block;
  const int64_t slices = block / 8;
  const int words = static_cast<int>(block / 4);  // 32-bit words per block
  const __m256i lanes0 =
      _mm256_mullo_epi32(_mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7), _mm256_set1_epi32(words));
  const __m256i lanes8 = _mm256_add_epi32(lanes0, _mm256_set1_epi32(8 * words));
  int64_t g = 0;
  for (; 16 * (g + 1) <= blocks; ++g) {
    const int* src = reinterpret_cast<const int*>(x + 16 * block * g);
    __m256i* dst = reinterpret_cast<__m256i*>(out + 16 * block * g);
    for (int64_t i = 0; i < slices; ++i, dst += 4) {
      _mm256_store_si256(dst, _mm256_i32gather_epi32(src + 2 * i, lanes0, 4));
      _mm256_store_si256(dst + 1, _mm256_i32gather_epi32(src + 2 * i, lanes8, 4));
      _mm256_store_si256(dst + 2, _mm256_i32gather_epi32(src + 2 * i + 1, lanes0, 4));
      _mm256_store_si256(dst + 3, _mm256_i32gather_epi32(src + 2 * i + 1, lanes8, 4));
    }
  }
  if (16 * g < blocks) {  // the short last group, word by word
    const int64_t lanes = blocks - 16 * g;
    uint8_t* dst = out + 16 * block * g;
    for (int64_t i = 0; i < slices; ++i) {
      for (int64_t j = 0; j < lanes; ++j) {
        const uint8_t* src = x + (16 * g + j) * block + 8 * i;
        std::memcpy(dst + 8 * lanes * i + 4 * j, src, 4);
        std::memcpy(dst + 8 * lanes * i + 4 * lanes + 4 * j, src + 4, 4);
      }
    }
  }
  std::memset(out + k, 0, kPermutePad);
}

// ---- driver -----------------------------------------------------------------------------

struct Group {
  const LinearTask* t;
  int64_t m0;           // first row
  const void* x;        // repacked rows
  int64_t x_stride;     // elements between them (k; interleaved int4: k + kPermutePad)
};

void Store(const LinearTask& t, int64_t m, int64_t n, float dot) {
  float y = t.x_scale[m] * (dot - static_cast<float>(t.x_zero[m]) * t.w->wsum[n]);
  if (t.bias != nullptr) y += t.bias[n];
  t.y[m * t.y_stride + n] = y;
}

template <int R, int C>
void RunTile(const Group& g, int64_t n) {
  const LinearTask& t = *g.t;
  const LinearWeights& w = *t.w;
  if (w.format == WeightFormat::kInt4Interleaved) {
    float out[R * C];
    TileInterleaved<R, C>(static_cast<const uint8_t*>(w.data) + n * (w.k / 2), w.k, w.block,
                          w.block_codes + n * (w.k / w.block),
                          static_cast<const uint8_t*>(g.x), g.x_stride, out);
    for (int r = 0; r < R; ++r) {
      for (int c = 0; c < C; ++c) {
        Store(t, g.m0 + r, n + c, w.channel_scales[n + c] * out[r * C + c]);
      }
    }
    return;
  }
  if (w.block != w.k) {
    float out[R * C];
    const auto* data = static_cast<const uint8_t*>(w.data) + n * (w.k / 2);
    TileInt4Blocks<R, C>(data, w.k, w.block, w.block_scales + n * (w.k / w.block),
                         static_cast<const uint8_t*>(g.x), out);
    for (int r = 0; r < R; ++r) {
      for (int c = 0; c < C; ++c) Store(t, g.m0 + r, n + c, out[r * C + c]);
    }
    return;
  }
  int32_t out[R * C];
  if (w.format == WeightFormat::kInt8) {
    TileInt8<R, C>(static_cast<const int8_t*>(w.data) + n * w.k, w.k,
                   static_cast<const int16_t*>(g.x), out);
  } else {
    TileInt4<R, C>(static_cast<const uint8_t*>(w.data) + n * (w.k / 2), w.k,
                   static_cast<const uint8_t*>(g.x), out);
  }
  for (int r = 0; r < R; ++r) {
    for (int c = 0; c < C; ++c) {
      Store(t, g.m0 + r, n + c, w.channel_scales[n + c] * static_cast<float>(out[r * C + c]));
    }
  }
}

// Channels per tile: as many as the 16 vector registers allow next to R rows (int4 tiles
// hold two decoded vectors per channel; two channels measured faster for 1-2 rows only).
template <int R>
constexpr int ChannelsInt8() { return R == 1 ? 4 : R == 2 ? 4 : R == 3 ? 3 : 2; }
template <int R>
constexpr int ChannelsInt4() { return R <= 2 ? 2 : 1; }
// Interleaved tiles hold per row and channel an int32, an int16 and a float accumulator.
template <int R>
constexpr int ChannelsInterleaved() { return R <= 2 ? 2 : 1; }

template <int R>
void RunRows(const Group& g, int64_t n0, int64_t n1) {
  const LinearWeights& w = *g.t->w;
  int64_t n = n0;
  if (w.format == WeightFormat::kInt8) {
    constexpr int C = ChannelsInt8<R>();
    for (; n + C <= n1; n += C) RunTile<R, C>(g, n);
  } else if (w.format == WeightFormat::kInt4Interleaved) {
    constexpr int C = ChannelsInterleaved<R>();
    for (; n + C <= n1; n += C) RunTile<R, C>(g, n);
  } else {
    constexpr int C = ChannelsInt4<R>();
    for (; n + C <= n1; n += C) RunTile<R, C>(g, n);
  }
  for (; n < n1; ++n) RunTile<R, 1>(g, n);
}

void Run(const LinearTask& t) {
  const LinearWeights& w = *t.w;
  const int64_t k = w.k;
  const bool int8 = w.format == WeightFormat::kInt8;
  const bool interleaved = w.format == WeightFormat::kInt4Interleaved;
  const int64_t row_bytes = int8 ? k : k / 2;
  int64_t chunk = t.n_end - t.n_begin;
  if (t.rows > kMaxRows) {
    chunk = kChunkBytes / row_bytes;
    chunk = chunk < 8 ? 8 : chunk > 64 ? 64 : chunk;
  }
  // Repacked rows: int16 (int8 weights) or bytes, k elements per row (interleaved: plus a
  // pad); at most 4 * 32768 * 2 bytes, within kLinearScratchBytes.
  const int64_t x_stride = interleaved ? k + kPermutePad : k;
  void* x = t.scratch;
  for (int64_t n0 = t.n_begin; n0 < t.n_end; n0 += chunk) {
    const int64_t n1 = n0 + chunk < t.n_end ? n0 + chunk : t.n_end;
    for (int64_t m0 = 0; m0 < t.rows; m0 += kMaxRows) {
      const int rows = static_cast<int>(t.rows - m0 < kMaxRows ? t.rows - m0 : kMaxRows);
      // Each chunk repacks its rows again: cheap next to chunk * k multiply-adds per row.
      for (int r = 0; r < rows; ++r) {
        const uint8_t* src = t.xq + (m0 + r) * t.xq_stride;
        if (int8) {
          WidenRow(src, k, static_cast<int16_t*>(x) + r * k);
        } else if (interleaved) {
          PermuteRow(src, k, w.block, static_cast<uint8_t*>(x) + r * x_stride);
        } else {
          SplitRow(src, k, static_cast<uint8_t*>(x) + r * k);
        }
      }
      const Group g{&t, m0, x, x_stride};
      switch (rows) {
        case 1: RunRows<1>(g, n0, n1); break;
        case 2: RunRows<2>(g, n0, n1); break;
        case 3: RunRows<3>(g, n0, n1); break;
        default: RunRows<4>(g, n0, n1); break;
      }
    }
  }
}

}  // namespace
}  // namespace avx2
}  // namespace litegen::ops::internal

#if defined(__clang__)
#pragma clang attribute pop
#else
#pragma GCC pop_options
#endif

namespace litegen::ops::internal {
LinearFn LinearAvx2() { return &avx2::Run; }
}  // namespace litegen::ops::internal

#else  // !__x86_64__

namespace litegen::ops::internal {
LinearFn LinearAvx2() { return nullptr; }
}  // namespace litegen::ops::internal

#endif
