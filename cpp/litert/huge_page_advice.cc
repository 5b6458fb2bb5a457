#include "litert/huge_page_advice.h"

#include <cstdint>
#include <cstdio>

#if defined(__linux__)
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#endif

namespace litegen {

#if defined(__linux__) && defined(MADV_HUGEPAGE)

size_t AdviseHugePagesForFile(const std::string& path) {
  struct stat info;
  if (stat(path.c_str(), &info) != 0) return 0;
  std::FILE* maps = std::fopen("/proc/self/maps", "re");
  if (maps == nullptr) return 0;
  constexpr uintptr_t kHugePage = uintptr_t{2} << 20;
  size_t advised = 0;
  char line[4096];
  while (std::fgets(line, sizeof line, maps) != nullptr) {
    unsigned long start = 0, end = 0, offset = 0, inode = 0;
    unsigned dev_major = 0, dev_minor = 0;
    char perms[8];
    // "start-end perms offset major:minor inode path"; a longer line is read in pieces,
    // whose tails do not parse (or match no inode) and are skipped.
    if (std::sscanf(line, "%lx-%lx %7s %lx %x:%x %lu", &start, &end, perms, &offset,
                    &dev_major, &dev_minor, &inode) != 7) {
      continue;
    }
    if (inode != info.st_ino || dev_major != major(info.st_dev) ||
        dev_minor != minor(info.st_dev)) {
      continue;
    }
    const uintptr_t first = (start + kHugePage - 1) & ~(kHugePage - 1);
    const uintptr_t last = end & ~(kHugePage - 1);
    if (first >= last) continue;
    if (madvise(reinterpret_cast<void*>(first), last - first, MADV_HUGEPAGE) == 0) {
      advised += last - first;
    }
  }
  std::fclose(maps);
  return advised;
}

#else

size_t AdviseHugePagesForFile(const std::string& /*path*/) { return 0; }

#endif

}  // namespace litegen
