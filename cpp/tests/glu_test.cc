// Unit tests of the gated activation kernel (cpp/ops/glu): each activation's float32
// approximation against the exact formula evaluated in double, row and tail handling, and
// the IEEE special values (torch's results).
#include <algorithm>
#include <cfloat>
#include <cmath>
#include <cstdio>
#include <limits>
#include <random>
#include <string>
#include <vector>

#include "ops/glu.h"
#include "test_framework.h"

namespace litegen {
namespace {

using ops::Glu;
using ops::GluActivation;

constexpr GluActivation kActivations[] = {GluActivation::kSilu, GluActivation::kGelu,
                                           GluActivation::kGeluTanh, GluActivation::kRelu};
constexpr float kInf = std::numeric_limits<float>::infinity();
constexpr float kNan = std::numeric_limits<float>::quiet_NaN();

const char* Name(GluActivation act) { return ops::GluActivationName(static_cast<int32_t>(act)); }

// The activation's defining formula in double (PyTorch's definitions).
double Reference(GluActivation act, double x) {
  switch (act) {
    case GluActivation::kSilu:
      return x / (1.0 + std::exp(-x));
    case GluActivation::kGelu:
      return 0.5 * x * (1.0 + std::erf(x / std::sqrt(2.0)));
    case GluActivation::kGeluTanh: {
      const double u = std::sqrt(2.0 / std::acos(-1.0)) * (x + 0.044715 * x * x * x);
      return 0.5 * x * (1.0 + std::tanh(u));
    }
    case GluActivation::kRelu:
      return x > 0.0 ? x : 0.0;
  }
  return std::nan("");
}

// act(x) for each x, through Glu with one row and gates of 1.
std::vector<float> Activate(GluActivation act, const std::vector<float>& x) {
  const int64_t f = static_cast<int64_t>(x.size());
  std::vector<float> in(x);
  in.resize(2 * f, 1.0f);
  std::vector<float> out(f);
  Glu(in.data(), 1, f, act, out.data());
  return out;
}

// Finite inputs whose result is finite: beyond the sweep, around exp's saturation points
// and out to FLT_MAX (in both signs).
std::vector<float> LargeInputs() {
  std::vector<float> values;
  for (float v : {30.5f, 40.0f, 43.6f, 50.0f, 86.9f, 87.5f, 87.7f, 88.0f, 88.4f, 88.8f, 89.0f,
                  89.5f, 100.0f, 177.0f, 1e3f, 1e5f, 1e10f, 1e13f, 1e20f, 1e30f, FLT_MAX}) {
    values.push_back(v);
    values.push_back(-v);
  }
  return values;
}

TEST(GluActivationsMatchDoublePrecisionOnDenseSweep) {
  // 200001 evenly spaced values in [-30, 30] plus large and tiny ones.
  constexpr int kSteps = 200000;
  std::vector<float> x;
  for (int i = 0; i <= kSteps; ++i) x.push_back(-30.0f + 60.0f * static_cast<float>(i) / kSteps);
  for (float v : LargeInputs()) x.push_back(v);
  for (float v : {1e-3f, 1e-7f, 1e-20f, FLT_MIN, 1e-40f, FLT_TRUE_MIN}) {
    x.push_back(v);
    x.push_back(-v);
  }
  for (GluActivation act : kActivations) {
    const std::vector<float> y = Activate(act, x);
    // Tolerance: 2e-6 relative, or 1e-7 absolute near 0.
    double worst = 0.0;
    size_t worst_at = 0;
    for (size_t i = 0; i < x.size(); ++i) {
      const double want = Reference(act, x[i]);
      const double error = std::fabs(y[i] - want);
      const double tolerance = std::max(2e-6 * std::fabs(want), 1e-7);
      const double ratio = std::isnan(error) ? kInf : error / tolerance;
      if (ratio > worst) {
        worst = ratio;
        worst_at = i;
      }
    }
    const double want = Reference(act, x[worst_at]);
    CHECK_NEAR(y[worst_at], want, std::max(2e-6 * std::fabs(want), 1e-7));
    std::fprintf(stderr, "  %s: worst error %.2f of the tolerance, at x = %.7g\n", Name(act),
                 worst, x[worst_at]);
  }
}

TEST(GluActivationsKeepRelativeAccuracyForTinyInputs) {
  // Near 0 the sweep's absolute tolerance says little: here act(x) ~ x / 2 (x for relu)
  // must hold to 2e-6 relative, down to denormals (within one denormal step).
  std::vector<float> x;
  for (float v : {1e-2f, 1e-4f, 1e-10f, 1e-30f, FLT_MIN, 1e-40f, 1e-44f, FLT_TRUE_MIN}) {
    x.push_back(v);
    x.push_back(-v);
  }
  for (GluActivation act : kActivations) {
    const std::vector<float> y = Activate(act, x);
    for (size_t i = 0; i < x.size(); ++i) {
      const double want = Reference(act, x[i]);
      CHECK_NEAR(y[i], want, 2e-6 * std::fabs(want) + FLT_TRUE_MIN);
      if (want != 0.0) CHECK_EQ(std::signbit(y[i]), std::signbit(want));
    }
  }
}

TEST(GluActivationsKeepRelativeAccuracyInTheNegativeTail) {
  // Where act(x) is small but not tiny, forms like 1 + erf(z) or 1 + tanh(u) lose it to
  // cancellation while staying within the sweep's absolute tolerance. What remains is the
  // rounding of the argument (z^2, u), ~x^2 * 1e-7 relative.
  std::vector<float> x;
  for (int i = 0; i <= 50000; ++i) x.push_back(-6.0f + 5.0f * static_cast<float>(i) / 50000);
  for (GluActivation act : kActivations) {
    if (act == GluActivation::kRelu) continue;
    const std::vector<float> y = Activate(act, x);
    int bad = 0;
    for (size_t i = 0; i < x.size(); ++i) {
      const double want = Reference(act, x[i]);
      if (!(std::fabs(y[i] - want) <= 1e-5 * std::fabs(want)) && bad++ < 3) {
        CHECK_NEAR(y[i], want, 1e-5 * std::fabs(want));
      }
    }
    CHECK_EQ(bad, 0);
  }
}

TEST(GluActivationsGiveTheLimitsForLargeInputs) {
  const std::vector<float> x = LargeInputs();
  for (GluActivation act : kActivations) {
    const std::vector<float> y = Activate(act, x);
    for (size_t i = 0; i < x.size(); ++i) {
      if (x[i] >= 100.0f) {
        CHECK_EQ(y[i], x[i]);
      } else if (x[i] <= -100.0f) {
        CHECK(y[i] <= 0.0f && y[i] > -1e-30f);
      }
    }
  }
}

TEST(GluActivationsFollowTorchOnSpecialValues) {
  const std::vector<float> x = {kInf, -kInf, kNan, -kNan, 0.0f, -0.0f};
  struct Expected {
    GluActivation act;
    float at_inf;
    float at_minus_inf;  // NaN: -inf * 0 for the smooth ones, as in torch
  };
  for (const Expected& e : {Expected{GluActivation::kSilu, kInf, kNan},
                            Expected{GluActivation::kGelu, kInf, kNan},
                            Expected{GluActivation::kGeluTanh, kInf, kNan},
                            Expected{GluActivation::kRelu, kInf, 0.0f}}) {
    const std::vector<float> y = Activate(e.act, x);
    CHECK_EQ(y[0], e.at_inf);
    if (std::isnan(e.at_minus_inf)) {
      CHECK(std::isnan(y[1]));
    } else {
      CHECK_EQ(y[1], e.at_minus_inf);
    }
    CHECK(std::isnan(y[2]));
    CHECK(std::isnan(y[3]));
    // +-0 map to themselves, sign included (torch.relu(-0.) is -0. too).
    CHECK(y[4] == 0.0f && !std::signbit(y[4]));
    CHECK(y[5] == 0.0f && std::signbit(y[5]));
  }
}

TEST(GluGatesEveryRowWithTheSecondHalf) {
  std::mt19937 rng(7);
  std::normal_distribution<float> normal(0.0f, 4.0f);
  std::uniform_real_distribution<float> uniform(-2.0f, 2.0f);
  constexpr float kGuard = 12345.0f;
  for (int64_t rows : {1, 3}) {
    // Tails of every length around the 16-float chunks, and a real FFN width.
    for (int64_t f : {1, 5, 15, 16, 17, 37, 64, 5632}) {
      std::vector<float> x(rows * 2 * f);
      for (int64_t r = 0; r < rows; ++r) {
        for (int64_t i = 0; i < f; ++i) {
          x[r * 2 * f + i] = normal(rng);
          x[r * 2 * f + f + i] = uniform(rng);
        }
      }
      for (GluActivation act : kActivations) {
        std::vector<float> y(rows * f + 1, kGuard);
        Glu(x.data(), rows, f, act, y.data());
        int bad = 0;
        for (int64_t r = 0; r < rows; ++r) {
          for (int64_t i = 0; i < f; ++i) {
            const double gate = x[r * 2 * f + f + i];
            const double want = Reference(act, x[r * 2 * f + i]) * gate;
            const double tolerance = std::max(2e-6 * std::fabs(want), 1e-7 * std::fabs(gate));
            if (!(std::fabs(y[r * f + i] - want) <= tolerance) && bad++ < 3) {
              CHECK_NEAR(y[r * f + i], want, tolerance);
            }
          }
        }
        CHECK_EQ(bad, 0);
        CHECK_EQ(y[rows * f], kGuard);  // nothing written past the output
      }
    }
  }
}

TEST(GluActivationNameCoversEveryCode) {
  CHECK_EQ(std::string(ops::GluActivationName(0)), "silu");
  CHECK_EQ(std::string(ops::GluActivationName(1)), "gelu");
  CHECK_EQ(std::string(ops::GluActivationName(2)), "gelu_tanh");
  CHECK_EQ(std::string(ops::GluActivationName(3)), "relu");
  CHECK(ops::GluActivationName(-1) == nullptr);
  CHECK(ops::GluActivationName(4) == nullptr);
  CHECK(ops::GluActivationName(1 << 30) == nullptr);
}

}  // namespace
}  // namespace litegen
