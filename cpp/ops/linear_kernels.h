// Internal: the per-instruction-set matrix kernels behind ops::Linear (LITEGEN_FC).
//
// The driver (linear.cc, compiled for the baseline target) validates shapes, quantizes the
// activations (every row to asymmetric uint8, see QuantizeRow in linear.cc), and splits the
// output channels into one contiguous range per thread. A `LinearFn` of the selected
// instruction set then computes every row for its range of output channels, reading each
// weight once: decode (one row) streams the weights at memory bandwidth, prefill reuses
// each weight block for all rows. Each kernel lives in its own translation unit
// (linear_scalar.cc, linear_avx2.cc, linear_avx512.cc, linear_amx.cc, linear_neon.cc) whose
// functions alone are compiled for that instruction set.
//
// The math every kernel computes (all integer sums are exact; only the float steps may
// round differently between kernels):
//
//   acc[m][n][b] = sum over k in block b of  int32(xq[m][k]) * int32(w[n][k])
//   y[m][n]      = x_scale[m] * (sum_b scale[n][b] * acc[m][n][b]
//                                 - x_zero[m] * wsum[n])                 (+ bias[n])
//
// where w is int8, or int4 unpacked to [-8, 7]; per-channel formats have one block per row
// (block == K) and float32 scales; blockwise kInt4 has fp16 scales, kInt4Interleaved
// scale[n][b] = channel_scales[n] * block_codes[n][b]; wsum[n] is
// sum_k scale[n][b(k)] * w[n][k] (the row sum of the dequantized weight, stored in the
// model so no kernel recomputes it).
#ifndef LITEGEN_CPP_OPS_LINEAR_KERNELS_H_
#define LITEGEN_CPP_OPS_LINEAR_KERNELS_H_

#include <cstddef>
#include <cstdint>

#include "ops/half.h"

namespace litegen::ops::internal {

enum class WeightFormat {
  kInt8,  // int8 [N][K]
  kInt4,  // uint8 [N][K / 2]: element 2j in the low nibble of byte j, 2j+1 in the high
          // nibble, each a 4-bit two's complement value in [-8, 7]
  // uint8 [N][K / 2], blockwise, in the lane order of a 64-byte VNNI vector: see below.
  kInt4Interleaved,
};

// kInt4Interleaved: why. A 64-byte vector of int8 products has 16 lanes of 4 bytes; when
// lane j only ever sees block j, a group of 16 blocks is one vector of 16 exact block sums,
// scaled by one multiply-add (no reduction across lanes, unlike row order). The scales
// are 8-bit codes under a float32 per-row scale (4.25 bits per weight at block 32, not
// 4.5 with fp16 scales).
//
// Layout of one row (K / 2 bytes). Blocks of B weights (B a multiple of 32 dividing K),
// G = K / B of them, taken 16 at a time: group g holds blocks 16g .. 16g + L - 1 with
// L = min(16, G - 16g) lanes, starts at byte 8 * B * g and has B / 8 slices of 4 * L bytes.
// Byte 4 * L * i + 4 * j + e (e in 0..3) of the group holds, of block 16g + j,
//   element 8i + e      in its low nibble,
//   element 8i + 4 + e  in its high nibble
// (4-bit two's complement, as kInt4). So slice i's low nibbles are elements 8i..8i+3 of
// every block of the group, lane by lane, and its high nibbles elements 8i+4..8i+7.
struct InterleavedPosition {
  int64_t byte;  // within the row
  int high;      // 0: low nibble, 1: high nibble
};
inline InterleavedPosition InterleavedAt(int64_t k, int64_t block, int64_t element) {
  const int64_t b = element / block, in_block = element % block;
  const int64_t g = b / 16, j = b % 16;
  const int64_t blocks = k / block;
  const int64_t lanes = blocks - 16 * g < 16 ? blocks - 16 * g : 16;
  const int64_t i = in_block / 8, r = in_block % 8;
  return {8 * block * g + 4 * lanes * i + 4 * j + r % 4, r >= 4 ? 1 : 0};
}

struct LinearWeights {
  WeightFormat format = WeightFormat::kInt8;
  int64_t n = 0;  // output features (rows of the weight)
  int64_t k = 0;  // input features; a multiple of 64 for every format
  const void* data = nullptr;
  // block == k: per channel, channel_scales [N] float32 (kInt8, kInt4).
  // block <  k: blockwise, block a multiple of 32 dividing k:
  //             kInt4: block_scales [N][k / block] IEEE fp16 bits;
  //             kInt4Interleaved: block_codes [N][k / block] and channel_scales [N].
  int64_t block = 0;
  const float* channel_scales = nullptr;
  const uint16_t* block_scales = nullptr;
  const uint8_t* block_codes = nullptr;
  const float* wsum = nullptr;  // [N]
};

struct LinearTask {
  const LinearWeights* w = nullptr;
  // Quantized activations: rows x k bytes at xq + m * xq_stride (xq_stride a multiple of 64,
  // rows 64-byte aligned), with their per-row scale and zero point.
  int64_t rows = 0;
  const uint8_t* xq = nullptr;
  int64_t xq_stride = 0;
  const float* x_scale = nullptr;  // [rows]
  const int32_t* x_zero = nullptr;  // [rows], in [0, 255]
  const float* bias = nullptr;      // [N] or null
  // Output rows: y + m * y_stride, columns n_begin..n_end-1 written (each exactly once).
  float* y = nullptr;
  int64_t y_stride = 0;
  // The output channels of this call; n_begin is a multiple of 16 (n_end may be n).
  int64_t n_begin = 0;
  int64_t n_end = 0;
  // Per-thread scratch of at least kLinearScratchBytes bytes, 64-byte aligned (kernels that
  // repack activations or widen int4 blocks use it; others ignore it).
  uint8_t* scratch = nullptr;
};

// Scratch per thread: enough for a kernel to repack 16 rows x 32768 input features, or
// widen 64 weight rows x 4096 features.
constexpr size_t kLinearScratchBytes = size_t{1} << 19;

using LinearFn = void (*)(const LinearTask& task);

// Each returns nullptr when its instruction set is not compiled into this binary. The
// driver checks the CPU before calling one (AVX-512 here means F, BW, VL and VNNI; AMX
// means AMX-INT8 with the tile data permission granted by the OS).
LinearFn LinearScalar();
LinearFn LinearAvx2();
LinearFn LinearAvx512();
LinearFn LinearAmx();
LinearFn LinearNeon();

// IEEE half -> float, exact (portable; kernels may use F16C / NEON conversions instead).
using ops::HalfToFloat;

}  // namespace litegen::ops::internal

#endif  // LITEGEN_CPP_OPS_LINEAR_KERNELS_H_
