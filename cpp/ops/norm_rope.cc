#include "ops/norm_rope.h"

#include <cmath>
#include <cstring>

namespace litegen::ops {

void RmsNorm(const float* x, int64_t rows, int64_t dim, const float* weight, float eps,
             float* out) {
  constexpr int kLanes = 16;  // independent partial sums: the loop vectorizes
  for (int64_t r = 0; r < rows; ++r) {
    const float* xr = x + r * dim;
    float lanes[kLanes] = {};
    int64_t i = 0;
    for (; i + kLanes <= dim; i += kLanes) {
      for (int j = 0; j < kLanes; ++j) lanes[j] += xr[i + j] * xr[i + j];
    }
    float sum = 0.0f;
    for (; i < dim; ++i) sum += xr[i] * xr[i];
    for (int j = 0; j < kLanes; ++j) sum += lanes[j];
    const float inv = 1.0f / std::sqrt(sum / static_cast<float>(dim) + eps);
    float* o = out + r * dim;
    for (int64_t k = 0; k < dim; ++k) o[k] = xr[k] * inv * weight[k];
  }
}

void Rope(const float* x, int64_t outer, int64_t t, int64_t d, const float* cos,
          const float* sin, int64_t rot, float* out) {
  const int64_t half = rot / 2;
  for (int64_t o = 0; o < outer; ++o) {
    for (int64_t p = 0; p < t; ++p) {
      const float* xr = x + (o * t + p) * d;
      const float* c = cos + p * rot;
      const float* s = sin + p * rot;
      float* y = out + (o * t + p) * d;
      for (int64_t i = 0; i < half; ++i) {
        y[i] = xr[i] * c[i] - xr[i + half] * s[i];
        y[i + half] = xr[i + half] * c[i + half] + xr[i] * s[i + half];
      }
      if (rot < d) std::memcpy(y + rot, xr + rot, static_cast<size_t>(d - rot) * sizeof(float));
    }
  }
}

}  // namespace litegen::ops
