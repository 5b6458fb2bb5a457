// Matrix kernel for Intel AMX (AMX-TILE + AMX-INT8), used by the driver for prefill (many
// rows). Only the functions in the target region below use these instructions; LinearAmx()
// checks the CPU and asks Linux for the tile-data permission first, and returns nullptr
// when either is missing, so it is safe to call on any CPU.
//
// The weights are read in place (no repacking at load time), so the kernel computes the
// transposed product C[n][t] = sum_k w[n][k] * xq[t][k] in 16x16 int32 tiles:
//   A tiles: 16 weight rows x 64 bytes of k, loaded straight from the row-major [N][K]
//            int8 weights with stride K (int4 weights, and the last panel of a range whose
//            rows would run past its end, are first widened / copied to int8 in scratch);
//   B tiles: 16 tokens in the VNNI layout TDPBSUD wants, B[k/4][4 t + k%4] = xq[t][k], a
//            4-byte transpose of the activations packed per call into scratch;
//   C tiles: C[n][t], transposed back to y[t][n] by the epilogue.
// The inner loop computes 32 channels x 32 tokens (2 A + 2 B tile loads per 4 TDPBSUD).
// Loop order: a pass packs as many tokens as the scratch holds, then walks the channel
// range in 32-row panels, and each panel in chunks of k: a chunk of A (L1-resident) is
// used by every token pair of the pass, whose C tiles are stored and reloaded between
// chunks. Blockwise int4 scales each block's int32 tile sums in float (k steps aligned to
// blocks); kInt4Interleaved is de-interleaved into the same row-major int8 panel, so only
// its widening and its scales differ. Measured on Sapphire Rapids with 2 threads
// (litegen_ops_bench amx-prefill), TinyLlama shapes, 32-512 rows: int8 2.6-3.7 TOPS, int4
// blocks of 32 (either layout) 1.1-1.4 TOPS; the loop is bound by tile loads (L2 / L3
// bandwidth), not by TDPBSUD.
#include "ops/linear_kernels.h"

#if defined(__x86_64__) && defined(__linux__) && (defined(__GNUC__) || defined(__clang__))
#define LITEGEN_LINEAR_AMX 1
#endif

#if defined(LITEGEN_LINEAR_AMX)
#include <cpuid.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>

#if defined(__GNUC__) && !defined(__clang__)
// GCC 12's AVX-512 headers trip -W(maybe-)uninitialized (_mm*_undefined_*) when inlined
// (GCC bug 105593).
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#pragma GCC diagnostic ignored "-Wuninitialized"
#endif
#include <immintrin.h>

#if defined(__clang__)
#pragma clang attribute push(                                                            \
    __attribute__((target("amx-tile,amx-int8,avx512f,avx512bw,avx512vl,avx2,fma,f16c"))), \
    apply_to = function)
#else
#pragma GCC push_options
#pragma GCC target("amx-tile,amx-int8,avx512f,avx512bw,avx512vl,avx2,fma,f16c")
#endif

