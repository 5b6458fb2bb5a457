// End to end: the built-in kernels running inside LiteRT on the attention fixtures of
// tests/fixtures/cpp_models.py (write_attention_model): prefill, decode steps and a second
// chunk through one signature with a dynamic token count, the caches updated in place.
#include <algorithm>
#include <cmath>
#include <limits>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "litert/compiled_model.h"
#include "ops/builtin_ops.h"
#include "test_framework.h"

namespace litegen {
namespace {

constexpr int kBatch = 1, kQHeads = 4, kKvHeads = 2, kDim = 8, kMaxLen = 24;

struct Attention {
  float softcap;
  int window;
};

// Reference for one step: the caches already hold the new rows.
std::vector<double> Reference(const std::vector<float>& q, const std::vector<float>& k,
                              const std::vector<float>& v, const std::vector<int32_t>& pos,
                              Attention a) {
  const int T = static_cast<int>(pos.size()), group = kQHeads / kKvHeads;
  const double scale = 1.0 / std::sqrt(double(kDim));
  std::vector<double> out(static_cast<size_t>(kQHeads) * T * kDim, 0.0);
  for (int h = 0; h < kQHeads; ++h) {
    const size_t kv = static_cast<size_t>(h / group) * kMaxLen * kDim;
    for (int t = 0; t < T; ++t) {
      const int hi = pos[t], lo = a.window > 0 ? std::max(0, hi - a.window + 1) : 0;
      std::vector<double> w;
      double m = -std::numeric_limits<double>::infinity(), total = 0;
      for (int j = lo; j <= hi; ++j) {
        double dot = 0;
        for (int x = 0; x < kDim; ++x) {
          dot += double(q[(size_t(h) * T + t) * kDim + x]) * k[kv + size_t(j) * kDim + x];
        }
        double s = scale * dot;
        if (a.softcap > 0) s = a.softcap * std::tanh(s / a.softcap);
        w.push_back(s);
        m = std::max(m, s);
      }
      for (double& s : w) total += (s = std::exp(s - m));
      for (int j = lo; j <= hi; ++j) {
        for (int x = 0; x < kDim; ++x) {
          out[(size_t(h) * T + t) * kDim + x] += w[j - lo] / total * v[kv + size_t(j) * kDim + x];
        }
      }
    }
  }
  return out;
}

void RunAttentionModel(const std::string& file, Attention attention) {
  auto env = Environment::Create();
  CHECK_OK(env);
  if (!env.ok()) return;
  auto model = Model::Load(env.value(), testing::FixtureDir() + "/" + file);
  CHECK_OK(model);
  if (!model.ok()) return;
  CHECK(model.value()->custom_ops().size() == 2);
  CompileOptions options;
  options.num_threads = 2;
  options.custom_ops = BuiltinCustomOps(2);
  auto compiled = CompiledModel::Create(model.value(), options);
  CHECK_OK(compiled);
  if (!compiled.ok()) return;
  CompiledModel& cm = *compiled.value();
  const SignatureSpec* step = cm.model().FindSignature("step").value();
  CHECK_EQ(step->inputs.size(), size_t{6});

  const Shape cache_shape = {kBatch, kKvHeads, kMaxLen, kDim};
  auto k_cache = HostTensor::Allocate(kLiteRtElementTypeFloat32, cache_shape, "k_cache");
  auto v_cache = HostTensor::Allocate(kLiteRtElementTypeFloat32, cache_shape, "v_cache");
  CHECK_OK(k_cache);
  CHECK_OK(v_cache);
  if (!k_cache.ok() || !v_cache.ok()) return;
  float* k_data = static_cast<float*>(k_cache->data());
  float* v_data = static_cast<float*>(v_cache->data());
  // Unwritten rows hold NaN: the kernels must never read past the last position.
  std::fill(k_data, k_data + kKvHeads * kMaxLen * kDim, std::numeric_limits<float>::quiet_NaN());
  std::fill(v_data, v_data + kKvHeads * kMaxLen * kDim, std::numeric_limits<float>::quiet_NaN());
  std::vector<float> k_mirror(k_data, k_data + kKvHeads * kMaxLen * kDim);
  std::vector<float> v_mirror = k_mirror;

  std::mt19937 rng(7);
  std::uniform_real_distribution<float> unit(-1.0f, 1.0f);
  int next = 0;
  auto run_step = [&](int T) {
    std::vector<int32_t> positions(T);
    for (int t = 0; t < T; ++t) positions[t] = next + t;
    auto q = HostTensor::Allocate(kLiteRtElementTypeFloat32, {kBatch, kQHeads, T, kDim}, "q");
    auto uk = HostTensor::Allocate(kLiteRtElementTypeFloat32, {kBatch, kKvHeads, T, kDim}, "uk");
    auto uv = HostTensor::Allocate(kLiteRtElementTypeFloat32, {kBatch, kKvHeads, T, kDim}, "uv");
    auto pos = HostTensor::Allocate(kLiteRtElementTypeInt32, {T}, "input_pos");
    auto out = HostTensor::Allocate(kLiteRtElementTypeFloat32, {kBatch, kQHeads, T, kDim}, "out");
    if (!q.ok() || !uk.ok() || !uv.ok() || !pos.ok() || !out.ok()) {
      CHECK(false);
      return;
    }
    auto fill = [&](HostTensor& tensor, std::vector<float>& copy) {
      float* data = static_cast<float*>(tensor.data());
      copy.assign(tensor.bytes() / sizeof(float), 0.0f);
      for (size_t i = 0; i < copy.size(); ++i) copy[i] = data[i] = 2.0f * unit(rng);
    };
    std::vector<float> qv, ukv, uvv;
    fill(*q, qv);
    fill(*uk, ukv);
    fill(*uv, uvv);
    std::copy(positions.begin(), positions.end(), static_cast<int32_t*>(pos->data()));
    for (int h = 0; h < kKvHeads; ++h) {
      for (int t = 0; t < T; ++t) {
        for (int x = 0; x < kDim; ++x) {
          const size_t dst = (size_t(h) * kMaxLen + positions[t]) * kDim + x;
          k_mirror[dst] = ukv[(size_t(h) * T + t) * kDim + x];
          v_mirror[dst] = uvv[(size_t(h) * T + t) * kDim + x];
        }
      }
    }
    CHECK_OK(cm.Run(*step, {&q.value(), &uk.value(), &uv.value(), &pos.value(), &k_cache.value(),
                            &v_cache.value()},
                    {&out.value()}));
    // The caches we own were written in place, row by row.
    bool k_same = true, v_same = true;
    for (size_t i = 0; i < k_mirror.size(); ++i) {
      const bool k_nan = std::isnan(k_mirror[i]), v_nan = std::isnan(v_mirror[i]);
      k_same &= k_nan ? std::isnan(k_data[i]) : k_data[i] == k_mirror[i];
      v_same &= v_nan ? std::isnan(v_data[i]) : v_data[i] == v_mirror[i];
    }
    CHECK(k_same);
    CHECK(v_same);
    const std::vector<double> expected = Reference(qv, k_mirror, v_mirror, positions, attention);
    const float* got = static_cast<const float*>(out->data());
    for (size_t i = 0; i < expected.size(); ++i) CHECK_NEAR(got[i], expected[i], 2e-5);
    next += T;
  };
  run_step(7);  // prefill
  run_step(1);  // decode
  run_step(1);
  run_step(1);
  run_step(4);  // another chunk
  run_step(1);

  // A position past the cache is an error from the kernel, reported by Run.
  {
    auto q = HostTensor::Allocate(kLiteRtElementTypeFloat32, {kBatch, kQHeads, 1, kDim}, "q");
    auto u = HostTensor::Allocate(kLiteRtElementTypeFloat32, {kBatch, kKvHeads, 1, kDim}, "u");
    auto pos = HostTensor::Allocate(kLiteRtElementTypeInt32, {1}, "input_pos");
    auto out = HostTensor::Allocate(kLiteRtElementTypeFloat32, {kBatch, kQHeads, 1, kDim}, "out");
    static_cast<int32_t*>(pos->data())[0] = kMaxLen;
    CHECK_ERROR(cm.Run(*step, {&q.value(), &u.value(), &u.value(), &pos.value(), &k_cache.value(),
                               &v_cache.value()},
                       {&out.value()}),
                ErrorCode::kInput,
                "custom op 'LITEGEN_KV_CACHE_UPDATE': kv_cache_update: input_pos[0] = 24 is "
                "outside [0, 24)");
  }
  run_step(1);  // still runs after the error
}

TEST(AttentionModelRunsPrefillAndDecodeThroughLiteRt) {
  RunAttentionModel("attention.tflite", {0.0f, 0});
}

TEST(AttentionModelWithSoftcapAndWindow) {
  RunAttentionModel("attention_softcap_window.tflite", {2.0f, 5});
}

}  // namespace
}  // namespace litegen
