// The in-place KV-cache write (the math of the LITEGEN_KV_CACHE_UPDATE custom op, see
// docs/custom_ops.md).
#ifndef LITEGEN_CPP_OPS_KV_CACHE_H_
#define LITEGEN_CPP_OPS_KV_CACHE_H_

#include <cstdint>

#include "litert/status.h"

namespace litegen::ops {

struct KvCacheShape {
  int batch = 1;
  int heads = 1;    // Hkv
  int max_len = 1;  // S_max: rows of the cache
  int len = 1;      // T: rows of the update (and positions)
  int head_dim = 1;
};

// cache[b, h, positions[t], :] = update[b, h, t, :] for every b, h, t (one memcpy per row).
// cache is [B, H, S_max, D], update [B, H, T, D]. Positions are all checked before anything
// is written: one outside [0, S_max) is an error (kInput) and leaves the cache unchanged.
Status KvCacheUpdate(const KvCacheShape& shape, float* cache, const float* update,
                     const int32_t* positions);
// The same into a float16 cache (IEEE half bits): each value rounded to nearest even.
Status KvCacheUpdate(const KvCacheShape& shape, uint16_t* cache, const float* update,
                     const int32_t* positions);

}  // namespace litegen::ops

#endif  // LITEGEN_CPP_OPS_KV_CACHE_H_
