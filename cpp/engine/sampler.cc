#include "engine/sampler.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>

namespace litegen {
namespace {

// Top-p without sorting the whole vocabulary: look at the best `n` tokens and grow `n`
// until their mass reaches top_p (almost always within the first few hundred).
constexpr size_t kInitialCandidates = 64;

}  // namespace

Status ValidateSamplingParams(const SamplingParams& p) {
  auto invalid = [](const std::string& message) {
    return Status(ErrorCode::kInvalidArgument, message);
  };
  if (!(p.temperature >= 0.0f) || !std::isfinite(p.temperature)) {
    return invalid("temperature must be a finite number >= 0, got " +
                   std::to_string(p.temperature));
  }
  if (p.top_k < 0) return invalid("top_k must be >= 0 (0 disables it), got " +
                                  std::to_string(p.top_k));
  if (!(p.top_p > 0.0f && p.top_p <= 1.0f)) {
    return invalid("top_p must be in (0, 1], got " + std::to_string(p.top_p));
  }
  if (!(p.min_p >= 0.0f && p.min_p < 1.0f)) {
    return invalid("min_p must be in [0, 1), got " + std::to_string(p.min_p));
  }
  if (!(p.repetition_penalty > 0.0f) || !std::isfinite(p.repetition_penalty)) {
    return invalid("repetition_penalty must be a finite number > 0, got " +
                   std::to_string(p.repetition_penalty));
  }
  return Status::Ok();
}

uint64_t Rng::NextU64() {
  uint64_t z = (state_ += 0x9E3779B97F4A7C15ull);
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  return z ^ (z >> 31);
}

Sampler::Sampler(const SamplingParams& params, int vocab_size)
    : params_(params), vocab_size_(vocab_size), rng_(params.seed) {
  logits_.resize(vocab_size);
  seen_.assign(vocab_size, 0);
}

Expected<Sampler> Sampler::Create(const SamplingParams& params, int vocab_size) {
  LITEGEN_RETURN_IF_ERROR(ValidateSamplingParams(params));
  if (vocab_size < 1) {
    return Status(ErrorCode::kInvalidArgument,
                  "vocab_size must be >= 1, got " + std::to_string(vocab_size));
  }
  return Sampler(params, vocab_size);
}

void Sampler::ApplyRepetitionPenalty(const std::vector<int>& history) {
  if (params_.repetition_penalty == 1.0f) return;
  const float penalty = params_.repetition_penalty;
  for (int token : history) {
    if (token < 0 || token >= vocab_size_ || seen_[token]) continue;
    seen_[token] = 1;
    float& logit = logits_[token];
    logit = logit > 0 ? logit / penalty : logit * penalty;
  }
  for (int token : history) {
    if (token >= 0 && token < vocab_size_) seen_[token] = 0;
  }
}

void Sampler::SelectCandidates() {
  const size_t vocab = static_cast<size_t>(vocab_size_);
  const size_t k = params_.top_k > 0 ? std::min<size_t>(params_.top_k, vocab) : vocab;
  const float max_logit = *std::max_element(logits_.begin(), logits_.end());
  const double inv_t = 1.0 / params_.temperature;

  // Total softmax mass over the top-k set (the whole vocabulary when k is off) is the
  // normalizer for top-p, as in HF where top-p sees the top-k-filtered distribution.
  auto by_logit = [this](int a, int b) {
    return logits_[a] > logits_[b] || (logits_[a] == logits_[b] && a < b);
  };
  candidates_.resize(vocab);
  for (size_t i = 0; i < vocab; ++i) candidates_[i] = static_cast<int>(i);
  if (k < vocab) {
    std::nth_element(candidates_.begin(), candidates_.begin() + k, candidates_.end(), by_logit);
    candidates_.resize(k);
  }
  double total = 0.0;
  for (int token : candidates_) total += std::exp((logits_[token] - max_logit) * inv_t);

  if (params_.top_p < 1.0f) {
    // Sort only as many of the best candidates as the top-p mass needs.
    size_t sorted = std::min(candidates_.size(), kInitialCandidates);
    size_t keep = 0;
    while (keep == 0) {
      std::partial_sort(candidates_.begin(), candidates_.begin() + sorted, candidates_.end(),
                        by_logit);
      double mass = 0.0;
      for (size_t i = 0; i < sorted && keep == 0; ++i) {
        mass += std::exp((logits_[candidates_[i]] - max_logit) * inv_t) / total;
        if (mass >= params_.top_p) keep = i + 1;
      }
      if (keep == 0 && sorted == candidates_.size()) keep = sorted;  // rounding: keep all
      sorted = std::min(candidates_.size(), sorted * 4);
    }
    candidates_.resize(keep);
  }

  probs_.resize(candidates_.size());
  double kept_mass = 0.0;
  for (size_t i = 0; i < candidates_.size(); ++i) {
    probs_[i] = std::exp((logits_[candidates_[i]] - max_logit) * inv_t);
    kept_mass += probs_[i];
  }
  if (params_.min_p > 0.0f) {
    // Candidates are unsorted when top-p is off, so filter by value, not by prefix.
    const double p_max = *std::max_element(probs_.begin(), probs_.end());
    const double threshold = params_.min_p * p_max;
    size_t out = 0;
    kept_mass = 0.0;
    for (size_t i = 0; i < candidates_.size(); ++i) {
      if (probs_[i] < threshold) continue;
      candidates_[out] = candidates_[i];
      probs_[out] = probs_[i];
      kept_mass += probs_[i];
      ++out;
    }
    candidates_.resize(out);
    probs_.resize(out);
  }
  for (double& p : probs_) p /= kept_mass;
}

int Sampler::Sample(const float* logits, const std::vector<int>& history) {
  std::memcpy(logits_.data(), logits, logits_.size() * sizeof(float));
  ApplyRepetitionPenalty(history);
  if (params_.temperature == 0.0f) {
    // Greedy; the first maximum wins, as in argmax.
    return static_cast<int>(std::max_element(logits_.begin(), logits_.end()) - logits_.begin());
  }
  SelectCandidates();
  const double u = rng_.NextUniform();
  double cumulative = 0.0;
  for (size_t i = 0; i < candidates_.size(); ++i) {
    cumulative += probs_[i];
    if (u < cumulative) return candidates_[i];
  }
  return candidates_.back();  // rounding left u above the last cumulative sum
}

}  // namespace litegen
