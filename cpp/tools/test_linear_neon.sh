#!/usr/bin/env bash
# Cross-compiles the quantized matrix kernels (cpp/ops/linear*) with their unit tests
# (cpp/tests/linear_test.cc) for arm64 and runs them under qemu-aarch64, once on a CPU with
# the dot-product extension (the UDOT flavour of linear_neon.inc) and once on one without
# (the plain NEON flavour). Nothing else in the repository tests the NEON kernel on x86.
#
# Usage: cpp/tools/test_linear_neon.sh [TEST_NAME_SUBSTRING]   (default: Linear)
# Env:   CXX (default aarch64-linux-gnu-g++), QEMU (default qemu-aarch64),
#        OUT (build directory, default build/neon-test), JOBS (parallel compiles, default 2).
# Exit status: 0 when every run passed, 1 otherwise (2: missing tools / build failure).
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
CXX="${CXX:-aarch64-linux-gnu-g++}"
QEMU="${QEMU:-qemu-aarch64}"
OUT="${OUT:-$ROOT/build/neon-test}"
JOBS="${JOBS:-2}"
FILTER="${1:-Linear}"

for tool in "$CXX" "$QEMU"; do
  command -v "$tool" >/dev/null || { echo "test_linear_neon: $tool not found" >&2; exit 2; }
done
mkdir -p "$OUT/obj"

# The linear driver needs AllocateAligned (litert/host_tensor.cc, which also binds LiteRT
# tensor buffers): this stand-in has the same contract without LiteRT, so the test binary
# links statically with no LiteRT library for arm64.
cat >"$OUT/aligned_memory_shim.cc" <<'EOF'
#include <cstdlib>
#include <cstring>
#include "litert/host_tensor.h"
namespace litegen {
void AlignedDeleter::operator()(void* p) const { std::free(p); }
Expected<AlignedMemory> AllocateAligned(size_t bytes) {
  const size_t rounded = (bytes + kBufferAlignment - 1) / kBufferAlignment * kBufferAlignment;
  void* raw = nullptr;
  if (posix_memalign(&raw, kBufferAlignment, rounded == 0 ? kBufferAlignment : rounded) != 0) {
    return Status(ErrorCode::kInternal, "out of memory");
  }
  std::memset(raw, 0, rounded == 0 ? kBufferAlignment : rounded);
  return AlignedMemory(raw);
}
}  // namespace litegen
EOF

# Which flavour a CPU gets: linear_neon.cc picks UDOT from HWCAP_ASIMDDP, as printed here.
cat >"$OUT/hwcap_probe.cc" <<'EOF'
#include <sys/auxv.h>
#include <cstdio>
int main() {
  std::printf("%s\n", (getauxval(AT_HWCAP) & (1 << 20)) ? "dotprod: UDOT flavour"
                                                          : "no dotprod: plain flavour");
}
EOF

# linear.cc references every kernel (the x86 ones compile to stubs on arm64) and the Isa
# helpers of sdpa.cc, which reference the attention kernels.
SOURCES=(
  cpp/ops/linear.cc cpp/ops/linear_scalar.cc cpp/ops/linear_neon.cc
  cpp/ops/linear_avx2.cc cpp/ops/linear_avx512.cc cpp/ops/linear_amx.cc
  cpp/ops/sdpa.cc cpp/ops/sdpa_scalar.cc cpp/ops/sdpa_neon.cc
  cpp/ops/sdpa_avx2.cc cpp/ops/sdpa_avx512.cc
  cpp/ops/half.cc cpp/ops/thread_pool.cc cpp/litert/status.cc
  cpp/tests/test_main.cc cpp/tests/linear_test.cc
)
FLAGS=(-std=c++17 -O2 -Wall -Wextra -Wpedantic -Werror=return-type
       -I"$ROOT/cpp" -I"$ROOT/third_party")

echo "== compiling for arm64 with $CXX (-O2 -Wall -Wextra)"
pids=()
objs=()
compile() {  # source object
  "$CXX" "${FLAGS[@]}" -c "$1" -o "$2"
}
for src in "${SOURCES[@]}" "$OUT/aligned_memory_shim.cc"; do
  case "$src" in /*) path="$src" ;; *) path="$ROOT/$src" ;; esac
  obj="$OUT/obj/$(basename "${src%.cc}").o"
  objs+=("$obj")
  compile "$path" "$obj" &
  pids+=($!)
  if (( ${#pids[@]} >= JOBS )); then
    wait "${pids[0]}" || { echo "test_linear_neon: compile failed" >&2; exit 2; }
    pids=("${pids[@]:1}")
  fi
done
for pid in "${pids[@]}"; do
  wait "$pid" || { echo "test_linear_neon: compile failed" >&2; exit 2; }
done
"$CXX" -static -O2 -o "$OUT/linear_neon_tests" "${objs[@]}" -pthread ||
  { echo "test_linear_neon: link failed" >&2; exit 2; }
"$CXX" -static -O2 -o "$OUT/hwcap_probe" "$OUT/hwcap_probe.cc" ||
  { echo "test_linear_neon: link failed" >&2; exit 2; }

# cortex-a53: ARMv8.0, no dot product (plain flavour); max: every extension qemu has,
# UDOT included (dot-product flavour). The kernel picks its flavour from HWCAP_ASIMDDP.
status=0
for cpu in max cortex-a53; do
  flavour="$("$QEMU" -cpu "$cpu" "$OUT/hwcap_probe")"
  echo "== qemu-aarch64 -cpu $cpu ($flavour): tests matching '$FILTER'"
  if "$QEMU" -cpu "$cpu" "$OUT/linear_neon_tests" "$OUT" "$FILTER"; then
    echo "== -cpu $cpu: PASS"
  else
    echo "== -cpu $cpu: FAIL"
    status=1
  fi
done
if (( status == 0 )); then
  echo "== NEON linear tests: ALL PASSED"
else
  echo "== NEON linear tests: FAILED"
fi
exit "$status"
