// Unit tests of the custom kernels (cpp/ops): thread pool, KV-cache update, SDPA against a
// naive double-precision reference, for every instruction set this CPU supports.
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <limits>
#include <memory>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "ops/builtin_ops.h"
#include "ops/half.h"
#include "ops/kv_cache.h"
#include "ops/sdpa.h"
#include "ops/thread_pool.h"
#include "ops/work_ranges.h"
#include "test_framework.h"

namespace litegen {
namespace {

using ops::Isa;
using ops::SdpaParams;
using ops::SdpaShape;

// ---- Thread pool ------------------------------------------------------------------------

TEST(ThreadPoolRunsEveryIndexOnceWithStaticChunks) {
  for (int threads : {1, 2, 3, 5}) {
    ops::ThreadPool pool(threads);
    CHECK_EQ(pool.num_threads(), threads);
    for (int64_t n : {0, 1, 2, 3, 7, 100}) {
      std::vector<int> hits(n, 0);
      std::vector<int> owner(n, -1);
      pool.ParallelFor(n, [&](int64_t i, int thread) {
        ++hits[i];  // each index is touched by exactly one thread
        owner[i] = thread;
      });
      for (int64_t i = 0; i < n; ++i) {
        CHECK_EQ(hits[i], 1);
        // Static chunking: thread t owns [t*n/T, (t+1)*n/T).
        const int t = owner[i];
        CHECK(t >= 0 && t < threads);
        if (n == 1) {
          CHECK_EQ(t, 0);  // a single item runs on the caller
        } else {
          CHECK(n * t / threads <= i && i < n * (t + 1) / threads);
        }
      }
    }
  }
}

TEST(ThreadPoolSurvivesManyCallsAndIdleGaps) {
  ops::ThreadPool pool(3);
  std::atomic<int64_t> total{0};
  for (int call = 0; call < 2000; ++call) {
    pool.ParallelFor(5 + call % 7, [&](int64_t i, int) { total.fetch_add(i + 1); });
  }
  int64_t expected = 0;
  for (int call = 0; call < 2000; ++call) {
    const int64_t n = 5 + call % 7;
    expected += n * (n + 1) / 2;
  }
  CHECK_EQ(total.load(), expected);
  // After the workers have gone to sleep, a call still wakes them.
  std::this_thread::sleep_for(std::chrono::milliseconds(5));
  std::vector<int> seen(3, 0);
  pool.ParallelFor(3, [&](int64_t i, int thread) { seen[i] = thread + 1; });
  CHECK_EQ(seen[0], 1);
  CHECK_EQ(seen[1], 2);
  CHECK_EQ(seen[2], 3);
}

TEST(ThreadPoolRunsEveryJobWhileWorkersPrefetchHints) {
  // Hints of every size (none, small, larger than a share, empty) interleaved with jobs:
  // the idle workers' prefetching must never delay, skip or repeat an item.
  ops::ThreadPool pool(3);
  CHECK(pool.idle_prefetch_bytes() > 0 || std::getenv("LITEGEN_IDLE_PREFETCH_KB") != nullptr);
  std::vector<unsigned char> memory(size_t{8} << 20, 1);
  std::mt19937 rng(3);
  for (int call = 0; call < 500; ++call) {
    const size_t offset = rng() % memory.size();
    const size_t bytes = call % 5 == 0 ? 0 : rng() % (memory.size() - offset);
    pool.HintNextJob(memory.data() + offset, bytes);
    const int64_t n = 1 + call % 9;
    std::vector<std::atomic<int>> runs(static_cast<size_t>(n));
    pool.ParallelFor(n, [&](int64_t i, int) { runs[i].fetch_add(1); });
    for (const auto& r : runs) CHECK_EQ(r.load(), 1);
    if (call % 100 == 99) std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  pool.HintNextJob(nullptr, 0);
}

TEST(ThreadPoolSerializesCallsFromSeveralThreads) {
  ops::ThreadPool pool(2);
  std::atomic<int64_t> total{0};
  auto caller = [&] {
    for (int call = 0; call < 300; ++call) {
      pool.ParallelFor(4, [&](int64_t i, int) { total.fetch_add(i); });
    }
  };
  std::thread a(caller), b(caller);
  a.join();
  b.join();
  CHECK_EQ(total.load(), int64_t{2 * 300 * 6});
}

TEST(ThreadPoolKeepsWorkingInAForkedChild) {
  ops::ThreadPool pool(3);
  std::atomic<int64_t> total{0};
  pool.ParallelFor(9, [&](int64_t i, int) { total.fetch_add(i); });  // workers started
  CHECK_EQ(total.load(), int64_t{36});
  const pid_t child = fork();
  if (child == 0) {
    alarm(20);  // a hang fails the test instead of blocking it
    std::atomic<int64_t> sum{0};
    std::vector<int> threads_seen(3, 0);
    pool.ParallelFor(9, [&](int64_t i, int thread) {
      sum.fetch_add(i);
      threads_seen[thread] = 1;
    });
    _exit(sum.load() == 36 && threads_seen == std::vector<int>{1, 1, 1} ? 0 : 1);
  }
  CHECK(child > 0);
  int status = 0;
  CHECK(waitpid(child, &status, 0) == child);
  CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
  pool.ParallelFor(9, [&](int64_t i, int) { total.fetch_add(i); });  // the parent's pool
  CHECK_EQ(total.load(), int64_t{72});
}

// ---- Work ranges ---------------------------------------------------------------------------

// Every item claimed exactly once, by threads of very different speeds (one sleeps on each
// claim, so the others steal from it); an unslowed thread takes its own range from the
// front in shrinking pieces.
TEST(WorkRangesClaimEveryItemOnceAndBalance) {
  ops::WorkRanges ranges;
  ranges.Reset(10, 2);
  int64_t b = 0, e = 0;
  CHECK(ranges.Claim(0, &b, &e) && b == 0 && e == 3);  // half of [0, 5), rounded up
  CHECK(ranges.Claim(0, &b, &e) && b == 3 && e == 4);
  CHECK(ranges.Claim(0, &b, &e) && b == 4 && e == 5);
  CHECK(ranges.Claim(0, &b, &e) && b == 9 && e == 10);  // stolen from the back of [5, 10)
  CHECK(ranges.Claim(1, &b, &e) && b == 5 && e == 7);

  ops::ThreadPool pool(3);
  for (int64_t items : {1, 2, 3, 7, 64, 1000}) {
    for (int round = 0; round < 20; ++round) {
      std::vector<std::atomic<int>> claimed(static_cast<size_t>(items));
      std::vector<std::atomic<int64_t>> per_thread(3);
      ranges.Reset(items, 3);
      pool.ParallelFor(3, [&](int64_t, int thread) {
        int64_t begin = 0, end = 0;
        while (ranges.Claim(thread, &begin, &end)) {
          if (thread == 1) std::this_thread::sleep_for(std::chrono::microseconds(200));
          for (int64_t i = begin; i < end; ++i) claimed[static_cast<size_t>(i)].fetch_add(1);
          per_thread[static_cast<size_t>(thread)].fetch_add(end - begin);
        }
      });
      for (int64_t i = 0; i < items; ++i) CHECK_EQ(claimed[static_cast<size_t>(i)].load(), 1);
      if (items == 1000 && round == 0) {
        // The slow thread's 333 items: the others take most of them.
        CHECK(per_thread[1].load() < 200);
      }
    }
  }
}

// ---- float16 conversions -------------------------------------------------------------------

uint32_t FloatBits(float f) {
  uint32_t b;
  std::memcpy(&b, &f, sizeof(b));
  return b;
}

float BitsFloat(uint32_t b) {
  float f;
  std::memcpy(&f, &b, sizeof(f));
  return f;
}

TEST(HalfConversionsRoundTripAndRoundToNearestEven) {
  // Every half converts to float and back unchanged (NaNs stay NaNs).
  for (uint32_t h = 0; h < 0x10000; ++h) {
    const float f = ops::HalfToFloat(static_cast<uint16_t>(h));
    const uint16_t back = ops::FloatToHalf(f);
    if (std::isnan(f)) {
      CHECK((back & 0x7C00) == 0x7C00 && (back & 0x3FF) != 0);
    } else {
      CHECK_EQ(back, static_cast<uint16_t>(h));
    }
  }
  CHECK_NEAR(ops::HalfToFloat(0x3C00), 1.0, 0.0);
  CHECK_NEAR(ops::HalfToFloat(0x0001), std::ldexp(1.0, -24), 0.0);  // smallest subnormal
  CHECK_NEAR(ops::HalfToFloat(0x7BFF), 65504.0, 0.0);
  CHECK_EQ(ops::FloatToHalf(65519.0f), 0x7BFF);  // below the midpoint to 65536: max half
  CHECK_EQ(ops::FloatToHalf(65520.0f), 0x7C00);  // ties to even: inf
  CHECK_EQ(ops::FloatToHalf(-1e9f), 0xFC00);
  CHECK_EQ(ops::FloatToHalf(std::ldexp(1.0f, -25)), 0x0000);  // tie between 0 and 2^-24: 0
  CHECK_EQ(ops::FloatToHalf(std::ldexp(1.5f, -25)), 0x0001);
  CHECK_EQ(ops::FloatToHalf(std::ldexp(3.0f, -25)), 0x0002);  // tie 1 / 2 units: even
  CHECK_EQ(ops::FloatToHalf(1.0f + std::ldexp(1.0f, -11)), 0x3C00);  // tie: even (down)
  CHECK_EQ(ops::FloatToHalf(1.0f + std::ldexp(3.0f, -11)), 0x3C02);  // tie: even (up)
  CHECK_EQ(ops::FloatToHalf(-0.0f), 0x8000);
  // Random floats over the whole range: the result is a nearest half, ties to even.
  std::mt19937 rng(5);
  for (int i = 0; i < 200000; ++i) {
    const uint32_t bits = rng();
    const float f = BitsFloat(bits);
    if (std::isnan(f)) continue;
    const uint16_t h = ops::FloatToHalf(f);
    const double x = f;
    const double ax = std::abs(x);
    if (ax >= 65520.0) {
      CHECK_EQ(h & 0x7FFF, 0x7C00);
      continue;
    }
    const double got = ops::HalfToFloat(h);
    CHECK(std::signbit(got) == std::signbit(x) || got == 0.0);
    const double err = std::abs(got - x);
    for (int step : {-1, 1}) {  // the neighbouring halves of the same sign are no closer
      const int n = (h & 0x7FFF) + step;
      if (n < 0 || n > 0x7BFF) continue;
      const double other = ops::HalfToFloat(static_cast<uint16_t>((h & 0x8000) | n));
      const double other_err = std::abs(other - x);
      CHECK(err < other_err || (err == other_err && (h & 1) == 0));
    }
  }
  (void)FloatBits;
}

// ---- KV-cache update ----------------------------------------------------------------------

TEST(KvCacheUpdateWritesRowsInPlaceAcrossCalls) {
  const ops::KvCacheShape base{2, 3, 16, 5, 5};  // B, H, S, T (per call), D
  const int S = base.max_len, D = base.head_dim, BH = base.batch * base.heads;
  std::vector<float> cache(static_cast<size_t>(BH) * S * D, -7.0f);
  std::vector<float> expected = cache;
  float* const data = cache.data();
  auto step = [&](const std::vector<int32_t>& pos, float tag) {
    ops::KvCacheShape shape = base;
    shape.len = static_cast<int>(pos.size());
    std::vector<float> update(static_cast<size_t>(BH) * shape.len * D);
    for (size_t i = 0; i < update.size(); ++i) update[i] = tag + 0.001f * static_cast<float>(i);
    CHECK_OK(ops::KvCacheUpdate(shape, cache.data(), update.data(), pos.data()));
    for (int bh = 0; bh < BH; ++bh) {
      for (int t = 0; t < shape.len; ++t) {
        for (int x = 0; x < D; ++x) {
          expected[(static_cast<size_t>(bh) * S + pos[t]) * D + x] =
              update[(static_cast<size_t>(bh) * shape.len + t) * D + x];
        }
      }
    }
    CHECK(cache == expected);
    CHECK(cache.data() == data);
  };
  step({0, 1, 2, 3, 4, 5}, 1.0f);  // prefill
  step({6}, 2.0f);                 // decode steps
  step({7}, 3.0f);
  step({8, 9, 10}, 4.0f);          // a second chunk
  step({15}, 5.0f);                // the last row
  step({}, 6.0f);                  // nothing to do
  CHECK_NEAR(cache[(static_cast<size_t>(1) * S + 11) * D], -7.0f, 0.0);  // untouched rows

  const std::vector<float> before = cache;
  ops::KvCacheShape one = base;
  one.len = 2;
  std::vector<float> update(static_cast<size_t>(BH) * 2 * D, 9.0f);
  const int32_t past_end[2] = {3, 16};
  CHECK_ERROR(ops::KvCacheUpdate(one, cache.data(), update.data(), past_end), ErrorCode::kInput,
              "input_pos[1] = 16 is outside [0, 16)");
  const int32_t negative[2] = {-1, 2};
  CHECK_ERROR(ops::KvCacheUpdate(one, cache.data(), update.data(), negative), ErrorCode::kInput,
              "input_pos[0] = -1 is outside [0, 16)");
  CHECK(cache == before);  // nothing written on error
}

TEST(KvCacheUpdateIntoFloat16CacheRoundsToNearestEven) {
  const ops::KvCacheShape shape{1, 2, 8, 3, 4};  // B, H, S, T, D
  std::vector<uint16_t> cache(2 * 8 * 4, 0x7E00);  // NaN: rows not written stay as they were
  std::vector<float> update(2 * 3 * 4);
  std::mt19937 rng(3);
  std::uniform_real_distribution<float> unit(-100.0f, 100.0f);
  for (float& x : update) x = unit(rng);
  update[0] = 1.0f + std::ldexp(1.0f, -11);  // a tie: rounds to even (1.0)
  const int32_t pos[3] = {5, 0, 7};
  CHECK_OK(ops::KvCacheUpdate(shape, cache.data(), update.data(), pos));
  for (int h = 0; h < 2; ++h) {
    for (int s = 0; s < 8; ++s) {
      int t = -1;
      for (int i = 0; i < 3; ++i) t = pos[i] == s ? i : t;
      for (int x = 0; x < 4; ++x) {
        const uint16_t got = cache[(h * 8 + s) * 4 + x];
        CHECK_EQ(got, t < 0 ? uint16_t{0x7E00} : ops::FloatToHalf(update[(h * 3 + t) * 4 + x]));
      }
    }
  }
  CHECK_EQ(cache[5 * 4], uint16_t{0x3C00});
  // Rows of any float (any exponent, subnormals, infinities, NaNs), long enough for the
  // vector path and its tail: bit for bit FloatToHalf (NaNs: a NaN).
  const ops::KvCacheShape wide{1, 1, 2, 1, 1003};
  std::vector<float> row(1003);
  std::vector<uint16_t> out(2 * 1003);
  std::mt19937 bits_rng(11);
  for (int rep = 0; rep < 200; ++rep) {
    for (float& x : row) x = BitsFloat(static_cast<uint32_t>(bits_rng()) >> (rep % 9));
    row[rep % 1003] = std::ldexp(1.0f + std::ldexp(1.0f, -11), -3);  // a tie
    const int32_t at = rep % 2;
    CHECK_OK(ops::KvCacheUpdate(wide, out.data(), row.data(), &at));
    int bad = 0;
    for (int i = 0; i < 1003; ++i) {
      const uint16_t want = ops::FloatToHalf(row[i]), got = out[at * 1003 + i];
      const bool nan = std::isnan(row[i]);
      bad += nan ? !((got & 0x7C00) == 0x7C00 && (got & 0x3FF) != 0) : got != want;
    }
    CHECK_EQ(bad, 0);
  }
  const int32_t bad[3] = {5, 8, 0};
  const std::vector<uint16_t> before = cache;
  CHECK_ERROR(ops::KvCacheUpdate(shape, cache.data(), update.data(), bad), ErrorCode::kInput,
              "input_pos[1] = 8 is outside [0, 8)");
  CHECK(cache == before);
}

// A TensorView over a std::vector.
template <typename T>
TensorView View(std::vector<T>& data, ElementType type, std::vector<int32_t> dims) {
  TensorView view;
  view.type = type;
  view.rank = static_cast<int>(dims.size());
  for (size_t i = 0; i < dims.size(); ++i) view.dims[i] = dims[i];
  view.data = data.data();
  view.bytes = data.size() * sizeof(T);
  return view;
}

TEST(KvCacheUpdateOpChecksShapesAndReportsTokenCount) {
  auto op = ops::MakeKvCacheUpdateOp();
  CHECK_OK(op->Init(nullptr, 0));
  const uint8_t junk[2] = {1, 2};
  CHECK_ERROR(op->Init(junk, 2), ErrorCode::kModelLoad, "takes no custom_options");
  std::vector<Shape> out_shapes(1);
  CHECK_OK(op->ComputeOutputShapes({{1, 2, 8, 4}, {1, 2, 3, 4}, {3}}, out_shapes));
  CHECK(out_shapes[0] == Shape{1});
  CHECK_OK(op->ComputeOutputShapes({{1, 2, 8, 4}, {1, 2, 3, 4}, {1, 2, 8, 4}, {1, 2, 3, 4}, {3}},
                                    out_shapes));
  CHECK_ERROR(op->ComputeOutputShapes({{1, 2, 8, 4}, {1, 2, 3, 4}}, out_shapes),
              ErrorCode::kModelLoad, "expects (cache, update) pairs then input_pos");

  std::vector<float> cache(1 * 2 * 8 * 4, 0.0f), update(1 * 2 * 3 * 4, 1.5f);
  std::vector<int32_t> pos = {2, 3, 4}, done = {0};
  auto f32 = kLiteRtElementTypeFloat32;
  auto i32 = kLiteRtElementTypeInt32;
  std::vector<TensorView> outs = {View(done, i32, {1})};
  CHECK_OK(op->Run({View(cache, f32, {1, 2, 8, 4}), View(update, f32, {1, 2, 3, 4}),
                    View(pos, i32, {3})},
                   outs));
  CHECK_EQ(done[0], 3);
  CHECK_NEAR(cache[2 * 4], 1.5, 0.0);
  CHECK_NEAR(cache[8 * 4 + 4 * 4 + 3], 1.5, 0.0);
  CHECK_NEAR(cache[5 * 4], 0.0, 0.0);

  // Bad inputs are errors, never crashes.
  CHECK_ERROR(op->Run({View(cache, f32, {1, 2, 8, 4}), View(update, f32, {1, 2, 3, 4}),
                       View(pos, i32, {2})},
                      outs),
              ErrorCode::kInput, "does not fit cache [1, 2, 8, 4]");
  CHECK_ERROR(op->Run({View(cache, f32, {1, 2, 8, 4}), View(update, f32, {1, 1, 3, 4}),
                       View(pos, i32, {3})},
                      outs),
              ErrorCode::kInput, "does not fit");
  CHECK_ERROR(op->Run({View(cache, f32, {2, 8, 4}), View(update, f32, {1, 2, 3, 4}),
                       View(pos, i32, {3})},
                      outs),
              ErrorCode::kInput, "input 0 (cache): expected float32 of rank 4");
  CHECK_ERROR(op->Run({View(cache, f32, {1, 2, 8, 4}), View(update, f32, {1, 2, 3, 4}),
                       View(update, f32, {3})},
                      outs),
              ErrorCode::kInput, "input 2 (input_pos): expected int32");
  CHECK_ERROR(op->Run({View(cache, f32, {1, 2, 16, 4}), View(update, f32, {1, 2, 3, 4}),
                       View(pos, i32, {3})},
                      outs),
              ErrorCode::kInput, "too small");
  CHECK_ERROR(op->Run({View(cache, f32, {1, 2, 8, 4}), View(update, f32, {1, 2, 3, 4})}, outs),
              ErrorCode::kModelLoad, "expects 3, 5, ... inputs");

  // Two pairs (the k and v caches of a layer) in one call; a bad second pair or position
  // leaves both caches unchanged.
  std::vector<float> k_cache(cache.size(), 0.0f), v_cache(cache.size(), 0.0f);
  std::vector<float> v_update(update.size(), -2.0f);
  CHECK_OK(op->Run({View(k_cache, f32, {1, 2, 8, 4}), View(update, f32, {1, 2, 3, 4}),
                    View(v_cache, f32, {1, 2, 8, 4}), View(v_update, f32, {1, 2, 3, 4}),
                    View(pos, i32, {3})},
                   outs));
  CHECK_EQ(done[0], 3);
  CHECK_NEAR(k_cache[4 * 4], 1.5, 0.0);
  CHECK_NEAR(v_cache[8 * 4 + 4 * 4 + 3], -2.0, 0.0);
  std::vector<float> k_fresh(cache.size(), 0.0f), v_fresh(cache.size(), 0.0f);
  CHECK_ERROR(op->Run({View(k_fresh, f32, {1, 2, 8, 4}), View(update, f32, {1, 2, 3, 4}),
                       View(v_fresh, f32, {1, 2, 8, 4}), View(v_update, f32, {1, 1, 3, 4}),
                       View(pos, i32, {3})},
                      outs),
              ErrorCode::kInput, "does not fit");
  std::vector<int32_t> far = {2, 3, 8};
  CHECK_ERROR(op->Run({View(k_fresh, f32, {1, 2, 8, 4}), View(update, f32, {1, 2, 3, 4}),
                       View(v_fresh, f32, {1, 2, 8, 4}), View(v_update, f32, {1, 2, 3, 4}),
                       View(far, i32, {3})},
                      outs),
              ErrorCode::kInput, "outside");
  CHECK(std::all_of(k_fresh.begin(), k_fresh.end(), [](float v) { return v == 0.0f; }));
  CHECK(std::all_of(v_fresh.begin(), v_fresh.end(), [](float v) { return v == 0.0f; }));
  // A cache that is neither float32 nor float16.
  std::vector<int32_t> int_cache(cache.size());
  CHECK_ERROR(op->Run({View(int_cache, i32, {1, 2, 8, 4}), View(update, f32, {1, 2, 3, 4}),
                       View(pos, i32, {3})},
                      outs),
              ErrorCode::kInput, "input 0 (cache): expected a float32 or float16 cache");
  // A float16 cache: the values rounded to half.
  std::vector<uint16_t> half_cache(cache.size(), 0);
  update.assign(update.size(), 1.0f / 3.0f);
  CHECK_OK(op->Run({View(half_cache, kLiteRtElementTypeFloat16, {1, 2, 8, 4}),
                    View(update, f32, {1, 2, 3, 4}), View(pos, i32, {3})},
                   outs));
  CHECK_EQ(half_cache[2 * 4], ops::FloatToHalf(1.0f / 3.0f));
  CHECK_EQ(half_cache[8 * 4 + 4 * 4 + 3], ops::FloatToHalf(1.0f / 3.0f));
  CHECK_EQ(half_cache[5 * 4], uint16_t{0});
  CHECK_ERROR(op->Run({View(half_cache, kLiteRtElementTypeFloat16, {1, 2, 16, 4}),
                       View(update, f32, {1, 2, 3, 4}), View(pos, i32, {3})},
                      outs),
              ErrorCode::kInput, "too small");
  pos = {2, 8, 4};
  CHECK_ERROR(op->Run({View(cache, f32, {1, 2, 8, 4}), View(update, f32, {1, 2, 3, 4}),
                       View(pos, i32, {3})},
                      outs),
              ErrorCode::kInput, "input_pos[1] = 8 is outside [0, 8)");
}

// ---- SDPA -----------------------------------------------------------------------------------

// Naive double-precision attention; also returns, per output element, sum_j p_j |v_j| (the
// scale the float error is relative to).
void ReferenceSdpa(const SdpaShape& s, const std::vector<float>& q, const std::vector<float>& k,
                   const std::vector<float>& v, const std::vector<int32_t>& pos,
                   const SdpaParams& p, std::vector<double>& out, std::vector<double>& magnitude) {
  const int group = s.q_heads / s.kv_heads, D = s.head_dim;
  out.assign(static_cast<size_t>(s.batch) * s.q_heads * s.q_len * D, 0.0);
  magnitude = out;
  for (int b = 0; b < s.batch; ++b) {
    for (int h = 0; h < s.q_heads; ++h) {
      const size_t kv = (static_cast<size_t>(b) * s.kv_heads + h / group) * s.kv_len * D;
      for (int t = 0; t < s.q_len; ++t) {
        const size_t row = ((static_cast<size_t>(b) * s.q_heads + h) * s.q_len + t) * D;
        const int hi = pos[t];
        const int lo = p.sliding_window > 0 ? std::max(0, hi - p.sliding_window + 1) : 0;
        std::vector<double> scores;
        double m = -std::numeric_limits<double>::infinity();
        for (int j = lo; j <= hi; ++j) {
          double dot = 0;
          for (int x = 0; x < D; ++x) dot += double(q[row + x]) * k[kv + size_t(j) * D + x];
          double sc = double(p.scale) * dot;
          if (p.logit_softcap > 0) sc = p.logit_softcap * std::tanh(sc / p.logit_softcap);
          scores.push_back(sc);
          m = std::max(m, sc);
        }
        double total = 0;
        for (double& sc : scores) total += (sc = std::exp(sc - m));
        for (int j = lo; j <= hi; ++j) {
          const double w = scores[j - lo] / total;
          for (int x = 0; x < D; ++x) {
            const double val = v[kv + size_t(j) * D + x];
            out[row + x] += w * val;
            magnitude[row + x] += w * std::abs(val);
          }
        }
      }
    }
  }
}

struct SdpaCase {
  SdpaShape shape;
  SdpaParams params;
  std::vector<int32_t> pos;
  std::vector<float> q, k, v;
  std::vector<double> ref, mag;
  std::string label;
  // float16 caches: k16 / v16 are the kernel's input, k / v their exact float values.
  bool half = false;
  std::vector<uint16_t> k16, v16;
};

// The float16-cache version of a case: K and V rounded to half (poison rows stay NaN) and
// the reference recomputed on the rounded values, so only the kernel's own error counts.
SdpaCase ToHalf(SdpaCase c) {
  c.half = true;
  c.k16.resize(c.k.size());
  c.v16.resize(c.v.size());
  for (size_t i = 0; i < c.k.size(); ++i) {
    c.k16[i] = ops::FloatToHalf(c.k[i]);
    c.v16[i] = ops::FloatToHalf(c.v[i]);
    c.k[i] = ops::HalfToFloat(c.k16[i]);
    c.v[i] = ops::HalfToFloat(c.v16[i]);
  }
  ReferenceSdpa(c.shape, c.q, c.k, c.v, c.pos, c.params, c.ref, c.mag);
  c.label += " float16";
  return c;
}

// start < 0: the first position is random.
SdpaCase MakeCase(std::mt19937& rng, int batch, int hq, int hkv, int T, int S, int D,
                  bool softcap, bool window, bool shuffled, float q_range, int start = -1) {
  SdpaCase c;
  c.shape = {batch, hq, hkv, T, S, D};
  std::uniform_real_distribution<float> unit(-1.0f, 1.0f);
  std::uniform_int_distribution<int> start_dist(0, S - T);
  if (start < 0) start = start_dist(rng);
  for (int t = 0; t < T; ++t) c.pos.push_back(start + t);
  if (shuffled) {
    std::shuffle(c.pos.begin(), c.pos.end(), rng);
    // Gaps too: spread the positions over the cache, in random order.
    for (int t = 0; t < T; ++t) c.pos[t] = static_cast<int32_t>((c.pos[t] * 7 + 3) % S);
  }
  c.params.scale = 1.0f / std::sqrt(static_cast<float>(D));
  c.params.logit_softcap = softcap ? 2.5f : 0.0f;
  c.params.sliding_window = window ? 1 + static_cast<int>(rng() % 40) : 0;
  c.q.resize(static_cast<size_t>(batch) * hq * T * D);
  for (float& x : c.q) x = q_range * unit(rng);
  const int max_pos = *std::max_element(c.pos.begin(), c.pos.end());
  c.k.resize(static_cast<size_t>(batch) * hkv * S * D);
  c.v.resize(c.k.size());
  for (size_t i = 0; i < c.k.size(); ++i) {
    const int row = static_cast<int>((i / D) % S);
    // Rows after the last position must never be read: make them poison.
    const bool poison = row > max_pos;
    c.k[i] = poison ? std::numeric_limits<float>::quiet_NaN() : unit(rng);
    c.v[i] = poison ? std::numeric_limits<float>::quiet_NaN() : unit(rng);
  }
  ReferenceSdpa(c.shape, c.q, c.k, c.v, c.pos, c.params, c.ref, c.mag);
  c.label = "B=" + std::to_string(batch) + " Hq=" + std::to_string(hq) +
            " Hkv=" + std::to_string(hkv) + " T=" + std::to_string(T) +
            " S=" + std::to_string(S) + " D=" + std::to_string(D) +
            " pos0=" + std::to_string(c.pos[0]) + " softcap=" + std::to_string(softcap) +
            " window=" + std::to_string(c.params.sliding_window) +
            (shuffled ? " shuffled" : "");
  return c;
}

// Max over elements of |got - ref| / (sum_j p_j |v_j|): the error relative to the
// magnitude of what was summed.
double RelativeError(const SdpaCase& c, const std::vector<float>& got) {
  double worst = 0;
  for (size_t i = 0; i < got.size(); ++i) {
    if (!std::isfinite(got[i])) return std::numeric_limits<double>::infinity();
    worst = std::max(worst, std::abs(got[i] - c.ref[i]) / std::max(c.mag[i], 1e-30));
  }
  return worst;
}

// Worst relative error seen per instruction set (printed by the random-shape test).
double g_worst_error[8] = {};
double g_worst_error_half[8] = {};  // float16 caches

// Returns the number of key splits the kernel used.
int64_t CheckCase(const SdpaCase& c, Isa isa, ops::ThreadPool* pool, bool always_parallel) {
  ops::Sdpa sdpa(isa);
  CHECK(sdpa.isa() == isa);
  sdpa.set_always_parallel(always_parallel);
  std::vector<float> out(c.ref.size(), -1.0f);
  const Status status =
      c.half ? sdpa.Run(c.shape, c.q.data(), c.k16.data(), c.v16.data(), c.pos.data(), c.params,
                        out.data(), pool)
             : sdpa.Run(c.shape, c.q.data(), c.k.data(), c.v.data(), c.pos.data(), c.params,
                        out.data(), pool);
  CHECK_OK(status);
  const double err = RelativeError(c, out);
  double& worst = (c.half ? g_worst_error_half : g_worst_error)[static_cast<int>(isa)];
  worst = std::max(worst, err);
  if (!(err <= 1e-5)) {
    testing::RecordFailure(__FILE__, __LINE__,
                           std::string("sdpa ") + ops::IsaName(isa) + " threads=" +
                               std::to_string(pool ? pool->num_threads() : 1) + " " + c.label +
                               ": relative error " + std::to_string(err));
  }
  return sdpa.last_key_splits();
}

TEST(SdpaMatchesReferenceAtRandomShapesForEveryIsa) {
  std::mt19937 rng(1234);
  ops::ThreadPool pool3(3);
  const std::vector<Isa> isas = ops::AvailableIsas();
  std::string names;
  for (Isa isa : isas) names += std::string(" ") + ops::IsaName(isa);
  std::fprintf(stderr, "  instruction sets tested:%s (best: %s)\n", names.c_str(),
               ops::IsaName(ops::BestIsa()));
  CHECK(isas.front() == Isa::kScalar);
  const int heads[][2] = {{1, 1}, {4, 2}, {8, 1}, {6, 3}};
  int cases = 0;
  for (int D : {1, 3, 8, 17, 64, 80, 128}) {
    for (const auto& h : heads) {
      for (int T : {1, 5, 33}) {
        for (int variant = 0; variant < 4; ++variant) {
          const bool softcap = variant & 1, window = variant & 2;
          const int S = T + static_cast<int>(rng() % (301 - T));
          const int batch = (cases % 5 == 0) ? 2 : 1;
          const float q_range = (cases % 3 == 0) ? 6.0f : 1.0f;  // peaky softmax sometimes
          const SdpaCase c =
              MakeCase(rng, batch, h[0], h[1], T, S, D, softcap, window, false, q_range);
          for (Isa isa : isas) {
            CheckCase(c, isa, nullptr, false);
            CheckCase(c, isa, &pool3, true);
          }
          ++cases;
        }
      }
    }
  }
  // Unsorted, gapped positions; long decodes that split the keys across threads.
  for (int i = 0; i < 8; ++i) {
    const SdpaCase shuffled = MakeCase(rng, 1, 4, 2, 5, 97, 17, i & 1, i & 2, true, 2.0f);
    const SdpaCase decode = MakeCase(rng, 1, 8, 1, 1, 300, 64, i & 1, i & 2, false, 3.0f);
    for (Isa isa : isas) {
      CheckCase(shuffled, isa, &pool3, true);
      CheckCase(decode, isa, &pool3, true);
      CheckCase(decode, isa, &pool3, false);
    }
  }
  // Decode at the end of a long cache with one kv head: the keys are split across the
  // threads and the partial softmax results merged.
  for (int i = 0; i < 4; ++i) {
    const SdpaCase split = MakeCase(rng, 1, 8, 1, 1, 300, 64, i & 1, false, false, 3.0f, 299);
    const SdpaCase split_mqa = MakeCase(rng, 2, 3, 1, 1, 200, 80, i & 2, false, false, 2.0f, 199);
    for (Isa isa : isas) {
      CHECK(CheckCase(split, isa, &pool3, true) > 1);
      CHECK(CheckCase(split_mqa, isa, &pool3, true) > 1);
    }
  }
  for (Isa isa : isas) {
    std::fprintf(stderr, "  %s: %d shapes, worst relative error %.2e (tolerance 1e-5)\n",
                 ops::IsaName(isa), cases + 24, g_worst_error[static_cast<int>(isa)]);
  }
}

TEST(SdpaWithFloat16CachesMatchesReferenceForEveryIsa) {
  std::mt19937 rng(4321);
  ops::ThreadPool pool3(3);
  const std::vector<Isa> isas = ops::AvailableIsas();
  const int heads[][2] = {{1, 1}, {4, 2}, {8, 1}, {6, 3}};
  int cases = 0;
  // D covers the tails of every vector width (1, 4, 8, 16 lanes).
  for (int D : {1, 3, 8, 17, 64, 80, 128}) {
    for (const auto& h : heads) {
      for (int T : {1, 5, 33}) {
        const int variant = cases % 4;
        const int S = T + static_cast<int>(rng() % (301 - T));
        const SdpaCase c = ToHalf(MakeCase(rng, cases % 5 == 0 ? 2 : 1, h[0], h[1], T, S, D,
                                           variant & 1, variant & 2, false, 2.0f));
        for (Isa isa : isas) {
          CheckCase(c, isa, nullptr, false);
          CheckCase(c, isa, &pool3, true);
        }
        ++cases;
      }
    }
  }
  for (int i = 0; i < 4; ++i) {
    const SdpaCase shuffled = ToHalf(MakeCase(rng, 1, 4, 2, 5, 97, 17, i & 1, i & 2, true, 2.0f));
    // Decode at the end of a long cache: split keys, and the prefetch of half rows.
    const SdpaCase split =
        ToHalf(MakeCase(rng, 1, 8, 1, 1, 300, 64, i & 1, false, false, 3.0f, 299));
    const SdpaCase mha = ToHalf(MakeCase(rng, 1, 3, 3, 1, 257, 64, i & 1, false, false, 3.0f, 256));
    for (Isa isa : isas) {
      CheckCase(shuffled, isa, &pool3, true);
      CHECK(CheckCase(split, isa, &pool3, true) > 1);
      CheckCase(mha, isa, nullptr, false);
    }
  }
  for (Isa isa : isas) {
    std::fprintf(stderr, "  %s: %d float16-cache shapes, worst relative error %.2e "
                 "(tolerance 1e-5)\n",
                 ops::IsaName(isa), cases + 12, g_worst_error_half[static_cast<int>(isa)]);
  }
}

// One visible key: the output is the value row itself, so every kernel's widening of
// every finite half (full vectors with D = 16, the tail path with D = 3) is checked exactly.
TEST(SdpaWidensEveryFiniteHalfExactly) {
  for (Isa isa : ops::AvailableIsas()) {
    ops::Sdpa sdpa(isa);
    for (int D : {16, 3}) {
      const SdpaShape shape{1, 1, 1, 1, 1, D};
      SdpaParams params;
      const std::vector<float> q(D, 0.0f);
      const std::vector<uint16_t> k(D, 0);
      std::vector<uint16_t> v(D);
      std::vector<float> out(D);
      const int32_t pos = 0;
      int mismatches = 0;
      for (uint32_t base = 0; base < 0x10000; base += D) {
        for (int x = 0; x < D; ++x) {
          const uint32_t h = (base + x) & 0xFFFF;
          v[x] = (h & 0x7C00) == 0x7C00 ? 0 : static_cast<uint16_t>(h);  // finite only
        }
        CHECK_OK(sdpa.Run(shape, q.data(), k.data(), v.data(), &pos, params, out.data(), nullptr));
        for (int x = 0; x < D; ++x) {
          const float want = ops::HalfToFloat(v[x]);
          // == : the sign of a zero output is not part of the contract (acc starts at +0).
          if (!(out[x] == want) && mismatches++ < 3) {
            std::fprintf(stderr, "  %s D=%d half 0x%04x: got %a, want %a\n", ops::IsaName(isa),
                         D, v[x], out[x], want);
          }
        }
      }
      if (mismatches != 0) {
        testing::RecordFailure(__FILE__, __LINE__,
                               std::string(ops::IsaName(isa)) + " D=" + std::to_string(D) + ": " +
                                   std::to_string(mismatches) + " halves widened wrongly");
      }
    }
  }
}

TEST(SdpaInstructionSetSelection) {
  CHECK(ops::IsaAvailable(Isa::kScalar));
  CHECK(ops::IsaAvailable(ops::BestIsa()));
  CHECK(ops::ResolveIsa(Isa::kScalar) == Isa::kScalar);
  // An unavailable instruction set falls back to the best one.
  for (Isa isa : {Isa::kAvx2, Isa::kAvx512, Isa::kNeon}) {
    CHECK(ops::Sdpa(isa).isa() == (ops::IsaAvailable(isa) ? isa : ops::BestIsa()));
  }
  setenv("LITEGEN_ISA", "scalar", 1);
  CHECK(ops::ResolveIsa(Isa::kAuto) == Isa::kScalar);
  CHECK(ops::Sdpa().isa() == Isa::kScalar);
  setenv("LITEGEN_ISA", "no-such-isa", 1);
  CHECK(ops::ResolveIsa(Isa::kAuto) == ops::BestIsa());
  unsetenv("LITEGEN_ISA");
  CHECK(ops::ResolveIsa(Isa::kAuto) == ops::BestIsa());
}

TEST(SdpaHandlesEmptyQueriesAndRejectsBadArguments) {
  ops::Sdpa sdpa;
  std::vector<float> q(2 * 1 * 4, 1.0f), kv(1 * 6 * 4, 1.0f), out(2 * 1 * 4, 0.0f);
  std::vector<int32_t> pos = {0};
  SdpaShape shape{1, 2, 1, 1, 6, 4};
  SdpaParams params;
  CHECK_OK(sdpa.Run(shape, q.data(), kv.data(), kv.data(), pos.data(), params, out.data(),
                    nullptr));
  CHECK_NEAR(out[0], 1.0, 1e-6);
  SdpaShape empty = shape;
  empty.q_len = 0;
  CHECK_OK(sdpa.Run(empty, q.data(), kv.data(), kv.data(), pos.data(), params, out.data(),
                    nullptr));
  SdpaShape bad_heads = shape;
  bad_heads.kv_heads = 3;
  CHECK_ERROR(sdpa.Run(bad_heads, q.data(), kv.data(), kv.data(), pos.data(), params,
                       out.data(), nullptr),
              ErrorCode::kInput, "must be a multiple of kv heads");
  pos = {6};
  CHECK_ERROR(sdpa.Run(shape, q.data(), kv.data(), kv.data(), pos.data(), params, out.data(),
                       nullptr),
              ErrorCode::kInput, "input_pos[0] = 6 is outside [0, 6)");
  pos = {0};
  SdpaParams bad = params;
  bad.sliding_window = -2;
  CHECK_ERROR(sdpa.Run(shape, q.data(), kv.data(), kv.data(), pos.data(), bad, out.data(),
                       nullptr),
              ErrorCode::kInput, "sliding_window must be >= 0");
  bad = params;
  bad.logit_softcap = -1.0f;
  CHECK_ERROR(sdpa.Run(shape, q.data(), kv.data(), kv.data(), pos.data(), bad, out.data(),
                       nullptr),
              ErrorCode::kInput, "logit_softcap");
  bad = params;
  bad.scale = std::numeric_limits<float>::infinity();
  CHECK_ERROR(sdpa.Run(shape, q.data(), kv.data(), kv.data(), pos.data(), bad, out.data(),
                       nullptr),
              ErrorCode::kInput, "scale must be finite");
  SdpaShape zero = shape;
  zero.head_dim = 0;
  CHECK_ERROR(sdpa.Run(zero, q.data(), kv.data(), kv.data(), pos.data(), params, out.data(),
                       nullptr),
              ErrorCode::kInput, "dimensions must be positive");
}

TEST(SdpaOpMatchesReferenceAndChecksTensors) {
  std::mt19937 rng(99);
  const SdpaCase c = MakeCase(rng, 1, 6, 3, 5, 40, 17, true, true, false, 2.0f);
  const auto f32 = kLiteRtElementTypeFloat32;
  const auto i32 = kLiteRtElementTypeInt32;
  std::vector<float> q = c.q, k = c.k, v = c.v;
  std::vector<int32_t> pos = c.pos;
  std::vector<float> params = {c.params.scale, c.params.logit_softcap};
  std::vector<int32_t> window = {c.params.sliding_window}, token = {5};
  std::vector<float> out(c.ref.size(), 0.0f);
  const int T = 5, S = 40, D = 17;
  auto inputs = [&]() {
    return std::vector<TensorView>{View(q, f32, {1, 6, T, D}),   View(k, f32, {1, 3, S, D}),
                                   View(v, f32, {1, 3, S, D}),   View(pos, i32, {T}),
                                   View(params, f32, {2}),       View(window, i32, {1}),
                                   View(token, i32, {1}),        View(token, i32, {1})};
  };
  std::vector<TensorView> outs = {View(out, f32, {1, 6, T, D})};
  for (Isa isa : ops::AvailableIsas()) {
    auto op = ops::MakeSdpaOp(2, isa);
    CHECK_OK(op->Init(nullptr, 0));
    std::vector<Shape> out_shapes(1);
    CHECK_OK(op->ComputeOutputShapes(
        {{1, 6, T, D}, {1, 3, S, D}, {1, 3, S, D}, {T}, {2}, {1}, {1}, {1}}, out_shapes));
    CHECK(out_shapes[0] == (Shape{1, 6, T, D}));
    std::fill(out.begin(), out.end(), 0.0f);
    CHECK_OK(op->Run(inputs(), outs));
    CHECK(RelativeError(c, out) <= 1e-5);
  }
  // float16 caches.
  const SdpaCase h = ToHalf(c);
  std::vector<uint16_t> hk = h.k16, hv = h.v16;
  const auto f16 = kLiteRtElementTypeFloat16;
  for (Isa isa : ops::AvailableIsas()) {
    auto op = ops::MakeSdpaOp(2, isa);
    CHECK_OK(op->Init(nullptr, 0));
    std::vector<TensorView> in = inputs();
    in[1] = View(hk, f16, {1, 3, S, D});
    in[2] = View(hv, f16, {1, 3, S, D});
    std::fill(out.begin(), out.end(), 0.0f);
    CHECK_OK(op->Run(in, outs));
    CHECK(RelativeError(h, out) <= 1e-5);
  }

  auto op = ops::MakeSdpaOp(2);
  const uint8_t junk[1] = {0};
  CHECK_ERROR(op->Init(junk, 1), ErrorCode::kModelLoad, "LITEGEN_SDPA v1 takes no custom_options");
  std::vector<Shape> out_shapes(1);
  CHECK_ERROR(op->ComputeOutputShapes({{1, 6, T, D}, {1, 3, S, D}}, out_shapes),
              ErrorCode::kModelLoad, "expects at least 6 inputs");
  auto with = [&](int index, TensorView view) {
    std::vector<TensorView> in = inputs();
    in[index] = view;
    return op->Run(in, outs);
  };
  CHECK_ERROR(with(0, View(q, f32, {1, 6, T, D, 1})), ErrorCode::kInput,
              "input 0 (q): expected float32 of rank 4");
  CHECK_ERROR(with(1, View(k, f32, {1, 2, S, D})), ErrorCode::kInput, "incompatible shapes");
  CHECK_ERROR(with(1, View(k, f32, {1, 3, S + 1, D})), ErrorCode::kInput, "too small");
  CHECK_ERROR(with(2, View(pos, i32, {1, 3, S, D})), ErrorCode::kInput,
              "input 2 (v_cache): expected a float32 or float16 cache");
  std::vector<uint16_t> k16(k.size()), v16(v.size());
  CHECK_ERROR(with(1, View(k16, kLiteRtElementTypeFloat16, {1, 3, S, D})), ErrorCode::kInput,
              "must have the same dtype");
  CHECK_ERROR(with(3, View(pos, i32, {T - 1})), ErrorCode::kInput, "incompatible shapes");
  CHECK_ERROR(with(4, View(params, f32, {1})), ErrorCode::kInput, "{scale, logit_softcap}");
  CHECK_ERROR(with(5, View(params, f32, {1})), ErrorCode::kInput,
              "input 5 (sliding_window): expected int32");
  std::vector<float> q6(6 * 5 * 4 * D);
  CHECK_ERROR(with(0, View(q6, f32, {1, 4, T, D})), ErrorCode::kInput, "incompatible shapes");
  std::vector<TensorView> too_few = inputs();
  too_few.resize(5);
  CHECK_ERROR(op->Run(too_few, outs), ErrorCode::kModelLoad, "expects at least 6 inputs");
  std::vector<TensorView> bad_out = {View(out, f32, {1, 6, T, D - 1})};
  CHECK_ERROR(op->Run(inputs(), bad_out), ErrorCode::kInput, "incompatible shapes");
  pos[2] = S;
  CHECK_ERROR(op->Run(inputs(), outs), ErrorCode::kInput, "input_pos[2] = 40 is outside [0, 40)");
}

TEST(BuiltinCustomOpsRegistersEveryKernel) {
  const std::vector<CustomOpRegistration> regs = BuiltinCustomOps(2);
  CHECK_EQ(regs.size(), size_t{6});
  CHECK_EQ(regs[0].name, std::string("LITEGEN_KV_CACHE_UPDATE"));
  CHECK_EQ(regs[1].name, std::string("LITEGEN_SDPA"));
  CHECK_EQ(regs[2].name, std::string("LITEGEN_FC"));
  CHECK_EQ(regs[3].name, std::string("LITEGEN_RMS_NORM"));
  CHECK_EQ(regs[4].name, std::string("LITEGEN_ROPE"));
  CHECK_EQ(regs[5].name, std::string("LITEGEN_GLU"));
  for (const CustomOpRegistration& reg : regs) {
    CHECK_EQ(reg.version, 1);
    CHECK(reg.create() != nullptr);
  }
}

TEST(FcOpOutputShapeFollowsTheInputs) {
  auto op = ops::MakeFcOp(1);
  CHECK_OK(op->Init(nullptr, 0));
  std::vector<Shape> outs(1);
  CHECK_OK(op->ComputeOutputShapes({{1, 5, 128}, {64, 128}, {64}, {64}}, outs));
  CHECK(outs[0] == (Shape{1, 5, 64}));
  CHECK_OK(op->ComputeOutputShapes({{3, 128}, {96, 64}, {96, 2}, {96}, {96}}, outs));
  CHECK(outs[0] == (Shape{3, 96}));
  CHECK_OK(op->ComputeOutputShapes({{3, 128}, {96, 64}, {96, 2}, {96}, {96}, {3, 96}}, outs));
  CHECK(outs[0] == (Shape{3, 96}));
  CHECK_ERROR(op->ComputeOutputShapes({{1, 128}, {64, 128}, {64}}, outs), ErrorCode::kModelLoad,
              "expects 4 to 6 inputs");
  const uint8_t options[] = {1};
  CHECK_ERROR(op->Init(options, 1), ErrorCode::kModelLoad, "takes no custom_options");
}

TEST(GluOpGatesTheUpHalfAndChecksTensors) {
  auto op = ops::MakeGluOp();
  CHECK_OK(op->Init(nullptr, 0));
  const auto f32 = kLiteRtElementTypeFloat32;
  const auto i32 = kLiteRtElementTypeInt32;
  const int rows = 2, f = 19;
  std::vector<float> x(rows * 2 * f), out(rows * f);
  std::mt19937 rng(11);
  std::normal_distribution<float> normal(0.0f, 3.0f);
  for (float& v : x) v = normal(rng);
  std::vector<Shape> shapes(1);
  CHECK_OK(op->ComputeOutputShapes({{1, rows, 2 * f}, {1}}, shapes));
  CHECK(shapes[0] == (Shape{1, rows, f}));
  std::vector<TensorView> outs = {View(out, f32, {1, rows, f})};
  // The kernel itself is tested in glu_test.cc; here: the operands reach it.
  std::vector<int32_t> silu = {0};
  CHECK_OK(op->Run({View(x, f32, {1, rows, 2 * f}), View(silu, i32, {1})}, outs));
  for (int r = 0; r < rows; ++r) {
    for (int i = 0; i < f; ++i) {
      const double g = x[r * 2 * f + i], up = x[r * 2 * f + f + i];
      const double want = g / (1.0 + std::exp(-g)) * up;
      CHECK_NEAR(out[r * f + i], want, 1e-5 * (1.0 + std::fabs(want)));
    }
  }
  std::vector<int32_t> unknown = {4};
  CHECK_ERROR(op->Run({View(x, f32, {1, rows, 2 * f}), View(unknown, i32, {1})}, outs),
              ErrorCode::kInput, "unknown activation code 4");
  CHECK_ERROR(op->Run({View(x, f32, {1, rows, 2 * f - 1}), View(silu, i32, {1})}, outs),
              ErrorCode::kInput, "incompatible shapes");
  std::vector<float> wide(rows * f * 2);
  std::vector<TensorView> bad_out = {View(wide, f32, {1, rows, 2 * f})};
  CHECK_ERROR(op->Run({View(x, f32, {1, rows, 2 * f}), View(silu, i32, {1})}, bad_out),
              ErrorCode::kInput, "incompatible shapes");
  std::vector<float> code_as_float = {0.0f};
  CHECK_ERROR(op->Run({View(x, f32, {1, rows, 2 * f}), View(code_as_float, f32, {1})}, outs),
              ErrorCode::kInput, "input 1 (activation): expected int32");
  CHECK_ERROR(op->Run({View(x, f32, {1, rows, 2 * f})}, outs), ErrorCode::kModelLoad,
              "expects 2 inputs");
}

TEST(RmsNormOpMatchesDoublePrecisionAndChecksTensors) {
  auto op = ops::MakeRmsNormOp();
  CHECK_OK(op->Init(nullptr, 0));
  std::mt19937 rng(7);
  std::normal_distribution<float> normal(0.0f, 2.0f);
  const auto f32 = kLiteRtElementTypeFloat32;
  for (int dim : {1, 15, 16, 64, 2051}) {
    const int rows = 3;
    std::vector<float> x(rows * dim), w(dim), out(rows * dim), eps = {1e-5f};
    for (float& v : x) v = normal(rng);
    for (float& v : w) v = normal(rng);
    std::vector<Shape> shapes(1);
    CHECK_OK(op->ComputeOutputShapes({{1, rows, dim}, {dim}, {1}}, shapes));
    CHECK(shapes[0] == (Shape{1, rows, dim}));
    std::vector<TensorView> outs = {View(out, f32, {1, rows, dim})};
    CHECK_OK(op->Run({View(x, f32, {1, rows, dim}), View(w, f32, {dim}), View(eps, f32, {1})},
                     outs));
    for (int r = 0; r < rows; ++r) {
      double sum = 0.0;
      for (int i = 0; i < dim; ++i) sum += double{x[r * dim + i]} * x[r * dim + i];
      const double inv = 1.0 / std::sqrt(sum / dim + 1e-5);
      for (int i = 0; i < dim; ++i) {
        const double want = x[r * dim + i] * inv * w[i];
        // float32 rounding of the sum, the root and two products: a few ulp of the value.
        CHECK_NEAR(out[r * dim + i], want, 1e-5 * (1.0 + std::fabs(want)));
      }
    }
  }
  std::vector<float> x(8), w(8), out(8), eps = {1e-6f};
  std::vector<TensorView> outs = {View(out, f32, {8})};
  CHECK_ERROR(op->Run({View(x, f32, {8}), View(w, f32, {4}), View(eps, f32, {1})}, outs),
              ErrorCode::kInput, "incompatible shapes");
  CHECK_ERROR(op->Run({View(x, f32, {8}), View(w, f32, {8}), View(eps, f32, {2})}, outs),
              ErrorCode::kInput, "input 2 (params)");
  CHECK_ERROR(op->Run({View(x, f32, {8}), View(w, f32, {8})}, outs), ErrorCode::kModelLoad,
              "expects 3 inputs");
  std::vector<int32_t> ints(8);
  CHECK_ERROR(op->Run({View(ints, kLiteRtElementTypeInt32, {8}), View(w, f32, {8}),
                       View(eps, f32, {1})},
                      outs),
              ErrorCode::kInput, "input 0 (x): expected float32");
}

TEST(RopeOpMatchesTheRotationAndChecksTensors) {
  auto op = ops::MakeRopeOp();
  CHECK_OK(op->Init(nullptr, 0));
  std::mt19937 rng(11);
  std::uniform_real_distribution<float> uniform(-1.0f, 1.0f);
  const auto f32 = kLiteRtElementTypeFloat32;
  const int heads = 3, t = 5, d = 16;
  for (int rot : {16, 8, 2}) {  // full and partial rotary (dims rot.. pass through)
    std::vector<float> x(heads * t * d), cos(t * rot), sin(t * rot), out(x.size());
    for (float& v : x) v = uniform(rng);
    for (int p = 0; p < t; ++p) {
      for (int i = 0; i < rot; ++i) {
        const double angle = p * std::pow(10000.0, -2.0 * (i % (rot / 2)) / rot);
        cos[p * rot + i] = static_cast<float>(std::cos(angle));
        sin[p * rot + i] = static_cast<float>(std::sin(angle));
      }
    }
    std::vector<TensorView> outs = {View(out, f32, {1, heads, t, d})};
    CHECK_OK(op->Run({View(x, f32, {1, heads, t, d}), View(cos, f32, {t, rot}),
                      View(sin, f32, {t, rot})},
                     outs));
    const int half = rot / 2;
    for (int h = 0; h < heads; ++h) {
      for (int p = 0; p < t; ++p) {
        const float* xr = &x[(h * t + p) * d];
        const float* y = &out[(h * t + p) * d];
        for (int i = 0; i < d; ++i) {
          double want = xr[i];
          if (i < rot) {
            // (x1, x2) -> (x1 cos - x2 sin, x2 cos + x1 sin), pairs half apart.
            const double partner = i < half ? -double{xr[i + half]} : double{xr[i - half]};
            want = double{xr[i]} * cos[p * rot + i] + partner * sin[p * rot + i];
          }
          CHECK_NEAR(y[i], want, 1e-6);
        }
      }
    }
  }
  std::vector<float> x(2 * 8), cs(2 * 4), out(x.size());
  std::vector<TensorView> outs = {View(out, f32, {2, 8})};
  CHECK_OK(op->Run({View(x, f32, {2, 8}), View(cs, f32, {2, 4}), View(cs, f32, {2, 4})}, outs));
  CHECK_ERROR(op->Run({View(x, f32, {2, 8}), View(cs, f32, {1, 8}), View(cs, f32, {1, 8})},
                      outs),
              ErrorCode::kInput, "incompatible shapes");  // T = 1 is not x's 2 positions
  std::vector<float> odd(2 * 3);
  CHECK_ERROR(op->Run({View(x, f32, {2, 8}), View(odd, f32, {2, 3}), View(odd, f32, {2, 3})},
                      outs),
              ErrorCode::kInput, "incompatible shapes");  // odd rotary width
  CHECK_ERROR(op->Run({View(x, f32, {16}), View(cs, f32, {2, 4}), View(cs, f32, {2, 4})}, outs),
              ErrorCode::kInput, "incompatible shapes");  // rank 1 has no position axis
}

}  // namespace
}  // namespace litegen