namespace litegen::ops::internal {
namespace amx {
namespace {

constexpr int64_t kPanelRows = 32;  // weight rows per panel: two A tiles
constexpr int64_t kGroup = 16;      // tokens per B tile
constexpr int64_t kTile = 1024;     // bytes of one 16 x 64-byte tile
// k per panel chunk (the C tiles of every token pair are stored and reloaded between
// chunks, so a chunk of A is reused from L1 by all pairs). Measured on Sapphire Rapids
// (TinyLlama shapes, 32..512 rows): int8 read in place 256, int8 copied 512 (copies are
// for the last, partial panel of a range and for strides that alias in L1, below), int4
// widened 2048 (smaller chunks measured no faster).
constexpr int64_t kChunkInPlace = 256;
constexpr int64_t kChunkInt8 = 512;
constexpr int64_t kChunkInt4 = 2048;

LinearFn g_fallback = nullptr;  // for shapes whose working set exceeds the scratch

// ldtilecfg's 64-byte operand (palette 1).
struct alignas(64) TileConfig {
  uint8_t palette = 1;
  uint8_t start_row = 0;
  uint8_t reserved[14] = {};
  uint16_t colsb[16] = {};
  uint8_t rows[16] = {};
};
static_assert(sizeof(TileConfig) == 64, "ldtilecfg reads 64 bytes");

// The tile intrinsics are asm statements and tileloadd declares no memory input: keep the
// compiler from sinking our stores to scratch past the tile loads that read them.
inline void MemoryBarrier() { __asm__ volatile("" ::: "memory"); }

// In-register transpose of a 16 x 16 matrix of 32-bit elements (r[i] = row i).
inline void Transpose16(__m512i r[16]) {
  __m512i t[16];
  for (int i = 0; i < 8; ++i) {
    t[2 * i] = _mm512_unpacklo_epi32(r[2 * i], r[2 * i + 1]);
    t[2 * i + 1] = _mm512_unpackhi_epi32(r[2 * i], r[2 * i + 1]);
  }
  // u[4i + j], 128-bit lane L: column 4L + j of rows 4i..4i+3.
  __m512i u[16];
  for (int i = 0; i < 4; ++i) {
    u[4 * i + 0] = _mm512_unpacklo_epi64(t[4 * i + 0], t[4 * i + 2]);
    u[4 * i + 1] = _mm512_unpackhi_epi64(t[4 * i + 0], t[4 * i + 2]);
    u[4 * i + 2] = _mm512_unpacklo_epi64(t[4 * i + 1], t[4 * i + 3]);
    u[4 * i + 3] = _mm512_unpackhi_epi64(t[4 * i + 1], t[4 * i + 3]);
  }
  for (int j = 0; j < 4; ++j) {
    const __m512i x0 = _mm512_shuffle_i32x4(u[j], u[4 + j], 0x44);
    const __m512i x1 = _mm512_shuffle_i32x4(u[j], u[4 + j], 0xEE);
    const __m512i y0 = _mm512_shuffle_i32x4(u[8 + j], u[12 + j], 0x44);
    const __m512i y1 = _mm512_shuffle_i32x4(u[8 + j], u[12 + j], 0xEE);
    r[j] = _mm512_shuffle_i32x4(x0, y0, 0x88);
    r[4 + j] = _mm512_shuffle_i32x4(x0, y0, 0xDD);
    r[8 + j] = _mm512_shuffle_i32x4(x1, y1, 0x88);
    r[12 + j] = _mm512_shuffle_i32x4(x1, y1, 0xDD);
  }
}

// Packs `count` (<= 16) tokens from row m0 into one B group: k at out + 16 * k, i.e. row
// k / 4 of 64 bytes holding 4 bytes of k for each of the 16 tokens. Missing tokens are
// zero (their results are never written).
void PackGroup(const LinearTask& t, int64_t m0, int64_t count, uint8_t* out) {
  const int64_t k = t.w->k;
  for (int64_t kb = 0; kb < k; kb += 64) {
    __m512i r[16];
    for (int i = 0; i < 16; ++i) {
      r[i] = i < count ? _mm512_load_si512(t.xq + (m0 + i) * t.xq_stride + kb)
                       : _mm512_setzero_si512();
    }
    Transpose16(r);
    for (int i = 0; i < 16; ++i) _mm512_store_si512(out + kb * 16 + i * 64, r[i]);
  }
}

// Four slices of a kInt4Interleaved group (16 lanes of 4 bytes, lane j = block j) widened
// to 32 int8 values of each block: out[p] holds those of blocks 2p (low 32 bytes) and
// 2p + 1 (high 32 bytes). In-lane unpacks and 128-bit lane shuffles gather 4 blocks' packed
// words per vector; a word permute then gives each packed word two 32-bit lanes, values
// 8i..8i+3 (slice i's low nibbles) and 8i+4..8i+7 (its high nibbles, shifted down), and
// (v & 15 ^ 8) - 8 sign-extends them: 40 ops per 512 values (the row-order unpack below
// takes 56), and no copies, as no op here overwrites a source.
inline void WidenSlices(__m512i s0, __m512i s1, __m512i s2, __m512i s3, __m512i out[8]) {
  // 128-bit lane L of t01_lo: blocks 4L and 4L + 1, slices 0 and 1 (words s0 s1 s0 s1);
  // t01_hi: blocks 4L + 2 and 4L + 3; t23: the same for slices 2 and 3.
  const __m512i t01_lo = _mm512_unpacklo_epi32(s0, s1);
  const __m512i t01_hi = _mm512_unpackhi_epi32(s0, s1);
  const __m512i t23_lo = _mm512_unpacklo_epi32(s2, s3);
  const __m512i t23_hi = _mm512_unpackhi_epi32(s2, s3);
  // Lanes a, b of t01 then a, b of t23: all 4 slices of blocks 4a + x and 4b + x (x = 0, 1
  // from the lo pair, 2, 3 from the hi pair); (a, b) = (0, 1) (0x44) or (2, 3) (0xEE).
  const __m512i v[4] = {_mm512_shuffle_i64x2(t01_lo, t23_lo, 0x44),
                        _mm512_shuffle_i64x2(t01_hi, t23_hi, 0x44),
                        _mm512_shuffle_i64x2(t01_lo, t23_lo, 0xEE),
                        _mm512_shuffle_i64x2(t01_hi, t23_hi, 0xEE)};
  // Blocks 4a + x, 4a + x + 1 (words 0-3 and 8-11 of v), then 4b + x, 4b + x + 1 (+4),
  // each word twice: the second copy is shifted down to its high nibbles.
  const __m512i first = _mm512_setr_epi32(0, 0, 1, 1, 8, 8, 9, 9, 2, 2, 3, 3, 10, 10, 11, 11);
  const __m512i second = _mm512_add_epi32(first, _mm512_set1_epi32(4));
  const __m512i shift = _mm512_setr_epi32(0, 4, 0, 4, 0, 4, 0, 4, 0, 4, 0, 4, 0, 4, 0, 4);
  const __m512i mask = _mm512_set1_epi8(0x0F);
  const __m512i eight = _mm512_set1_epi8(8);
  constexpr int kAndXor = 0x6A;  // (a & b) ^ c
  for (int q = 0; q < 4; ++q) {
    for (int h = 0; h < 2; ++h) {
      const __m512i w = _mm512_srlv_epi32(_mm512_permutexvar_epi32(h == 0 ? first : second, v[q]),
                                          shift);
      // v[0]: blocks 0, 1 then 4, 5; v[1]: 2, 3 then 6, 7; v[2], v[3]: 8 more.
      out[(q & 2) * 2 + 2 * h + (q & 1)] =
          _mm512_sub_epi8(_mm512_ternarylogic_epi32(w, mask, eight, kAndXor), eight);
    }
  }
}

// kInt4Interleaved: `rows` weight rows from `src` (rows of k / 2 bytes), blocks
// [b0, b0 + nb) widened to int8 rows of `stride` bytes at out (row-major k), 4 slices (32
// values of each block of a group) at a time. The chunk's whole groups are one contiguous
// run of each row, read row by row in order (as the prefetchers like). A group the chunk
// cuts, or a short last group (read with masked loads), computes all 16 lanes and stores
// the chunk's blocks only.
void WidenInterleaved(const uint8_t* src, int64_t rows, int64_t k, int64_t block, int64_t b0,
                      int64_t nb, int8_t* out, int64_t stride) {
  const int64_t blocks = k / block;
  const int64_t steps = block / 32;
  // Whole groups: g_begin .. g_end - 1, 8 * block bytes each.
  const int64_t g_begin = (b0 + 15) / 16;
  const int64_t g_end = std::max(g_begin, std::min(b0 + nb, blocks / 16 * 16) / 16);
  const int64_t whole = (g_end - g_begin) * steps;  // 256-byte steps per row
  for (int64_t r = 0; r < rows && whole > 0; ++r) {
    const uint8_t* at = src + r * (k / 2) + 8 * block * g_begin;
    int8_t* const dst = out + r * stride + (16 * g_begin - b0) * block;
    for (int64_t u = 0; u < whole; ++u, at += 256) {
      __m512i v[8];
      WidenSlices(_mm512_loadu_si512(at), _mm512_loadu_si512(at + 64),
                  _mm512_loadu_si512(at + 128), _mm512_loadu_si512(at + 192), v);
      if (block == 32) {  // one step per group, blocks 2p and 2p + 1 adjacent
        for (int p = 0; p < 8; ++p) _mm512_storeu_si512(dst + 512 * u + 64 * p, v[p]);
        continue;
      }
      // Step t of group g: values 32t.. of its block 2p at base + 2p * block.
      int8_t* const base = dst + u / steps * 16 * block + u % steps * 32;
      for (int p = 0; p < 8; ++p) {
        int8_t* o = base + 2 * p * block;
        _mm256_storeu_si256(reinterpret_cast<__m256i*>(o), _mm512_castsi512_si256(v[p]));
        _mm256_storeu_si256(reinterpret_cast<__m256i*>(o + block),
                            _mm512_extracti64x4_epi64(v[p], 1));
      }
    }
  }
  // The rest (at most the first and the last group of the chunk): a group at a time.
  for (int64_t g = b0 / 16; 16 * g < b0 + nb; ++g) {
    if (g >= g_begin && g < g_end) continue;
    const int64_t lanes = std::min<int64_t>(16, blocks - 16 * g);
    const auto lane_mask = static_cast<__mmask16>((1u << lanes) - 1u);
    const int64_t j0 = std::max(b0, 16 * g) - 16 * g;  // blocks j0 .. j1 - 1 of the group
    const int64_t j1 = std::min(b0 + nb, 16 * g + lanes) - 16 * g;  // are in the chunk
    for (int64_t r = 0; r < rows; ++r) {
      const uint8_t* group = src + r * (k / 2) + 8 * block * g;
      int8_t* const dst = out + r * stride;
      for (int64_t t = 0; t < steps; ++t) {
        const uint8_t* at = group + 16 * lanes * t;  // slices of 4 * lanes bytes
        __m512i v[8];
        WidenSlices(_mm512_maskz_loadu_epi32(lane_mask, at),
                    _mm512_maskz_loadu_epi32(lane_mask, at + 4 * lanes),
                    _mm512_maskz_loadu_epi32(lane_mask, at + 8 * lanes),
                    _mm512_maskz_loadu_epi32(lane_mask, at + 12 * lanes), v);
        for (int64_t j = j0; j < j1; ++j) {
          const int64_t offset = (16 * g + j - b0) * block + 32 * t;
          _mm256_storeu_si256(reinterpret_cast<__m256i*>(dst + offset),
                              j % 2 == 0 ? _mm512_castsi512_si256(v[j / 2])
                                         : _mm512_extracti64x4_epi64(v[j / 2], 1));
        }
      }
    }
  }
}

// Weight rows [n0, n0 + 32), k in [k0, k0 + len), as int8 rows of `stride` bytes; rows at
// or past n_end are zero (they belong to another range, or do not exist). For
// kInt4Interleaved, k0 and len are whole blocks.
void WidenPanel(const LinearWeights& w, int64_t n0, int64_t n_end, int64_t k0, int64_t len,
                int8_t* out, int64_t stride) {
  const int64_t rows = std::min(kPanelRows, n_end - n0);
  for (int64_t r = rows; r < kPanelRows; ++r) {
    std::memset(out + r * stride, 0, static_cast<size_t>(len));
  }
  if (w.format == WeightFormat::kInt4Interleaved) {
    WidenInterleaved(static_cast<const uint8_t*>(w.data) + n0 * (w.k / 2), rows, w.k, w.block,
                     k0 / w.block, len / w.block, out, stride);
    return;
  }
  const __m512i low4 = _mm512_set1_epi16(0x000F);
  const __m512i high4 = _mm512_set1_epi16(0x00F0);
  const __m512i eight = _mm512_set1_epi8(8);
  for (int64_t r = 0; r < rows; ++r) {
    int8_t* dst = out + r * stride;
    const int64_t n = n0 + r;
    if (w.format == WeightFormat::kInt8) {
      std::memcpy(dst, static_cast<const int8_t*>(w.data) + n * w.k + k0,
                  static_cast<size_t>(len));
    } else {
      const auto* src = static_cast<const uint8_t*>(w.data) + n * (w.k / 2) + k0 / 2;
      for (int64_t i = 0; i < len; i += 64) {
        // Byte j -> 16-bit lane j; low nibble to the lane's low byte (element 2j), high
        // nibble to its high byte (element 2j + 1); then sign-extend: (v ^ 8) - 8.
        const __m512i b = _mm512_cvtepu8_epi16(
            _mm256_loadu_si256(reinterpret_cast<const __m256i*>(src + i / 2)));
        __m512i v = _mm512_or_si512(_mm512_and_si512(b, low4),
                                    _mm512_slli_epi16(_mm512_and_si512(b, high4), 4));
        v = _mm512_sub_epi8(_mm512_xor_si512(v, eight), eight);
        _mm512_storeu_si512(dst + i, v);
      }
    }
  }
}

// The first min(count, 16) lanes.
inline __mmask16 BlockMask(int64_t count) {
  return static_cast<__mmask16>(count >= 16 ? 0xFFFF : (1u << count) - 1u);
}

// scales[row][block] (rows of the panel at n0, blocks [b0, b0 + nblocks) of each) as float:
// kInt4's fp16 scales, or kInt4Interleaved's channel scale times block code; rows at or past
// n_end get 0.
void PanelScales(const LinearWeights& w, int64_t n0, int64_t n_end, int64_t b0,
                 int64_t nblocks, float* scales) {
  const int64_t blocks_per_row = w.k / w.block;
  for (int64_t r = 0; r < kPanelRows; ++r) {
    const int64_t n = n0 + r;
    float* out = scales + r * nblocks;
    if (n >= n_end) {
      std::memset(out, 0, static_cast<size_t>(nblocks) * sizeof(float));
      continue;
    }
    const int64_t at = n * blocks_per_row + b0;
    if (w.format == WeightFormat::kInt4Interleaved) {
      // Exact in float (code < 256), so one rounding, as the reference's product.
      const __m512 channel = _mm512_set1_ps(w.channel_scales[n]);
      for (int64_t b = 0; b < nblocks; b += 16) {
        const __mmask16 mask = BlockMask(nblocks - b);
        const __m512 codes = _mm512_cvtepi32_ps(
            _mm512_cvtepu8_epi32(_mm_maskz_loadu_epi8(mask, w.block_codes + at + b)));
        _mm512_mask_storeu_ps(out + b, mask, _mm512_mul_ps(channel, codes));
      }
      continue;
    }
    for (int64_t b = 0; b < nblocks; b += 16) {
      const __mmask16 mask = BlockMask(nblocks - b);
      const __m256i half = _mm256_maskz_loadu_epi16(mask, w.block_scales + at + b);
      _mm512_mask_storeu_ps(out + b, mask, _mm512_cvtph_ps(half));
    }
  }
}

// How one call splits its work to fit the scratch.
struct Plan {
  int64_t step;          // k per TDPBSUD: 64, or 32 for blocks that are odd multiples of 32
  int64_t chunk;         // k per widened panel (a multiple of 64 and of the block)
  int64_t panel_stride;  // bytes per widened panel row
  int64_t tokens;        // tokens packed per pass (a multiple of 16)
  bool blockwise;
  // Scratch offsets.
  int64_t panel_at, acc_at, tmp_at, scales_at;
};

int64_t Gcd(int64_t a, int64_t b) { return b == 0 ? a : Gcd(b, a % b); }

bool MakePlan(const LinearWeights& w, int64_t rows, Plan* p) {
  const int64_t k = w.k;
  // kInt4Interleaved is blockwise (block codes) even with one block per row.
  p->blockwise = w.block != k || w.format == WeightFormat::kInt4Interleaved;
  p->step = p->blockwise && w.block % 64 != 0 ? 32 : 64;
  const int64_t unit = p->blockwise ? w.block / Gcd(w.block, 64) * 64 : 64;
  const int64_t max_chunk = w.format == WeightFormat::kInt8 ? kChunkInt8 : kChunkInt4;
  p->chunk = std::min(k, std::max(unit, max_chunk / unit * unit));
  // +64: keeps the 32 rows of a panel from mapping onto the same L1 sets.
  p->panel_stride = p->chunk + 64;
  const int64_t panel = kPanelRows * p->panel_stride;
  const int64_t scales = p->blockwise ? p->chunk / w.block * kPanelRows * 4 : 0;
  const int64_t fixed = panel + 4 * kTile + (scales + 63) / 64 * 64;
  const int64_t avail = static_cast<int64_t>(kLinearScratchBytes) - fixed;
  // Per token: its packed activations and its share of a 32-token pair's 4 C tiles.
  int64_t tokens = avail / (k + 4 * kTile / 32) / 32 * 32;
  if (tokens < 32) {
    if (kGroup * k + 4 * kTile > avail) return false;
    tokens = kGroup;
  }
  // Even passes (a last pass of a few tokens would re-read every weight for little work).
  const int64_t padded = (rows + kGroup - 1) / kGroup * kGroup;
  const int64_t passes = (padded + tokens - 1) / tokens;
  const int64_t per_pass = (padded + passes - 1) / passes;
  const int64_t align = tokens >= 32 ? 32 : kGroup;
  p->tokens = std::min(tokens, (per_pass + align - 1) / align * align);
  p->panel_at = p->tokens * k;
  p->acc_at = p->panel_at + panel;
  p->tmp_at = p->acc_at + (p->tokens + 31) / 32 * 4 * kTile;
  p->scales_at = p->tmp_at + 4 * kTile;
  return p->scales_at + scales <= static_cast<int64_t>(kLinearScratchBytes);
}

// Tiles: 0..3 C (channel half h, token group g at tile h + 2 g), 4..5 A (halves), 6..7 B.
#define LITEGEN_AMX_STEP(a, a_stride, b0, b1, kTwo) \
  do {                                              \
    _tile_loadd(4, (a), (a_stride));                \
    _tile_loadd(6, (b0), 64);                       \
    _tile_dpbsud(0, 4, 6);                          \
    _tile_loadd(5, (a) + 16 * (a_stride), (a_stride)); \
    _tile_dpbsud(1, 5, 6);                          \
    if (kTwo) {                                     \
      _tile_loadd(7, (b1), 64);                     \
      _tile_dpbsud(2, 4, 7);                        \
      _tile_dpbsud(3, 5, 7);                        \
    }                                               \
  } while (0)

template <bool kTwo>
void ZeroC() {
  _tile_zero(0);
  _tile_zero(1);
  if (kTwo) {
    _tile_zero(2);
    _tile_zero(3);
  }
}

template <bool kTwo>
void StoreC(uint8_t* acc) {
  _tile_stored(0, acc, 64);
  _tile_stored(1, acc + kTile, 64);
  if (kTwo) {
    _tile_stored(2, acc + 2 * kTile, 64);
    _tile_stored(3, acc + 3 * kTile, 64);
  }
}

template <bool kTwo>
void LoadC(const uint8_t* acc) {
  _tile_loadd(0, acc, 64);
  _tile_loadd(1, acc + kTile, 64);
  if (kTwo) {
    _tile_loadd(2, acc + 2 * kTile, 64);
    _tile_loadd(3, acc + 3 * kTile, 64);
  }
}

// Per-channel scales: int32 sums over k in [k0, k0 + len) added to the pair's C tiles in
// acc (zero when first). a points at the panel's first row, column k0.
template <bool kTwo>
void PerChannelSteps(const int8_t* a, int64_t a_stride, const uint8_t* b0, const uint8_t* b1,
                     int64_t k0, int64_t len, bool first, uint8_t* acc) {
  if (first) {
    ZeroC<kTwo>();
  } else {
    LoadC<kTwo>(acc);
  }
  for (int64_t kk = 0; kk < len; kk += 64) {
    LITEGEN_AMX_STEP(a + kk, a_stride, b0 + (k0 + kk) * 16, b1 + (k0 + kk) * 16, kTwo);
  }
  StoreC<kTwo>(acc);
}

// Blockwise scales: for each block in [k0, k0 + len), the block's int32 tile sums times
// the row's block scale (scales[row * blocks + block], blocks = len / block) added to the
// float tiles in acc (set instead when first).
template <bool kTwo>
void BlockwiseSteps(const int8_t* a, int64_t a_stride, const uint8_t* b0, const uint8_t* b1,
                    int64_t k0, int64_t len, int64_t block, int64_t step, bool first,
                    const float* scales, uint8_t* acc, uint8_t* tmp) {
  constexpr int kTiles = kTwo ? 4 : 2;
  auto* f = reinterpret_cast<float*>(acc);
  const auto* c = reinterpret_cast<const int32_t*>(tmp);
  const int64_t blocks = len / block;
  for (int64_t bi = 0; bi < blocks; ++bi) {
    ZeroC<kTwo>();
    for (int64_t kk = bi * block; kk < (bi + 1) * block; kk += step) {
      LITEGEN_AMX_STEP(a + kk, a_stride, b0 + (k0 + kk) * 16, b1 + (k0 + kk) * 16, kTwo);
    }
    StoreC<kTwo>(tmp);
    const bool set = first && bi == 0;
    for (int tile = 0; tile < kTiles; ++tile) {
      const float* sh = scales + (tile & 1) * 16 * blocks + bi;
      for (int n = 0; n < 16; ++n) {
        const int64_t at = tile * 256 + n * 16;
        const __m512 sum = _mm512_cvtepi32_ps(_mm512_load_si512(c + at));
        const __m512 scale = _mm512_set1_ps(sh[n * blocks]);
        _mm512_store_ps(f + at, set ? _mm512_mul_ps(scale, sum)
                                    : _mm512_fmadd_ps(scale, sum, _mm512_load_ps(f + at)));
      }
    }
  }
}

#undef LITEGEN_AMX_STEP

// y for the pair's tiles: rows m0.. (groups of 16 tokens), channels n0.. (halves of 16).
void Epilogue(const LinearTask& t, bool blockwise, int tiles, const uint8_t* acc, int64_t m0,
              int64_t n0) {
  const LinearWeights& w = *t.w;
  for (int tile = 0; tile < tiles; ++tile) {
    const int64_t nb = n0 + (tile & 1) * 16;
    const int64_t mb = m0 + (tile >> 1) * kGroup;
    if (nb >= t.n_end || mb >= t.rows) continue;
    const int64_t valid_n = std::min<int64_t>(16, t.n_end - nb);
    const int64_t valid_t = std::min<int64_t>(kGroup, t.rows - mb);
    const __mmask16 mask = static_cast<__mmask16>((1u << valid_n) - 1u);
    __m512i r[16];
    for (int i = 0; i < 16; ++i) r[i] = _mm512_load_si512(acc + tile * kTile + i * 64);
    Transpose16(r);  // r[token][channel]
    const __m512 scale = blockwise ? _mm512_set1_ps(1.0f)
                                   : _mm512_maskz_loadu_ps(mask, w.channel_scales + nb);
    const __m512 wsum = _mm512_maskz_loadu_ps(mask, w.wsum + nb);
    const __m512 bias =
        t.bias != nullptr ? _mm512_maskz_loadu_ps(mask, t.bias + nb) : _mm512_setzero_ps();
    for (int64_t i = 0; i < valid_t; ++i) {
      const int64_t m = mb + i;
      __m512 v = blockwise ? _mm512_castsi512_ps(r[i])
                           : _mm512_mul_ps(scale, _mm512_cvtepi32_ps(r[i]));
      v = _mm512_fnmadd_ps(_mm512_set1_ps(static_cast<float>(t.x_zero[m])), wsum, v);
      v = _mm512_fmadd_ps(_mm512_set1_ps(t.x_scale[m]), v, bias);
      _mm512_mask_storeu_ps(t.y + m * t.y_stride + nb, mask, v);
    }
  }
}

void RunAmx(const LinearTask& t) {
  const LinearWeights& w = *t.w;
  Plan p;
  if (!MakePlan(w, t.rows, &p)) {
    g_fallback(t);
    return;
  }
  const int64_t k = w.k;
  uint8_t* const xpack = t.scratch;
  auto* const panel = reinterpret_cast<int8_t*>(t.scratch + p.panel_at);
  uint8_t* const acc_base = t.scratch + p.acc_at;
  uint8_t* const tmp = t.scratch + p.tmp_at;
  auto* const scales = reinterpret_cast<float*>(t.scratch + p.scales_at);

  TileConfig cfg;
  for (int i = 0; i < 4; ++i) {
    cfg.rows[i] = 16;
    cfg.colsb[i] = 64;
  }
  for (int i = 4; i < 6; ++i) {
    cfg.rows[i] = 16;
    cfg.colsb[i] = static_cast<uint16_t>(p.step);
  }
  for (int i = 6; i < 8; ++i) {
    cfg.rows[i] = static_cast<uint8_t>(p.step / 4);
    cfg.colsb[i] = 64;
  }
  _tile_loadconfig(&cfg);

  // A row stride that is a multiple of 2 KB puts the 32 rows of a panel into two sets of
  // L1 lines (more lines than ways): chunks of A then miss L1 every time a token pair
  // reuses them. Copying the panel to a padded stride wins once a pass has several pairs
  // (K = 2048: +10-25% at 128-512 rows; one pair reads in place, copying would only cost).
  const bool aliasing_stride = k % 2048 == 0;
  for (int64_t m0 = 0; m0 < t.rows; m0 += p.tokens) {
    const int64_t count = std::min(p.tokens, t.rows - m0);
    const int64_t groups = (count + kGroup - 1) / kGroup;
    for (int64_t g = 0; g < groups; ++g) {
      PackGroup(t, m0 + g * kGroup, std::min(kGroup, count - g * kGroup),
                xpack + g * kGroup * k);
    }
    MemoryBarrier();
    for (int64_t n0 = t.n_begin; n0 < t.n_end; n0 += kPanelRows) {
      // Full int8 panels are read in place unless their rows alias in L1; the rest is
      // widened (copied) chunk by chunk.
      const bool direct = w.format == WeightFormat::kInt8 && n0 + kPanelRows <= t.n_end &&
                          !(aliasing_stride && groups > 2);
      const int64_t chunk = direct ? std::min(k, kChunkInPlace) : p.chunk;
      for (int64_t k0 = 0; k0 < k; k0 += chunk) {
        const int64_t len = std::min(chunk, k - k0);  // blockwise chunks divide k
        const int8_t* a;
        int64_t a_stride;
        if (direct) {
          a = static_cast<const int8_t*>(w.data) + n0 * k + k0;
          a_stride = k;
        } else {
          WidenPanel(w, n0, t.n_end, k0, len, panel, p.panel_stride);
          a = panel;
          a_stride = p.panel_stride;
        }
        if (p.blockwise) {
          PanelScales(w, n0, t.n_end, k0 / w.block, len / w.block, scales);
        }
        MemoryBarrier();
        const bool first = k0 == 0;
        const bool last = k0 + len == k;
        for (int64_t g = 0; g < groups; g += 2) {
          const bool two = g + 1 < groups;
          const uint8_t* b0 = xpack + g * kGroup * k;
          const uint8_t* b1 = two ? b0 + kGroup * k : b0;
          uint8_t* acc = acc_base + g / 2 * 4 * kTile;
          if (p.blockwise) {
            if (two) {
              BlockwiseSteps<true>(a, a_stride, b0, b1, k0, len, w.block, p.step, first,
                                   scales, acc, tmp);
            } else {
              BlockwiseSteps<false>(a, a_stride, b0, b1, k0, len, w.block, p.step, first,
                                    scales, acc, tmp);
            }
          } else if (two) {
            PerChannelSteps<true>(a, a_stride, b0, b1, k0, len, first, acc);
          } else {
            PerChannelSteps<false>(a, a_stride, b0, b1, k0, len, first, acc);
          }
          if (last) Epilogue(t, p.blockwise, two ? 4 : 2, acc, m0 + g * kGroup, n0);
        }
      }
    }
  }
  _tile_release();
}

}  // namespace
}  // namespace amx

#if defined(__clang__)
#pragma clang attribute pop
#else
#pragma GCC pop_options
#endif

namespace {

// AMX-TILE and AMX-INT8 (cpuid leaf 7, EDX bits 24 and 25), the AVX-512 the packing and
// epilogue use, and Linux's once-per-process permission to use the tile data state.
bool AmxUsable() {
  unsigned eax = 0, ebx = 0, ecx = 0, edx = 0;
  if (__get_cpuid_count(7, 0, &eax, &ebx, &ecx, &edx) == 0) return false;
  if ((edx & (1u << 24)) == 0 || (edx & (1u << 25)) == 0) return false;
  if (!__builtin_cpu_supports("avx512f") || !__builtin_cpu_supports("avx512bw") ||
      !__builtin_cpu_supports("avx512vl") || !__builtin_cpu_supports("fma")) {
    return false;
  }
  // F16C (leaf 1, ECX bit 29) through cpuid: clang's __builtin_cpu_supports lacks "f16c".
  if (__get_cpuid(1, &eax, &ebx, &ecx, &edx) == 0 || (ecx & (1u << 29)) == 0) return false;
  constexpr long kArchReqXcompPerm = 0x1023;
  constexpr long kXfeatureXtiledata = 18;
  return syscall(SYS_arch_prctl, kArchReqXcompPerm, kXfeatureXtiledata) == 0;
}

}  // namespace

LinearFn LinearAmx() {
  static const bool usable = [] {
    if (!AmxUsable()) return false;
    // Shapes too large for the scratch (k beyond ~24K) go to the best vector kernel.
    LinearFn fallback = LinearAvx512();
    if (fallback == nullptr) fallback = LinearAvx2();
    if (fallback == nullptr) fallback = LinearScalar();
    amx::g_fallback = fallback;
    return true;
  }();
  return usable ? &amx::RunAmx : nullptr;
}

}  // namespace litegen::ops::internal

#else  // !LITEGEN_LINEAR_AMX

namespace litegen::ops::internal {

LinearFn LinearAmx() { return nullptr; }

}  // namespace litegen::ops::internal

#endif
