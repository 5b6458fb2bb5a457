// Matrix kernel for arm64 with NEON (part of the AArch64 baseline). Two flavours of the same
// kernel (linear_neon.inc): with the dot-product extension (UDOT: 16 multiply-adds per
// instruction), compiled for it in a target region and chosen at run time when the CPU
// has it, and plain NEON widening multiplies for older cores.
//
// Activations are uint8 and weights signed while both UDOT and UMULL want unsigned operands,
// so weights are offset to unsigned on the fly and the offset times the activations' sum
// (computed once per row and block) is subtracted: exact, see linear_neon.inc.
#include <cstdint>
#include <cstring>

#include "ops/linear_kernels.h"

#if defined(__aarch64__)
#include <arm_neon.h>

#if defined(__linux__)
#include <sys/auxv.h>
#elif defined(__APPLE__)
#include <sys/sysctl.h>
#endif

namespace litegen::ops::internal {

namespace neon_plain {
namespace {

inline uint32x4_t Dot16(uint32x4_t acc, uint8x16_t x, uint8x16_t w) {
  // Each product is at most 255 * 255: one per uint16 lane, then pairwise into uint32.
  acc = vpadalq_u16(acc, vmull_u8(vget_low_u8(x), vget_low_u8(w)));
  return vpadalq_u16(acc, vmull_high_u8(x, w));
}

inline uint32x4_t Dot32(uint32x4_t acc, uint8x16_t xe, uint8x16_t xo, uint8x16_t lo,
                        uint8x16_t hi) {
  // Products are at most 255 * 15, so four fit a uint16 lane.
  uint16x8_t p = vmull_u8(vget_low_u8(xe), vget_low_u8(lo));
  p = vmlal_high_u8(p, xe, lo);
  p = vmlal_u8(p, vget_low_u8(xo), vget_low_u8(hi));
  p = vmlal_high_u8(p, xo, hi);
  return vpadalq_u16(acc, p);
}

// Lane sums: uint16 lane i of `low` sums the products of bytes i (of bytes 0-7), of `high`
// of bytes 8 + i, so no lane mixes bytes of different 4-byte lanes. Four LaneDots put
// eight products of at most 255 * 15 in a lane (30600); the flush adds pairs (61200, still
// within uint16), then pairs again into uint32: lane j gets bytes 4j .. 4j + 3.
struct LaneSum {
  uint16x8_t low;
  uint16x8_t high;
};

inline LaneSum LaneStart(uint32x4_t /*acc*/) { return {vdupq_n_u16(0), vdupq_n_u16(0)}; }

inline LaneSum LaneDot(LaneSum s, uint8x16_t xe, uint8x16_t xo, uint8x16_t lo,
                       uint8x16_t hi) {
  s.low = vmlal_u8(s.low, vget_low_u8(xe), vget_low_u8(lo));
  s.low = vmlal_u8(s.low, vget_low_u8(xo), vget_low_u8(hi));
  s.high = vmlal_high_u8(s.high, xe, lo);
  s.high = vmlal_high_u8(s.high, xo, hi);
  return s;
}

inline uint32x4_t LaneFlush(uint32x4_t acc, LaneSum s) {
  return vpadalq_u16(acc, vpaddq_u16(s.low, s.high));
}

#include "ops/linear_neon.inc"

}  // namespace
}  // namespace neon_plain

#if defined(__clang__)
#pragma clang attribute push(__attribute__((target("dotprod"))), apply_to = function)
#else
#pragma GCC push_options
// GCC 12's arm_neon.h declares the dot-product intrinsics for armv8.2-a+dotprod (every
// core with the extension implements v8.2).
#pragma GCC target("arch=armv8.2-a+dotprod")
#endif

namespace neon_dot {
namespace {

#if defined(__clang__) && !defined(__ARM_FEATURE_DOTPROD)
// Clang (at least up to 15) declares the dot-product intrinsics only when the whole file
// targets them; its assembler accepts the instruction in this region (target "dotprod").
inline uint32x4_t Udot(uint32x4_t acc, uint8x16_t a, uint8x16_t b) {
  __asm__("udot %0.4s, %1.16b, %2.16b" : "+w"(acc) : "w"(a), "w"(b));
  return acc;
}
#else
inline uint32x4_t Udot(uint32x4_t acc, uint8x16_t a, uint8x16_t b) {
  return vdotq_u32(acc, a, b);
}
#endif

inline uint32x4_t Dot16(uint32x4_t acc, uint8x16_t x, uint8x16_t w) { return Udot(acc, x, w); }

inline uint32x4_t Dot32(uint32x4_t acc, uint8x16_t xe, uint8x16_t xo, uint8x16_t lo,
                        uint8x16_t hi) {
  return Udot(Udot(acc, xe, lo), xo, hi);
}

// UDOT keeps the lanes apart by itself: the lane sum is the accumulator.
using LaneSum = uint32x4_t;
inline LaneSum LaneStart(uint32x4_t acc) { return acc; }
inline LaneSum LaneDot(LaneSum s, uint8x16_t xe, uint8x16_t xo, uint8x16_t lo,
                       uint8x16_t hi) {
  return Udot(Udot(s, xe, lo), xo, hi);
}
inline uint32x4_t LaneFlush(uint32x4_t /*acc*/, LaneSum s) { return s; }

#include "ops/linear_neon.inc"

}  // namespace
}  // namespace neon_dot

#if defined(__clang__)
#pragma clang attribute pop
#else
#pragma GCC pop_options
#endif

namespace {

bool CpuHasDotProd() {
#if defined(__ARM_FEATURE_DOTPROD)
  return true;  // the whole binary already requires it
#elif defined(__linux__)
#ifndef HWCAP_ASIMDDP
#define HWCAP_ASIMDDP (1 << 20)
#endif
  return (getauxval(AT_HWCAP) & HWCAP_ASIMDDP) != 0;
#elif defined(__APPLE__)
  int value = 0;
  size_t size = sizeof(value);
  return sysctlbyname("hw.optional.arm.FEAT_DotProd", &value, &size, nullptr, 0) == 0 &&
         value != 0;
#else
  return false;
#endif
}

}  // namespace

LinearFn LinearNeon() {
  static const LinearFn fn = CpuHasDotProd() ? &neon_dot::Run : &neon_plain::Run;
  return fn;
}

}  // namespace litegen::ops::internal

#else  // !__aarch64__

namespace litegen::ops::internal {
LinearFn LinearNeon() { return nullptr; }
}  // namespace litegen::ops::internal

#endif
