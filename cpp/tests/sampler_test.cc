// Statistical tests of the sampler against distributions computed independently here.
// Seeds are fixed, so every run draws the same tokens: the tests are deterministic.
#include <algorithm>
#include <cmath>
#include <numeric>
#include <set>
#include <vector>

#include "engine/sampler.h"
#include "test_framework.h"

namespace litegen {
namespace {

std::vector<double> Softmax(const std::vector<float>& logits, double temperature) {
  std::vector<double> p(logits.size());
  const double max = *std::max_element(logits.begin(), logits.end());
  double sum = 0;
  for (size_t i = 0; i < p.size(); ++i) sum += p[i] = std::exp((logits[i] - max) / temperature);
  for (double& x : p) x /= sum;
  return p;
}

// Keeps entries where keep[i], renormalized.
std::vector<double> Restrict(std::vector<double> p, const std::vector<bool>& keep) {
  double sum = 0;
  for (size_t i = 0; i < p.size(); ++i) sum += keep[i] ? p[i] : 0;
  for (size_t i = 0; i < p.size(); ++i) p[i] = keep[i] ? p[i] / sum : 0;
  return p;
}

std::vector<int> Draw(Sampler& sampler, const std::vector<float>& logits, int n) {
  std::vector<int> counts(logits.size(), 0);
  for (int i = 0; i < n; ++i) ++counts[sampler.Sample(logits.data(), {})];
  return counts;
}

// Pearson chi-square of observed counts vs expected probabilities. Tokens with zero
// expected probability must never be drawn.
void CheckDistribution(const std::vector<int>& counts, const std::vector<double>& expected,
                       int n) {
  double chi2 = 0;
  int dof = -1;
  for (size_t i = 0; i < counts.size(); ++i) {
    if (expected[i] == 0) {
      CHECK_EQ(counts[i], 0);
      continue;
    }
    const double e = expected[i] * n;
    chi2 += (counts[i] - e) * (counts[i] - e) / e;
    ++dof;
  }
  // 99.9th percentile of chi-square for up to 9 degrees of freedom is < 27.9.
  CHECK(dof <= 9);
  CHECK(chi2 < 27.9);
}

const std::vector<float> kLogits = {1.0f, 2.5f, 0.5f, 2.0f, -1.0f, 1.5f, 0.0f, 3.0f};
constexpr int kDraws = 50000;

Sampler Make(SamplingParams params, int vocab = static_cast<int>(kLogits.size())) {
  auto sampler = Sampler::Create(params, vocab);
  CHECK_OK(sampler);
  return std::move(sampler).value();
}

TEST(SamplerGreedyIsArgmax) {
  Sampler sampler = Make({});
  CHECK_EQ(sampler.Sample(kLogits.data(), {}), 7);
  const std::vector<float> tie = {1, 4, 4, 2};
  Sampler small = Make({}, 4);
  CHECK_EQ(small.Sample(tie.data(), {}), 1);  // first maximum wins
}

TEST(SamplerTemperatureMatchesSoftmax) {
  for (float temperature : {1.0f, 0.5f, 2.0f}) {
    SamplingParams params;
    params.temperature = temperature;
    params.seed = 11;
    Sampler sampler = Make(params);
    CheckDistribution(Draw(sampler, kLogits, kDraws), Softmax(kLogits, temperature), kDraws);
  }
}

TEST(SamplerTopK) {
  SamplingParams params;
  params.temperature = 1.0f;
  params.top_k = 3;
  params.seed = 5;
  Sampler sampler = Make(params);
  std::vector<bool> keep(kLogits.size(), false);
  keep[7] = keep[1] = keep[3] = true;  // the three largest logits
  CheckDistribution(Draw(sampler, kLogits, kDraws), Restrict(Softmax(kLogits, 1.0), keep),
                    kDraws);
}

// The smallest most-likely set with mass >= top_p, computed by a full sort.
std::vector<bool> TopPSet(const std::vector<double>& p, double top_p) {
  std::vector<int> order(p.size());
  std::iota(order.begin(), order.end(), 0);
  std::sort(order.begin(), order.end(), [&](int a, int b) { return p[a] > p[b]; });
  std::vector<bool> keep(p.size(), false);
  double mass = 0;
  for (int token : order) {
    keep[token] = true;
    mass += p[token];
    if (mass >= top_p) break;
  }
  return keep;
}

TEST(SamplerTopPAndTopKCompose) {
  SamplingParams params;
  params.temperature = 0.8f;
  params.top_p = 0.75f;
  params.seed = 9;
  Sampler sampler = Make(params);
  const std::vector<double> p = Softmax(kLogits, 0.8);
  CheckDistribution(Draw(sampler, kLogits, kDraws), Restrict(p, TopPSet(p, 0.75)), kDraws);

  // top-p applies to the distribution that top-k left (renormalized), as in HF.
  params.top_k = 4;
  params.top_p = 0.6f;
  Sampler both = Make(params);
  std::vector<bool> top4(kLogits.size(), false);
  top4[7] = top4[1] = top4[3] = top4[5] = true;
  const std::vector<double> after_k = Restrict(p, top4);
  CheckDistribution(Draw(both, kLogits, kDraws), Restrict(after_k, TopPSet(after_k, 0.6)),
                    kDraws);
}

TEST(SamplerMinP) {
  SamplingParams params;
  params.temperature = 1.0f;
  params.min_p = 0.3f;
  params.seed = 3;
  Sampler sampler = Make(params);
  const std::vector<double> p = Softmax(kLogits, 1.0);
  const double p_max = *std::max_element(p.begin(), p.end());
  std::vector<bool> keep(p.size());
  for (size_t i = 0; i < p.size(); ++i) keep[i] = p[i] >= 0.3 * p_max;
  CheckDistribution(Draw(sampler, kLogits, kDraws), Restrict(p, keep), kDraws);
}

TEST(SamplerTopPOnLargeVocabulary) {
  // A flat-ish distribution where the nucleus holds hundreds of tokens, so the sampler
  // must widen its partial sort several times.
  const int vocab = 8000;
  std::vector<float> logits(vocab);
  Rng rng(1);
  for (float& x : logits) x = static_cast<float>(rng.NextUniform() * 8.0);
  SamplingParams params;
  params.temperature = 1.0f;
  params.top_p = 0.5f;
  params.seed = 21;
  Sampler sampler = Make(params, vocab);
  const std::vector<bool> keep = TopPSet(Softmax(logits, 1.0), 0.5);
  const long expected_size = std::count(keep.begin(), keep.end(), true);
  CHECK(expected_size > 64 * 4);  // more than two rounds of widening
  std::set<int> drawn;
  for (int i = 0; i < 4000; ++i) {
    const int token = sampler.Sample(logits.data(), {});
    CHECK(keep[token]);
    drawn.insert(token);
  }
  CHECK(static_cast<long>(drawn.size()) > expected_size * 9 / 10);
}

TEST(SamplerRepetitionPenalty) {
  SamplingParams params;
  params.repetition_penalty = 2.0f;
  Sampler sampler = Make(params);
  // 7 (logit 3.0 -> 1.5) and 1 (2.5 -> 1.25) are penalized; 3 (2.0) wins.
  CHECK_EQ(sampler.Sample(kLogits.data(), {7, 1, 7}), 3);
  // A negative logit is multiplied (pushed further down), not divided.
  const std::vector<float> negative = {-1.0f, -1.5f};
  Sampler small = Make(params, 2);
  CHECK_EQ(small.Sample(negative.data(), {0}), 1);
  // The penalty does not leak into the next call.
  CHECK_EQ(sampler.Sample(kLogits.data(), {}), 7);
  // Out-of-range history entries are ignored.
  CHECK_EQ(sampler.Sample(kLogits.data(), {-5, 1000}), 7);
}

TEST(SamplerIsDeterministicPerSeed) {
  SamplingParams params;
  params.temperature = 1.0f;
  params.seed = 42;
  Sampler a = Make(params), b = Make(params);
  params.seed = 43;
  Sampler c = Make(params);
  std::vector<int> xs, ys, zs;
  for (int i = 0; i < 200; ++i) {
    xs.push_back(a.Sample(kLogits.data(), {}));
    ys.push_back(b.Sample(kLogits.data(), {}));
    zs.push_back(c.Sample(kLogits.data(), {}));
  }
  CHECK(xs == ys);
  CHECK(xs != zs);
}

TEST(SamplerRejectsInvalidParams) {
  auto with = [](auto mutate) {
    SamplingParams params;
    mutate(params);
    return Sampler::Create(params, 8);
  };
  CHECK_ERROR(with([](SamplingParams& p) { p.temperature = -0.1f; }), ErrorCode::kInvalidArgument,
              "temperature");
  CHECK_ERROR(with([](SamplingParams& p) { p.temperature = NAN; }), ErrorCode::kInvalidArgument,
              "temperature");
  CHECK_ERROR(with([](SamplingParams& p) { p.top_k = -1; }), ErrorCode::kInvalidArgument, "top_k");
  CHECK_ERROR(with([](SamplingParams& p) { p.top_p = 0.0f; }), ErrorCode::kInvalidArgument,
              "top_p");
  CHECK_ERROR(with([](SamplingParams& p) { p.top_p = 1.5f; }), ErrorCode::kInvalidArgument,
              "top_p");
  CHECK_ERROR(with([](SamplingParams& p) { p.min_p = 1.0f; }), ErrorCode::kInvalidArgument,
              "min_p");
  CHECK_ERROR(with([](SamplingParams& p) { p.repetition_penalty = 0.0f; }),
              ErrorCode::kInvalidArgument, "repetition_penalty");
  CHECK_ERROR(Sampler::Create({}, 0), ErrorCode::kInvalidArgument, "vocab_size");
}

}  // namespace
}  // namespace litegen
