// Keeps an XNNPack weight-cache file tied to the model it was built from.
//
// XNNPack does not check that a cache file matches the model's weights: pointed at a
// cache written for another model with the same structure, it silently computes with
// the other model's weights (observed with ai-edge-litert 2.3.0). litegen therefore
// writes a fingerprint of the model (path, size, mtime, inode) next to the cache and
// discards a cache whose fingerprint is missing or different before LiteRT opens it.
#ifndef LITEGEN_CPP_LITERT_WEIGHT_CACHE_H_
#define LITEGEN_CPP_LITERT_WEIGHT_CACHE_H_

#include <cstdint>
#include <string>

#include "litert/status.h"

namespace litegen {

class WeightCacheGuard {
 public:
  // Validates `cache_path` for `model_path`, removing a cache that belongs to another
  // model (or to an older version of this one). Refuses to remove a file that does not
  // look like an XNNPack cache.
  static Expected<WeightCacheGuard> Prepare(const std::string& cache_path,
                                            const std::string& model_path);
  // Records the fingerprint once the cache has been written for this model.
  Status Commit() const;

  static std::string FingerprintPath(const std::string& cache_path);

  // Deletes the caches in `dir` (with their fingerprints) whose model is gone or has
  // changed since: keyed by the model's path, nobody can use them again, and each can be
  // as large as its model. Caches without a fingerprint (possibly being written) and
  // files that do not look like XNNPack caches are left alone. Returns the bytes freed.
  // Best effort: errors only mean less is freed.
  static uint64_t PruneStale(const std::string& dir);

 private:
  WeightCacheGuard(std::string cache_path, std::string fingerprint)
      : cache_path_(std::move(cache_path)), fingerprint_(std::move(fingerprint)) {}

  std::string cache_path_;
  std::string fingerprint_;
};

}  // namespace litegen

#endif  // LITEGEN_CPP_LITERT_WEIGHT_CACHE_H_
