#include "litert/weight_cache.h"

#include <dirent.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <climits>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <iterator>
#include <memory>
#include <vector>

namespace litegen {
namespace {

// XNNPack cache files start with a little-endian uint64 format version (4 in the
// XNNPack bundled with ai-edge-litert 2.3.0). Anything else is not ours to delete.
constexpr uint64_t kMaxKnownCacheVersion = 64;

bool LooksLikeXnnpackCache(const std::string& path) {
  std::unique_ptr<FILE, int (*)(FILE*)> file(std::fopen(path.c_str(), "rb"), &std::fclose);
  if (!file) return false;
  unsigned char header[8] = {};
  if (std::fread(header, 1, sizeof(header), file.get()) != sizeof(header)) {
    return std::ftell(file.get()) == 0;  // an empty file is a cache that never got written
  }
  uint64_t version = 0;
  for (int i = 7; i >= 0; --i) version = (version << 8) | header[i];
  return version >= 1 && version <= kMaxKnownCacheVersion;
}

// The fingerprint file: its name beside the cache, and the line that names the model.
constexpr char kFingerprintSuffix[] = ".fingerprint";
constexpr char kModelLine[] = "\nmodel ";

Expected<std::string> Fingerprint(const std::string& model_path) {
  struct stat info = {};
  if (stat(model_path.c_str(), &info) != 0) {
    return Status(ErrorCode::kModelLoad,
                  "cannot stat model file '" + model_path + "': " + std::strerror(errno));
  }
  char resolved[PATH_MAX];
  const std::string absolute =
      realpath(model_path.c_str(), resolved) != nullptr ? resolved : model_path;
  return "litegen-weight-cache-fingerprint 1" + std::string(kModelLine) + absolute + "\nsize " +
         std::to_string(info.st_size) + "\nmtime_ns " +
         std::to_string(static_cast<int64_t>(info.st_mtim.tv_sec) * 1000000000 +
                        info.st_mtim.tv_nsec) +
         "\ndevice " + std::to_string(info.st_dev) + "\ninode " + std::to_string(info.st_ino) +
         "\n";
}

std::string ReadSmallFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return {};
  return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

}  // namespace

std::string WeightCacheGuard::FingerprintPath(const std::string& cache_path) {
  return cache_path + kFingerprintSuffix;
}

Expected<WeightCacheGuard> WeightCacheGuard::Prepare(const std::string& cache_path,
                                                     const std::string& model_path) {
  LITEGEN_ASSIGN_OR_RETURN(std::string fingerprint, Fingerprint(model_path));
  struct stat info = {};
  if (stat(cache_path.c_str(), &info) == 0) {
    if (!S_ISREG(info.st_mode)) {
      return Status(ErrorCode::kInvalidArgument,
                    "weight cache path '" + cache_path + "' exists and is not a regular file");
    }
    if (ReadSmallFile(FingerprintPath(cache_path)) != fingerprint) {
      if (!LooksLikeXnnpackCache(cache_path)) {
        return Status(ErrorCode::kInvalidArgument,
                      "weight cache path '" + cache_path +
                          "' holds a file that is not an XNNPack weight cache; "
                          "choose another path");
      }
      if (std::remove(cache_path.c_str()) != 0) {
        return Status(ErrorCode::kInvalidArgument, "cannot replace the stale weight cache '" +
                                                       cache_path + "': " + std::strerror(errno));
      }
    }
  }
  return WeightCacheGuard(cache_path, std::move(fingerprint));
}

uint64_t WeightCacheGuard::PruneStale(const std::string& dir) {
  std::unique_ptr<DIR, int (*)(DIR*)> listing(opendir(dir.c_str()), &closedir);
  if (!listing) return 0;
  const std::string suffix = FingerprintPath(".xnnpack_cache");
  std::vector<std::string> fingerprints;
  while (const dirent* entry = readdir(listing.get())) {
    const std::string name = entry->d_name;
    if (name.size() > suffix.size() &&
        name.compare(name.size() - suffix.size(), suffix.size(), suffix) == 0) {
      fingerprints.push_back(dir + "/" + name);
    }
  }
  uint64_t freed = 0;
  for (const std::string& fingerprint_path : fingerprints) {
    const std::string recorded = ReadSmallFile(fingerprint_path);
    const size_t at = recorded.find(kModelLine);
    if (at == std::string::npos) continue;  // not a fingerprint we wrote
    const size_t from = at + std::strlen(kModelLine);
    const std::string model = recorded.substr(from, recorded.find('\n', from) - from);
    const Expected<std::string> current = Fingerprint(model);
    if (current.ok() && current.value() == recorded) continue;  // still valid
    const std::string cache = fingerprint_path.substr(
        0, fingerprint_path.size() - std::strlen(kFingerprintSuffix));
    struct stat info = {};
    if (stat(cache.c_str(), &info) == 0) {
      if (!S_ISREG(info.st_mode) || !LooksLikeXnnpackCache(cache)) continue;
      if (std::remove(cache.c_str()) != 0) continue;
      freed += static_cast<uint64_t>(info.st_size);
    }
    std::remove(fingerprint_path.c_str());
  }
  return freed;
}

Status WeightCacheGuard::Commit() const {
  const std::string path = FingerprintPath(cache_path_);
  if (ReadSmallFile(path) == fingerprint_) return Status::Ok();
  const std::string temp = path + ".tmp";
  {
    std::ofstream out(temp, std::ios::binary | std::ios::trunc);
    out << fingerprint_;
    if (!out) {
      return Status(ErrorCode::kInvalidArgument, "cannot write '" + temp + "'");
    }
  }
  if (std::rename(temp.c_str(), path.c_str()) != 0) {
    std::remove(temp.c_str());
    return Status(ErrorCode::kInvalidArgument,
                  "cannot write '" + path + "': " + std::strerror(errno));
  }
  return Status::Ok();
}

}  // namespace litegen
