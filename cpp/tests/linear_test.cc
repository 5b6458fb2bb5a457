// Unit tests of the quantized matrix kernels (cpp/ops/linear*): activation quantization
// against the contract's formula, and every kernel (each instruction set, with and without
// AMX, one thread or several) against a double-precision reference of the contract's math,
// for int8, int4 per channel and int4 blockwise weights.
#include <math.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <random>
#include <string>
#include <vector>

#include "ops/linear.h"
#include "ops/thread_pool.h"
#include "test_framework.h"

namespace litegen {
namespace {

using ops::Isa;
using ops::LinearWeights;
using ops::WeightFormat;

uint16_t FloatToHalf(float f) {
  // Scales here are normal, positive and well inside fp16 range: round to nearest even.
  uint32_t bits;
  std::memcpy(&bits, &f, sizeof(bits));
  const uint32_t exponent = ((bits >> 23) & 0xFF) - 112;
  uint32_t mantissa = bits & 0x7FFFFF;
  uint32_t half = (exponent << 10) | (mantissa >> 13);
  const uint32_t rest = mantissa & 0x1FFF;
  if (rest > 0x1000 || (rest == 0x1000 && (half & 1))) ++half;
  return static_cast<uint16_t>(half);
}

struct TestWeights {
  LinearWeights w;
  std::vector<int8_t> values;  // [n][k], unpacked
  std::vector<uint8_t> data;   // as the kernels read it
  std::vector<float> channel_scales;
  std::vector<uint16_t> block_scales;
  std::vector<uint8_t> block_codes;
  std::vector<float> wsum;
  float Scale(int64_t n, int64_t kk) const {
    if (w.format == WeightFormat::kInt4Interleaved) {
      return channel_scales[n] * static_cast<float>(block_codes[n * (w.k / w.block) + kk / w.block]);
    }
    if (w.block == w.k) return channel_scales[n];
    return ops::internal::HalfToFloat(block_scales[n * (w.k / w.block) + kk / w.block]);
  }
};

// block 0: per channel.
TestWeights MakeWeights(std::mt19937& rng, WeightFormat format, int64_t n, int64_t k,
                        int64_t block) {
  TestWeights t;
  const int lo = format == WeightFormat::kInt8 ? -127 : -8;
  const int hi = format == WeightFormat::kInt8 ? 127 : 7;
  std::uniform_int_distribution<int> value(lo, hi);
  std::uniform_real_distribution<float> scale(0.001f, 0.02f);
  t.values.resize(n * k);
  for (auto& v : t.values) v = static_cast<int8_t>(value(rng));
  if (format == WeightFormat::kInt8) {
    t.data.assign(t.values.begin(), t.values.end());
  } else if (format == WeightFormat::kInt4Interleaved) {
    // The layout as docs/custom_ops.md words it: groups of 16 blocks (fewer in the last),
    // slices of 8 values per block, lane j = block j of the group.
    t.data.assign(n * k / 2, 0);
    const int64_t blocks = k / block;
    for (int64_t r = 0; r < n; ++r) {
      uint8_t* row = &t.data[r * k / 2];
      for (int64_t g = 0; g * 16 < blocks; ++g) {
        const int64_t lanes = std::min<int64_t>(16, blocks - 16 * g);
        uint8_t* group = row + g * 16 * block / 2;
        for (int64_t i = 0; i < block / 8; ++i) {
          for (int64_t j = 0; j < lanes; ++j) {
            const int8_t* v = &t.values[r * k + (16 * g + j) * block + 8 * i];
            for (int e = 0; e < 4; ++e) {
              group[4 * lanes * i + 4 * j + e] =
                  static_cast<uint8_t>((v[e] & 0x0F) | ((v[4 + e] & 0x0F) << 4));
            }
          }
        }
      }
    }
  } else {
    t.data.resize(n * k / 2);
    for (int64_t i = 0; i < n * k / 2; ++i) {
      t.data[i] = static_cast<uint8_t>((t.values[2 * i] & 0x0F) | ((t.values[2 * i + 1] & 0x0F) << 4));
    }
  }
  t.w.format = format;
  t.w.n = n;
  t.w.k = k;
  t.w.block = block == 0 ? k : block;
  if (format == WeightFormat::kInt4Interleaved) {
    std::uniform_int_distribution<int> code(1, 255);
    t.channel_scales.resize(n);
    for (auto& s : t.channel_scales) s = scale(rng) / 128;
    t.block_codes.resize(n * (k / block));
    for (auto& c : t.block_codes) c = static_cast<uint8_t>(code(rng));
  } else if (block == 0) {
    t.channel_scales.resize(n);
    for (auto& s : t.channel_scales) s = scale(rng);
  } else {
    t.block_scales.resize(n * (k / block));
    for (auto& s : t.block_scales) s = FloatToHalf(scale(rng));
  }
  t.wsum.resize(n);
  for (int64_t r = 0; r < n; ++r) {
    double sum = 0;
    for (int64_t c = 0; c < k; ++c) sum += double{t.Scale(r, c)} * t.values[r * k + c];
    t.wsum[r] = static_cast<float>(sum);
  }
  t.w.data = t.data.data();
  t.w.channel_scales = t.channel_scales.empty() ? nullptr : t.channel_scales.data();
  t.w.block_scales = t.block_scales.empty() ? nullptr : t.block_scales.data();
  t.w.block_codes = t.block_codes.empty() ? nullptr : t.block_codes.data();
  t.w.wsum = t.wsum.data();
  return t;
}

// The contract's activation quantization, written out independently.
void QuantizeReference(const float* x, int64_t k, std::vector<uint8_t>& q, float& scale,
                       int32_t& zero) {
  float lo = 0, hi = 0;
  for (int64_t i = 0; i < k; ++i) {
    lo = std::min(lo, x[i]);
    hi = std::max(hi, x[i]);
  }
  q.assign(k, 0);
  if (hi == lo) {
    scale = 1.0f;
    zero = 0;
    return;
  }
  const float inv = 255.0f / (hi - lo);
  scale = (hi - lo) / 255.0f;
  zero = static_cast<int32_t>(std::clamp(std::nearbyint(-lo * inv), 0.0f, 255.0f));
  for (int64_t i = 0; i < k; ++i) {
    q[i] = static_cast<uint8_t>(std::clamp(std::nearbyint(x[i] * inv) + zero, 0.0f, 255.0f));
  }
}

// y in double from the contract's formula.
std::vector<double> Reference(const TestWeights& t, int64_t rows, const std::vector<float>& x,
                              const std::vector<float>* bias) {
  const int64_t n = t.w.n, k = t.w.k;
  std::vector<double> y(rows * n);
  std::vector<uint8_t> q;
  for (int64_t m = 0; m < rows; ++m) {
    float scale;
    int32_t zero;
    QuantizeReference(&x[m * k], k, q, scale, zero);
    for (int64_t r = 0; r < n; ++r) {
      double sum = 0;
      for (int64_t c = 0; c < k; ++c) sum += double{t.Scale(r, c)} * q[c] * t.values[r * k + c];
      double v = scale * (sum - double{static_cast<float>(zero)} * t.wsum[r]);
      if (bias != nullptr) v += (*bias)[r];
      y[m * n + r] = v;
    }
  }
  return y;
}

TEST(LinearQuantizeRowMatchesTheContract) {
  std::mt19937 rng(7);
  std::normal_distribution<float> normal(0.0f, 3.0f);
  for (int64_t k : {1, 7, 64, 100, 2048}) {
    for (int variant = 0; variant < 4; ++variant) {
      std::vector<float> x(k);
      for (auto& v : x) v = normal(rng);
      if (variant == 1) for (auto& v : x) v = std::fabs(v);    // zero point 0
      if (variant == 2) for (auto& v : x) v = -std::fabs(v);   // zero point 255
      if (variant == 3) std::fill(x.begin(), x.end(), 0.0f);   // all zero
      std::vector<uint8_t> expected;
      float expected_scale;
      int32_t expected_zero;
      QuantizeReference(x.data(), k, expected, expected_scale, expected_zero);
      std::vector<uint8_t> got(k);
      float scale;
      int32_t zero;
      ops::QuantizeRow(x.data(), k, got.data(), &scale, &zero);
      CHECK_EQ(scale, expected_scale);
      CHECK_EQ(zero, expected_zero);
      CHECK(got == expected);
    }
  }
}

// Worst error per instruction set (Isa values 0..4), then per set with AMX (5..9).
constexpr int kIsaSlots = 5;
double g_worst[2 * kIsaSlots] = {};

void CheckKernel(const TestWeights& t, int64_t rows, std::mt19937& rng, bool with_bias,
                 Isa isa, bool amx, ops::ThreadPool* pool, const char* what) {
  std::normal_distribution<float> normal(0.0f, 1.0f);
  std::vector<float> x(rows * t.w.k);
  for (auto& v : x) v = normal(rng);
  std::vector<float> bias(t.w.n);
  for (auto& v : bias) v = normal(rng);
  const std::vector<double> expected = Reference(t, rows, x, with_bias ? &bias : nullptr);
  ops::Linear linear(isa, amx);
  linear.set_always_parallel(true);
  std::vector<float> y(rows * t.w.n, std::nanf(""));
  CHECK_OK(linear.Run(t.w, rows, x.data(), with_bias ? bias.data() : nullptr, y.data(), pool));
  double scale = 1e-6;
  for (double e : expected) scale = std::max(scale, std::fabs(e));
  double worst = 0;
  for (size_t i = 0; i < y.size(); ++i) {
    const double err = std::fabs(y[i] - expected[i]) / scale;
    if (!(err <= worst)) worst = std::isnan(err) ? 1e9 : err;
  }
  const int slot =
      static_cast<int>(linear.isa()) + (linear.uses_amx() && rows >= 8 ? kIsaSlots : 0);
  g_worst[slot] = std::max(g_worst[slot], worst);
  if (!(worst <= 1e-5)) {
    std::ostringstream os;
    os << what << ": " << ops::IsaName(linear.isa()) << (linear.uses_amx() ? "+amx" : "")
       << " rows " << rows << " n " << t.w.n << " k " << t.w.k << " block " << t.w.block
       << " worst relative error " << worst;
    testing::RecordFailure(__FILE__, __LINE__, os.str());
  }
}

TEST(LinearMatchesReferenceForEveryKernel) {
  std::mt19937 rng(99);
  ops::ThreadPool pool3(3);
  const std::vector<Isa> isas = ops::AvailableIsas();
  struct Shape {
    WeightFormat format;
    int64_t n, k, block;
  };
  const Shape shapes[] = {
      {WeightFormat::kInt8, 1, 64, 0},      {WeightFormat::kInt8, 67, 128, 0},
      {WeightFormat::kInt8, 200, 576, 0},   {WeightFormat::kInt8, 129, 2048, 0},
      {WeightFormat::kInt4, 70, 64, 0},     {WeightFormat::kInt4, 130, 320, 0},
      {WeightFormat::kInt4, 65, 64, 32},    {WeightFormat::kInt4, 128, 256, 32},
      {WeightFormat::kInt4, 96, 384, 64},   {WeightFormat::kInt4, 200, 1024, 128},
      {WeightFormat::kInt4, 33, 2048, 2048 / 2},
      // Blocks an odd multiple of 32 straddle the 64-element units of the AVX2 kernel and the
      // 128-weight chunks of the AVX-512 one (with and without a 64-weight tail).
      {WeightFormat::kInt4, 70, 576, 96},   {WeightFormat::kInt4, 67, 192, 32},
      {WeightFormat::kInt4, 66, 640, 160},
      // Blocks of 32 in decode (AVX-512): groups of 4 chunks only, and a partial last group.
      {WeightFormat::kInt4, 67, 2048, 32},  {WeightFormat::kInt4, 66, 640, 32},
      // Long rows: cached channel chunks (AVX2), several row passes with a 64-weight tail
      // (AVX-512: 31 rows of split int4 activations fit its scratch), int8 at full length.
      {WeightFormat::kInt8, 40, 4096, 0},   {WeightFormat::kInt4, 40, 8192, 0},
      {WeightFormat::kInt4, 40, 16448, 0},  {WeightFormat::kInt4, 40, 4160, 32},
      {WeightFormat::kInt8, 6, 32768, 0},
      // Interleaved int4: 2 lanes only; whole groups; a short last group (4, 12, 2, 6
      // lanes); blocks of 64, 96 (12 slices), 128 and 1024; TinyLlama's down projection.
      {WeightFormat::kInt4Interleaved, 65, 64, 32},
      {WeightFormat::kInt4Interleaved, 67, 2048, 32},
      {WeightFormat::kInt4Interleaved, 66, 640, 32},
      {WeightFormat::kInt4Interleaved, 30, 896, 32},
      {WeightFormat::kInt4Interleaved, 40, 4160, 32},
      {WeightFormat::kInt4Interleaved, 96, 384, 64},
      {WeightFormat::kInt4Interleaved, 70, 576, 96},
      {WeightFormat::kInt4Interleaved, 200, 1024, 128},
      {WeightFormat::kInt4Interleaved, 33, 2048, 1024},
      {WeightFormat::kInt4Interleaved, 20, 5632, 32},
      // Short last groups of an odd number of lanes (1, 3, 13).
      {WeightFormat::kInt4Interleaved, 24, 1088, 64},
      {WeightFormat::kInt4Interleaved, 24, 1216, 64},
      {WeightFormat::kInt4Interleaved, 24, 1856, 64},
  };
  bool amx_seen = false;
  for (const Shape& s : shapes) {
    const TestWeights t = MakeWeights(rng, s.format, s.n, s.k, s.block);
    // 1..7 rows: every decode tile height (1..4 rows, then 4 + 1..3); 8: AMX from here;
    // 16, 37: many.
    for (int64_t rows : {1, 2, 3, 4, 5, 7, 8, 16, 37}) {
      for (Isa isa : isas) {
        for (bool amx : {false, true}) {
          ops::Linear probe(isa, amx);
          if (amx && !probe.uses_amx()) continue;
          amx_seen |= amx;
          CheckKernel(t, rows, rng, rows % 2 == 1, isa, amx, nullptr, "one thread");
          CheckKernel(t, rows, rng, rows % 2 == 0, isa, amx, &pool3, "three threads");
        }
      }
    }
  }
  std::string names;
  for (Isa isa : isas) names += std::string(" ") + ops::IsaName(isa);
  std::fprintf(stderr, "  instruction sets tested:%s%s\n", names.c_str(),
               amx_seen ? " +amx" : "");
  for (int i = 0; i < 2 * kIsaSlots; ++i) {
    if (g_worst[i] == 0) continue;
    const std::string name = std::string(ops::IsaName(static_cast<Isa>(i % kIsaSlots))) +
                             (i >= kIsaSlots ? "+amx" : "");
    std::fprintf(stderr, "  %s: worst relative error %.2e (tolerance 1e-5)\n", name.c_str(),
                 g_worst[i]);
  }
}

// The AMX kernel's own paths (when the machine has AMX): row counts that are not multiples
// of its 16-token tiles, channel ranges ending inside a 32-row panel, k split into several
// widened chunks (with a short last one), several token passes (large k), the 16-token
// pass for very large k, the fallback beyond it, and blockwise steps of 32 and 64.
TEST(LinearAmxEdgeCases) {
  if (!ops::Linear(Isa::kAvx512, true).uses_amx()) {
    std::fprintf(stderr, "  no AMX on this machine: skipped\n");
    return;
  }
  std::mt19937 rng(5);
  ops::ThreadPool pool3(3);
  struct Case {
    WeightFormat format;
    int64_t n, k, block;
    std::vector<int64_t> rows;
  };
  const Case cases[] = {
      {WeightFormat::kInt8, 200, 576, 0, {8, 17, 33, 64}},    // tail panel, chunk 512 + 64
      {WeightFormat::kInt8, 96, 8192, 0, {37, 64}},           // two token passes
      {WeightFormat::kInt8, 40, 24576, 0, {17}},              // 16-token passes
      {WeightFormat::kInt8, 16, 32768, 0, {8}},               // too large: fallback kernel
      {WeightFormat::kInt4, 70, 8192, 0, {8, 33}},            // per channel, 4 chunks
      {WeightFormat::kInt4, 100, 4160, 32, {17, 64}},         // blockwise, short last chunk
      {WeightFormat::kInt4, 40, 384, 96, {8, 33}},            // blocks of 96: 32-k steps
      {WeightFormat::kInt4, 65, 4096, 64, {33}},              // blocks of 64: 64-k steps
      {WeightFormat::kInt4, 48, 8192, 4096, {20}},            // chunk = one large block
      {WeightFormat::kInt4Interleaved, 100, 4160, 32, {17, 64}},  // chunks cut groups
      {WeightFormat::kInt4Interleaved, 40, 384, 96, {8, 33}},
      {WeightFormat::kInt4Interleaved, 65, 4096, 64, {33}},
      {WeightFormat::kInt4Interleaved, 48, 8192, 4096, {20}},
  };
  for (const Case& c : cases) {
    const TestWeights t = MakeWeights(rng, c.format, c.n, c.k, c.block);
    for (int64_t rows : c.rows) {
      CheckKernel(t, rows, rng, rows % 2 == 1, Isa::kAvx512, true, nullptr, "amx, one thread");
      CheckKernel(t, rows, rng, rows % 2 == 0, Isa::kAvx512, true, &pool3, "amx, three threads");
    }
  }
}

TEST(LinearRejectsBadWeights) {
  std::mt19937 rng(3);
  TestWeights t = MakeWeights(rng, WeightFormat::kInt8, 64, 64, 0);
  ops::Linear linear;
  std::vector<float> x(64), y(64);
  LinearWeights bad = t.w;
  bad.k = 48;
  CHECK_ERROR(linear.Run(bad, 1, x.data(), nullptr, y.data(), nullptr), ErrorCode::kInput,
              "multiple of 64");
  bad = t.w;
  bad.block = 32;
  CHECK_ERROR(linear.Run(bad, 1, x.data(), nullptr, y.data(), nullptr), ErrorCode::kInput,
              "per channel only");
  bad = t.w;
  bad.wsum = nullptr;
  CHECK_ERROR(linear.Run(bad, 1, x.data(), nullptr, y.data(), nullptr), ErrorCode::kInput,
              "row sums");
  TestWeights t4 = MakeWeights(rng, WeightFormat::kInt4, 64, 128, 32);
  bad = t4.w;
  bad.block = 48;
  CHECK_ERROR(linear.Run(bad, 1, x.data(), nullptr, y.data(), nullptr), ErrorCode::kInput,
              "block size 48");
  TestWeights ti = MakeWeights(rng, WeightFormat::kInt4Interleaved, 64, 128, 32);
  bad = ti.w;
  bad.block_codes = nullptr;
  CHECK_ERROR(linear.Run(bad, 1, x.data(), nullptr, y.data(), nullptr), ErrorCode::kInput,
              "block codes");
  CHECK_OK(linear.Run(t.w, 0, x.data(), nullptr, y.data(), nullptr));
}

}  // namespace
}  // namespace litegen
