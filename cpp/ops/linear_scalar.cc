// Portable matrix kernel: plain C++ (the compiler may still auto-vectorize it for the
// baseline target). Also the reference the SIMD kernels are tested against.
#include <cstdint>
#include <cstring>

#include "ops/linear_kernels.h"

namespace litegen::ops::internal {
namespace {

// Weight row n, values k0 .. k0 + len - 1, widened to int8 (int4 unpacked).
void WidenBlock(const LinearWeights& w, int64_t n, int64_t k0, int64_t len, int8_t* out) {
  if (w.format == WeightFormat::kInt8) {
    std::memcpy(out, static_cast<const int8_t*>(w.data) + n * w.k + k0, len);
    return;
  }
  const auto* row = static_cast<const uint8_t*>(w.data) + n * (w.k / 2);
  if (w.format == WeightFormat::kInt4Interleaved) {  // through the position map (slow, plain)
    for (int64_t i = 0; i < len; ++i) {
      const InterleavedPosition at = InterleavedAt(w.k, w.block, k0 + i);
      out[i] = static_cast<int8_t>((((row[at.byte] >> (4 * at.high)) & 0x0F) ^ 8) - 8);
    }
    return;
  }
  for (int64_t i = 0; i < len; i += 2) {
    const uint8_t byte = row[(k0 + i) / 2];
    // Sign-extend each nibble: (v ^ 8) - 8 maps 0..15 onto 0..7, -8..-1.
    out[i] = static_cast<int8_t>(((byte & 0x0F) ^ 8) - 8);
    out[i + 1] = static_cast<int8_t>(((byte >> 4) ^ 8) - 8);
  }
}

float BlockScale(const LinearWeights& w, int64_t n, int64_t b) {
  if (w.format == WeightFormat::kInt4Interleaved) {
    return w.channel_scales[n] * static_cast<float>(w.block_codes[n * (w.k / w.block) + b]);
  }
  if (w.block == w.k) return w.channel_scales[n];
  return HalfToFloat(w.block_scales[n * (w.k / w.block) + b]);
}

void RunScalar(const LinearTask& t) {
  const LinearWeights& w = *t.w;
  const int64_t blocks = w.k / w.block;
  int8_t widened[512];
  for (int64_t n = t.n_begin; n < t.n_end; ++n) {
    for (int64_t m = 0; m < t.rows; ++m) {
      const uint8_t* x = t.xq + m * t.xq_stride;
      // double: the reference the vector kernels are tested against sums up to 1024 block
      // terms, whose float rounding alone would approach the tests' 1e-5.
      double sum = 0.0;
      for (int64_t b = 0; b < blocks; ++b) {
        int32_t acc = 0;
        for (int64_t k0 = b * w.block; k0 < (b + 1) * w.block; k0 += 512) {
          const int64_t len = (b + 1) * w.block - k0 < 512 ? (b + 1) * w.block - k0 : 512;
          WidenBlock(w, n, k0, len, widened);
          for (int64_t i = 0; i < len; ++i) acc += int32_t{x[k0 + i]} * int32_t{widened[i]};
        }
        sum += static_cast<double>(BlockScale(w, n, b)) * acc;
      }
      float y = t.x_scale[m] * (static_cast<float>(sum) - static_cast<float>(t.x_zero[m]) * w.wsum[n]);
      if (t.bias != nullptr) y += t.bias[n];
      t.y[m * t.y_stride + n] = y;
    }
  }
}

}  // namespace

LinearFn LinearScalar() { return &RunScalar; }

}  // namespace litegen::ops::internal
