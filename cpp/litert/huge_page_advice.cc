#include "litert/huge_page_advice.h"

#include <cstdint>
#include <cstdio>
#include <vector>

#if defined(__linux__)
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#endif

namespace litegen {

#if defined(__linux__) && defined(MADV_HUGEPAGE)
namespace {

constexpr uintptr_t kHugePage = uintptr_t{2} << 20;

struct FileMapping {
  uintptr_t start = 0, end = 0;
  uint64_t pmd_mapped_bytes = 0;  // smaps' FilePmdMapped
};

// This process's mappings of the file at `path`, from /proc/self/smaps.
std::vector<FileMapping> MappingsOfFile(const std::string& path) {
  std::vector<FileMapping> found;
  struct stat info;
  if (stat(path.c_str(), &info) != 0) return found;
  std::FILE* smaps = std::fopen("/proc/self/smaps", "re");
  if (smaps == nullptr) return found;
  bool inside = false;  // the lines below belong to one of the file's mappings
  char line[4096];
  while (std::fgets(line, sizeof line, smaps) != nullptr) {
    unsigned long start = 0, end = 0, offset = 0, inode = 0, kib = 0;
    unsigned dev_major = 0, dev_minor = 0;
    char perms[8];
    // A header: "start-end perms offset major:minor inode path". (A longer line is read in
    // pieces whose tails do not parse, or match no inode.)
    if (std::sscanf(line, "%lx-%lx %7s %lx %x:%x %lu", &start, &end, perms, &offset,
                    &dev_major, &dev_minor, &inode) == 7) {
      inside = inode == info.st_ino && dev_major == major(info.st_dev) &&
               dev_minor == minor(info.st_dev);
      if (inside) found.push_back({start, end, 0});
    } else if (inside && std::sscanf(line, "FilePmdMapped: %lu kB", &kib) == 1) {
      found.back().pmd_mapped_bytes = uint64_t{kib} << 10;
    }
  }
  std::fclose(smaps);
  return found;
}

}  // namespace

size_t AdviseHugePagesForFile(const std::string& path) {
  size_t advised = 0;
  for (const FileMapping& m : MappingsOfFile(path)) {
    const uintptr_t first = (m.start + kHugePage - 1) & ~(kHugePage - 1);
    const uintptr_t last = m.end & ~(kHugePage - 1);
    if (first < last &&
        madvise(reinterpret_cast<void*>(first), last - first, MADV_HUGEPAGE) == 0) {
      advised += last - first;
    }
  }
  return advised;
}

uint64_t FileHugePageBytes(const std::string& path) {
  uint64_t bytes = 0;
  for (const FileMapping& m : MappingsOfFile(path)) bytes += m.pmd_mapped_bytes;
  return bytes;
}

#else

size_t AdviseHugePagesForFile(const std::string& /*path*/) { return 0; }
uint64_t FileHugePageBytes(const std::string& /*path*/) { return 0; }

#endif

}  // namespace litegen
