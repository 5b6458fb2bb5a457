// Asks Linux to back a file's memory mappings with 2 MiB page-cache folios.
//
// Why: decode streams every weight once per token. Through 4 KiB pages the weights of a
// mapped model read at 24-26 GB/s here, through 2 MiB pages at 28-31 (TLB misses and the
// page-table walk per 4 KiB). Whether the page cache holds a file in large folios depends
// on how its pages first came in: a freshly written model does, but one read back by page
// faults after a reboot or after memory pressure gets small folios unless the mapping
// that faults it carries MADV_HUGEPAGE (measured: 0 of 1 GiB PMD-mapped and 20.6 tok/s,
// against fully PMD-mapped and 23-25 tok/s). LiteRT maps the model itself, so we find its
// mappings in /proc/self/smaps and advise them before the weights are first read.
//
// Only a hint: errors are ignored, already-cached small folios stay small, and on kernels
// without file THP (or other systems) nothing changes.
#ifndef LITEGEN_CPP_LITERT_HUGE_PAGE_ADVICE_H_
#define LITEGEN_CPP_LITERT_HUGE_PAGE_ADVICE_H_

#include <cstddef>
#include <cstdint>
#include <string>

namespace litegen {

// Advises every mapping of the file at `path` in this process; returns the bytes advised
// (whole 2 MiB-aligned spans only, as a huge page needs an aligned virtual range).
size_t AdviseHugePagesForFile(const std::string& path);

// Bytes of the file this process maps through 2 MiB pages now (smaps' FilePmdMapped):
// whether decode streams the weights at the huge-page rate (0 where unknown).
uint64_t FileHugePageBytes(const std::string& path);

}  // namespace litegen

#endif  // LITEGEN_CPP_LITERT_HUGE_PAGE_ADVICE_H_
