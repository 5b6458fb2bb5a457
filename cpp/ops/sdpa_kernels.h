// Internal: the per-instruction-set attention kernel behind ops::Sdpa.
//
// The driver (sdpa.cc, compiled for the baseline target) splits the work into tasks:
// a set of query rows that share one kv head (all the query heads of a group, for a block
// of query positions) against a range of key rows. One task is run by the `AttendFn` of
// the selected instruction set; each lives in its own translation unit (sdpa_scalar.cc,
// sdpa_avx2.cc, sdpa_avx512.cc, sdpa_neon.cc) whose functions alone are compiled for that
// instruction set, so the shipped binary runs on any x86-64-v2 CPU.
#ifndef LITEGEN_CPP_OPS_SDPA_KERNELS_H_
#define LITEGEN_CPP_OPS_SDPA_KERNELS_H_

#include <cstdint>

namespace litegen::ops::internal {

// Row strides of the scratch arrays are multiples of this many floats (the widest vector).
constexpr int kStrideAlign = 16;

struct AttentionTask {
  // Keys and values of one (batch, kv head): row j at element j * head_dim, float32, or
  // IEEE float16 bits (uint16_t) when kv_half.
  const void* k = nullptr;
  const void* v = nullptr;
  bool kv_half = false;
  int head_dim = 0;
  // Query rows: rows x q_stride floats, already multiplied by the scale, zero beyond
  // head_dim. Row r sees keys lo[r]..hi[r] (inclusive).
  int rows = 0;
  const float* q = nullptr;
  int q_stride = 0;  // multiple of kStrideAlign
  const int32_t* lo = nullptr;
  const int32_t* hi = nullptr;
  // Keys this task reads, in blocks of key_block (a multiple of kStrideAlign).
  int key_begin = 0;
  int key_end = 0;
  int key_block = 0;
  float softcap = 0.0f;  // 0 = none; else s = softcap * tanh(s / softcap)
  // Scratch: rows x key_block floats.
  float* scores = nullptr;
  // Results per row (streaming softmax state): max score, sum of exp(score - max), and
  // acc = sum of exp(score - max) * v (rows x q_stride floats). A row that sees none of
  // the task's keys ends with max = -inf, sum = 0, acc = 0.
  float* acc = nullptr;
  float* max = nullptr;
  float* sum = nullptr;
};

using AttendFn = void (*)(const AttentionTask& task);

// Each returns nullptr when its instruction set is not compiled into this binary.
AttendFn AttendScalar();
AttendFn AttendAvx2();
AttendFn AttendAvx512();
AttendFn AttendNeon();

}  // namespace litegen::ops::internal

#endif  // LITEGEN_CPP_OPS_SDPA_KERNELS_H_
