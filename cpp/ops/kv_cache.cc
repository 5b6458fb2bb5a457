#include "ops/kv_cache.h"

#include <cstring>
#include <string>

namespace litegen::ops {

Status KvCacheUpdate(const KvCacheShape& s, float* cache, const float* update,
                     const int32_t* positions) {
  if (s.batch < 1 || s.heads < 1 || s.max_len < 1 || s.len < 0 || s.head_dim < 1) {
    return Status(ErrorCode::kInput,
                  "kv_cache_update: dimensions must be positive (B=" + std::to_string(s.batch) +
                      ", H=" + std::to_string(s.heads) + ", S=" + std::to_string(s.max_len) +
                      ", T=" + std::to_string(s.len) + ", D=" + std::to_string(s.head_dim) + ")");
  }
  for (int t = 0; t < s.len; ++t) {
    if (positions[t] < 0 || positions[t] >= s.max_len) {
      return Status(ErrorCode::kInput, "kv_cache_update: input_pos[" + std::to_string(t) +
                                           "] = " + std::to_string(positions[t]) +
                                           " is outside [0, " + std::to_string(s.max_len) +
                                           ") (the cache length)");
    }
  }
  const size_t row_bytes = sizeof(float) * static_cast<size_t>(s.head_dim);
  const int64_t heads = int64_t{s.batch} * s.heads;
  for (int64_t bh = 0; bh < heads; ++bh) {
    float* dst = cache + bh * s.max_len * s.head_dim;
    const float* src = update + bh * s.len * s.head_dim;
    for (int t = 0; t < s.len; ++t) {
      std::memmove(dst + int64_t{positions[t]} * s.head_dim, src + int64_t{t} * s.head_dim,
                  row_bytes);
    }
  }
  return Status::Ok();
}

}  // namespace litegen::ops
